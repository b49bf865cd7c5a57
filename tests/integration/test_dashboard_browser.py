"""The dashboard in a real headless Chromium, driven over the DevTools protocol.

Real Redis, the real `traffic-dashboard` process: the page shows what Redis holds, an alert
written and published to Redis appears within 2 s (escaped), and after the server restarts
the page reconnects and catches up from Redis. A screenshot is kept in test-artifacts/.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import cv2
import numpy as np
import pytest
import redis

from contract import redis_keys, sha256_hex
from stack.paths import REPO

pytestmark = pytest.mark.integration

ARTIFACTS = REPO / "test-artifacts"
TOKEN = "test-token-" + uuid.uuid4().hex[:8]
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync",
                  "--window-size=1280,1000", "--remote-debugging-port=0"]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


class Chromium:
    """A headless Chromium with a fresh profile and one page, spoken to over CDP."""

    def __init__(self, profile: Path) -> None:
        binary = shutil.which("chromium") or shutil.which("chromium-browser")
        if binary is None:
            pytest.fail("chromium is not installed (./dev setup installs Debian's chromium)")
        self.proc = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        self.profile = profile
        self.next_id = 0
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def connect(self, session: aiohttp.ClientSession) -> None:
        port_file = self.profile / "DevToolsActivePort"
        for _ in range(200):
            if port_file.exists() and port_file.read_text().strip():
                break
            await asyncio.sleep(0.1)
        port = port_file.read_text().split()[0]
        async with session.get(f"http://127.0.0.1:{port}/json/list") as response:
            pages = [t for t in await response.json() if t["type"] == "page"]
        self.ws = await session.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        assert self.ws is not None
        self.next_id += 1
        await self.ws.send_json({"id": self.next_id, "method": method, "params": params})
        while True:  # events are not needed: skip them
            message = json.loads((await self.ws.receive(timeout=30)).data)
            if message.get("id") == self.next_id:
                assert "error" not in message, message["error"]
                result: dict[str, Any] = message["result"]
                return result

    async def js(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    async def wait_js(self, expression: str, timeout_s: float, what: str) -> float:
        """Seconds until ``expression`` is truthy on the page."""
        start = time.monotonic()
        while time.monotonic() - start < timeout_s:
            if await self.js(expression):
                return time.monotonic() - start
            await asyncio.sleep(0.05)
        raise AssertionError(f"page never showed {what} within {timeout_s} s")

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, 15)
        self.proc.wait(10)


def start_dashboard(port: int, redis_url: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "dashboard.server", "--port", str(port), "--redis-url", redis_url],
        env={**os.environ, "TRAFFIC_DASHBOARD_TOKEN": TOKEN}, cwd=REPO,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/?token={TOKEN}", timeout=1).close()
            return proc
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("dashboard did not start")


def stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(5)


def stats_json(camera: str, start_ms: int, vehicles: int) -> str:
    return json.dumps({
        "schema_version": 1, "camera_id": camera, "window_start_ms": start_ms,
        "window_end_ms": start_ms + 60_000, "frames": 60, "objects": vehicles, "vehicles": vehicles,
        "pedestrians": 1, "distinct_tracks": 3, "mean_vehicles_per_frame": vehicles / 60,
        "peak_vehicles_per_frame": 4, "congestion_index": min(1.0, vehicles / 100),
    })  # fmt: skip


def alert_json(alert_id: str, camera: str, at_ms: int, description: str) -> str:
    return json.dumps({
        "schema_version": 1, "alert_id": alert_id, "pattern": "red_light_runs_3_in_60s",
        "camera_id": camera, "severity": "critical", "start_ms": at_ms - 30_000, "end_ms": at_ms,
        "track_ids": [1, 2, 3], "description": description,
    })  # fmt: skip


def seed(client: redis.Redis, camera: str, run: str, now: int) -> tuple[str, str]:
    """A camera with three windows, a verdict with a real JPEG crop, a key-pool entry."""
    for i, vehicles in enumerate((12, 30, 21)):
        start = now - (4 - i) * 60_000
        client.zadd(redis_keys.stats_series(camera), {stats_json(camera, start, vehicles): start})
        client.set(redis_keys.stats_latest(camera), stats_json(camera, start, vehicles))
    client.zadd(redis_keys.CAMERAS_ACTIVE, {camera: now - 60_000})  # the newest window's end
    image = np.zeros((48, 64, 3), np.uint8)
    image[:, :32] = (0, 0, 255)
    jpeg = cv2.imencode(".jpg", image)[1].tobytes()
    sha = sha256_hex(jpeg)
    client.set(redis_keys.crop(sha), jpeg, ex=600)
    verdict = {
        "schema_version": 1, "camera_id": camera, "frame_id": 7, "group_id": "g0",
        "captured_at_ms": now, "crop_sha256": sha, "risk_level": "high",
        "risk_types": ["near_miss"], "reason": "pedestrian close to a turning car",
        "confidence": 0.8, "source": "llm", "key_id": f"key-{run}",
    }  # fmt: skip
    client.zadd(redis_keys.RISK_RECENT, {json.dumps(verdict): now})
    health = {"healthy": True, "in_flight": 1, "api_key": "sk-MUST-NOT-SHOW"}
    client.hset(redis_keys.KEYPOOL_HEALTH, f"key-{run}", json.dumps(health))
    return sha, json.dumps(verdict)


def cleanup(client: redis.Redis, camera: str, run: str, sha: str,
            members: dict[str, list[str]]) -> None:  # fmt: skip
    client.delete(redis_keys.stats_series(camera), redis_keys.stats_latest(camera),
                  redis_keys.crop(sha))  # fmt: skip
    client.zrem(redis_keys.CAMERAS_ACTIVE, camera)
    client.hdel(redis_keys.KEYPOOL_HEALTH, f"key-{run}")
    for key, values in members.items():
        if values:
            client.zrem(key, *values)


def test_page_shows_redis_live_within_2s_and_catches_up_after_reconnect(redis_url):
    client = redis.Redis.from_url(redis_url)
    run = uuid.uuid4().hex[:6]
    camera, now = f"dash-{run}", int(time.time() * 1000)
    sha, verdict = seed(client, camera, run, now)
    alerts: list[str] = []
    port = free_port()
    servers = [start_dashboard(port, redis_url)]
    for path in ("/", "/ws", f"/crop/{sha}"):  # the token guards the page and the data
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2)
        assert refused.value.code == 401
    try:
        with tempfile.TemporaryDirectory() as profile:
            browser = Chromium(Path(profile))
            try:
                asyncio.run(drive(browser, client, servers, port, redis_url, camera, run, now,
                                  alerts))  # fmt: skip
            finally:
                browser.close()
    finally:
        for server in servers:
            stop(server)
        cleanup(client, camera, run, sha,
                {redis_keys.RISK_RECENT: [verdict], redis_keys.ALERTS_RECENT: alerts})  # fmt: skip


def publish_alert(client: redis.Redis, alert: str, at_ms: int) -> None:
    client.zadd(redis_keys.ALERTS_RECENT, {alert: at_ms})
    client.publish(redis_keys.CHANNEL_ALERTS, alert)


async def drive(browser: Chromium, client: redis.Redis, servers: list[subprocess.Popen[bytes]],
                port: int, redis_url: str, camera: str, run: str, now: int,
                alerts: list[str]) -> None:  # fmt: skip
    async with aiohttp.ClientSession() as session:
        await browser.connect(session)
        await browser.send("Page.navigate", url=f"http://127.0.0.1:{port}/?token={TOKEN}")
        await browser.wait_js("document.getElementById('status')?.dataset.state === 'live'", 20,
                              "a live connection")  # fmt: skip
        # The snapshot: camera chart, verdict with its crop decoded, key pool without secrets.
        cam = f"document.querySelector('[data-camera-id=\"{camera}\"]')"
        await browser.wait_js(f"{cam}?.querySelectorAll('svg rect').length === 3", 5, "the chart")
        await browser.wait_js(
            f"document.querySelector('[data-risk-id=\"{camera}/7/g0\"] img')?.naturalWidth === 64",
            5, "the crop thumbnail")  # fmt: skip
        assert await browser.js(f"!!document.querySelector('[data-key-id=\"key-{run}\"]')")
        assert "MUST-NOT-SHOW" not in await browser.js("document.body.innerText")

        # Live: an alert written to Redis and published appears within 2 s, as text.
        alert_id = f"alert-{run}"
        alerts.append(alert_json(alert_id, camera, now, XSS))
        publish_alert(client, alerts[-1], now)
        item = f"document.querySelector('[data-alert-id=\"{alert_id}\"]')"
        elapsed = await browser.wait_js(f"!!{item}", 2.0, "the published alert")
        assert elapsed < 2.0
        assert await browser.js(f"{item}.querySelector('.description').textContent") == XSS
        assert await browser.js(f"{item}.querySelectorAll('img, script').length") == 0
        await asyncio.sleep(0.3)  # an injected onerror would have fired by now
        assert await browser.js("window.__xss === undefined")

        # A new window on live:stats extends the chart.
        client.publish(redis_keys.CHANNEL_STATS, stats_json(camera, now - 60_000, 40))
        await browser.wait_js(f"{cam}.querySelectorAll('svg rect').length === 4", 2, "new window")

        # More cameras report live than the page holds: it keeps the 100 with the newest windows.
        newer = [f"dash-{run}-x{n:03}" for n in range(100)]
        for other in newer:
            client.publish(redis_keys.CHANNEL_STATS, stats_json(other, now, 5))
        cards = "[...document.querySelectorAll('[data-camera-id]')].map(e => e.dataset.cameraId)"
        await browser.wait_js(f"{cards}.includes('{newer[-1]}')", 5, "the 100th new camera")
        assert await browser.js(cards) == newer  # the older camera made room

        # Reconnect: the server goes away, an alert lands in Redis meanwhile, the page
        # reconnects to the restarted server and catches up from Redis.
        stop(servers[0])
        await browser.wait_js("document.getElementById('status').dataset.state === 'reconnecting'",
                              10, "the lost connection")  # fmt: skip
        missed_id = f"missed-{run}"
        alerts.append(alert_json(missed_id, camera, now + 1, "written while the server was down"))
        publish_alert(client, alerts[-1], now + 1)  # nobody hears this one
        servers.append(start_dashboard(port, redis_url))
        await browser.wait_js(f"!!document.querySelector('[data-alert-id=\"{missed_id}\"]')", 10,
                              "the alert missed while disconnected")  # fmt: skip
        assert await browser.js("document.getElementById('status').dataset.snapshots") == "2"
        assert await browser.js(f"!!{item}")  # the earlier one is in the snapshot too
        shot = await browser.send("Page.captureScreenshot", format="png")
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "dashboard.png").write_bytes(base64.b64decode(shot["data"]))
