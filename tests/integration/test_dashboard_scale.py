"""The dashboard with 1,000 cameras reporting, measured in a real headless Chromium.

Time from navigation to the first page of the camera grid drawn, then a burst of 5,000 live
windows (5 per camera): how long until the page holds them all, the browser's long tasks
(PerformanceObserver "longtask", main thread busy > 50 ms) and frames dropped (gaps between
animation frames beyond one 60 Hz frame). The figures are printed (`pytest -s`).
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis

from contract import redis_keys
from tests.integration.chromium import Chromium, free_port, start_dashboard, stop
from tests.integration.test_dashboard_browser import stats_json

pytestmark = pytest.mark.integration

CAMERAS = 1000
WINDOWS = 30  # per camera in Redis: every sparkline full
ROUNDS = 5  # live windows per camera in the burst
TOKEN = "scale-" + uuid.uuid4().hex[:8]
PERF_PROBE = """
window.__perf = {longTasks: [], dropped: 0, frames: 0};
new PerformanceObserver((list) => list.getEntries()
  .forEach((e) => window.__perf.longTasks.push(e.duration)))
  .observe({type: "longtask", buffered: true});
(function tick(last) {
  requestAnimationFrame((t) => {
    if (last !== null) window.__perf.dropped += Math.max(0, Math.round((t - last) / 16.67) - 1);
    window.__perf.frames += 1;
    tick(t);
  });
})(null);
"""


def seed(client: redis.Redis, names: list[str], now: int) -> None:
    pipe = client.pipeline(transaction=False)
    for name in names:
        for i in range(WINDOWS):
            start = now - (WINDOWS + ROUNDS - i) * 60_000
            pipe.zadd(redis_keys.stats_series(name), {stats_json(name, start, i % 17): start})
        pipe.set(redis_keys.stats_latest(name), stats_json(name, start, 3), ex=3600)
        pipe.zadd(redis_keys.CAMERAS_ACTIVE, {name: start + 60_000})
    pipe.execute()


def test_a_thousand_cameras_render_and_stay_live(redis_url):
    client = redis.Redis.from_url(redis_url)
    run = uuid.uuid4().hex[:6]
    names = [f"scale-{run}-{n:04}" for n in range(CAMERAS)]
    now = int(time.time() * 1000)
    seed(client, names, now)
    port = free_port()
    server = start_dashboard(port, redis_url, TOKEN)
    try:
        with tempfile.TemporaryDirectory() as profile:
            browser = Chromium(Path(profile))
            try:
                figures = asyncio.run(measure(browser, client, port, names, now))
            finally:
                browser.close()
    finally:
        stop(server)
        client.zrem(redis_keys.CAMERAS_ACTIVE, *names)
        client.delete(*(redis_keys.stats_series(n) for n in names),
                      *(redis_keys.stats_latest(n) for n in names))  # fmt: skip
    figures["load_avg_1m"] = round(os.getloadavg()[0], 1)  # the machine is shared: say how busy
    print(f"\n1,000 cameras: {json.dumps(figures)}")
    # Bounds a usable page meets even on 2 busy shared cores; the printed figures are the
    # measurement.
    assert figures["first_render_s"] < 15
    assert figures["burst_applied_s"] < 15
    assert figures["longest_task_ms"] < 5000


async def measure(browser: Chromium, client: redis.Redis, port: int, names: list[str],
                  now: int) -> dict[str, Any]:  # fmt: skip
    async with aiohttp.ClientSession() as session:
        await browser.connect(session)
        await browser.viewport(1366, 768)
        await browser.send("Page.enable")
        await browser.send("Page.addScriptToEvaluateOnNewDocument", source=PERF_PROBE)
        started = time.monotonic()
        await browser.send("Page.navigate", url=f"http://127.0.0.1:{port}/?token={TOKEN}")
        await browser.wait_js(
            "document.getElementById('camera-count')?.textContent === '1000' && "
            "document.querySelectorAll('#cameras [data-camera-id]').length === 24", 30,
            "the first page of 1,000 cameras")  # fmt: skip
        first_render = time.monotonic() - started
        assert await browser.overflow_px() <= 0
        assert "of 42 (1000 cameras)" in await browser.js("document.getElementById('page-info')"
                                                          ".textContent")  # fmt: skip
        load = await browser.js("[window.__perf.longTasks.length, "
                                "Math.max(0, ...window.__perf.longTasks)]")  # fmt: skip
        idle = await counted(browser, 1.5)  # headless Chromium's own frame gaps, for comparison
        await browser.js(RESET)
        burst_started = time.monotonic()
        last_start = publish_burst(client, names, now)
        every = f"(c) => c.latest.window_start_ms === {last_start}"
        await browser.wait_js(f"[...trafficDashboard.state.cameras.values()].every({every})", 30,
                              "every live window")  # fmt: skip
        applied = time.monotonic() - burst_started
        await asyncio.sleep(0.5)  # frames after the last message count too
        perf = await browser.js("window.__perf")
        steady = await steady_load(browser, client, names, now)
        search = "document.getElementById('filter')"
        await browser.js(f"{search}.value = {json.dumps(names[-1])};"
                         f"{search}.dispatchEvent(new Event('input'))")  # fmt: skip
        shown = "document.querySelectorAll('#cameras [data-camera-id]').length"
        await browser.wait_js(f"{shown} === 1", 2, "the camera searched for")
    return {
        "first_render_s": round(first_render, 2),
        "load_long_tasks": load[0], "load_longest_task_ms": round(load[1]),
        "burst_messages": len(names) * ROUNDS, "burst_applied_s": round(applied, 2),
        "burst_long_tasks": len(perf["longTasks"]),
        "longest_task_ms": round(max(perf["longTasks"], default=0)),
        "long_task_total_ms": round(sum(perf["longTasks"])),
        "frames": perf["frames"], "frames_dropped": perf["dropped"],
        "idle_frames": idle["frames"], "idle_frames_dropped": idle["dropped"], **steady,
    }  # fmt: skip


RESET = "window.__perf.longTasks = []; window.__perf.dropped = 0; window.__perf.frames = 0"


async def counted(browser: Chromium, seconds: float) -> dict[str, Any]:
    """Frames and dropped frames over a quiet period."""
    await browser.js(RESET)
    await asyncio.sleep(seconds)
    perf: dict[str, Any] = await browser.js("window.__perf")
    return perf


def publish_burst(client: redis.Redis, names: list[str], now: int) -> int:
    """ROUNDS new windows per camera on the live channel, as fast as Redis takes them."""
    start = now
    for r in range(ROUNDS):
        start = now - (ROUNDS - r) * 60_000
        pipe = client.pipeline(transaction=False)
        for name in names:
            pipe.publish(redis_keys.CHANNEL_STATS, stats_json(name, start, r))
        pipe.execute()
    return start


async def steady_load(
    browser: Chromium, client: redis.Redis, names: list[str], now: int
) -> dict[str, Any]:
    """One new window per camera spread over 5 s (200 messages/s, 12x what 1,000 cameras
    with 60 s windows send): the frames dropped while the page keeps up."""
    await browser.js(RESET)
    for chunk in range(50):
        pipe = client.pipeline(transaction=False)
        for name in names[chunk * 20 : (chunk + 1) * 20]:
            pipe.publish(redis_keys.CHANNEL_STATS, stats_json(name, now, 7))
        pipe.execute()
        await asyncio.sleep(0.1)
    every = f"(c) => c.latest.window_start_ms === {now}"
    await browser.wait_js(f"[...trafficDashboard.state.cameras.values()].every({every})", 10,
                          "the steady windows")  # fmt: skip
    perf = await browser.js("window.__perf")
    return {"steady_frames": perf["frames"], "steady_frames_dropped": perf["dropped"],
            "steady_long_tasks": len(perf["longTasks"])}  # fmt: skip
