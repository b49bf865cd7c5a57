"""The dashboard in a real headless Chromium, driven over the DevTools protocol.

Real Redis, real Kafka, the real `traffic-dashboard` process. The page shows open incidents
with their evidence crops (a placeholder when a crop expired), alerts grouped by camera and
pattern, human units, local times with their zone; an operator acknowledges an incident
with the keyboard and the action lands in Redis and on Kafka; the layout fits 1366x768 and
a 390x844 phone; a camera's page shows its last hour; live messages arrive within 2 s,
escaped; after a server restart the page catches up. Screenshots: docs/img/.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import cv2
import numpy as np
import pytest
import redis
from confluent_kafka import Consumer, TopicPartition

from contract import IncidentAction, parse, redis_keys, sha256_hex, topics
from dashboard import units
from stack.paths import REPO
from tests.integration.chromium import Chromium, free_port, start_dashboard, stop
from tests.redis_io import replies

pytestmark = pytest.mark.integration

SCREENSHOTS = REPO / "docs" / "img"
TOKEN = "test-token-" + uuid.uuid4().hex[:8]
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
ZONE = "America/New_York"  # the operator's zone, not the machine's


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


DESCRIPTION = "people and turning cars within 1 m at the crosswalk"


def incident_json(incident_id: str, camera: str, at_ms: int, sha: str, severity: str,
                  description: str = DESCRIPTION) -> str:  # fmt: skip
    evidence = {"camera_id": camera, "frame_id": 7, "captured_at_ms": at_ms, "crop_sha256": sha}
    return json.dumps({
        "schema_version": 1, "incident_id": incident_id, "revision": 1, "camera_id": camera,
        "place": "crosswalk", "kind": "conflict", "severity": severity, "status": "open",
        "opened_at_ms": at_ms - 600_000, "updated_at_ms": at_ms, "alert_count": 6,
        "patterns": ["near_miss"], "evidence": [evidence], "description": description,
    })  # fmt: skip


class Seeded:
    """What one run wrote to the shared Redis, so it can all be removed again."""

    def __init__(self, client: redis.Redis, run: str, now: int) -> None:
        self.client, self.run, self.now = client, run, now
        self.camera = f"dash-{run}"
        self.keys: list[str] = []
        self.members: dict[str, list[str]] = {}
        self.hash_fields: list[str] = []

    def zadd(self, key: str, member: str, score: float) -> None:
        self.client.zadd(key, {member: score})
        self.members.setdefault(key, []).append(member)

    def set(self, key: str, value: str | bytes, ex: int = 600) -> None:
        self.client.set(key, value, ex=ex)
        self.keys.append(key)

    def incident(self, incident_id: str, sha: str, severity: str, at_ms: int,
                 description: str = DESCRIPTION) -> str:  # fmt: skip
        doc = incident_json(incident_id, self.camera, at_ms, sha, severity, description)
        self.set(redis_keys.incident(incident_id), doc)
        self.keys.append(redis_keys.incident_action(incident_id))
        for key in (redis_keys.INCIDENTS_OPEN, redis_keys.INCIDENTS_RECENT,
                    redis_keys.incidents_of_camera(self.camera)):  # fmt: skip
            self.zadd(key, incident_id, at_ms)
        return doc

    def cleanup(self) -> None:
        for key, values in self.members.items():
            self.client.zrem(key, *values)
        self.client.delete(*self.keys)
        if self.hash_fields:
            self.client.hdel(redis_keys.KEYPOOL_HEALTH, *self.hash_fields)


def jpeg(colour: tuple[int, int, int]) -> bytes:
    image = np.zeros((48, 64, 3), np.uint8)
    image[:, :32] = colour
    return bytes(cv2.imencode(".jpg", image)[1].tobytes())


def seed(s: Seeded) -> dict[str, str]:
    """A camera with three windows, a verdict and an incident with real JPEG crops, an
    incident whose crop has expired, a key cooling down with raw internals and a secret."""
    camera, now = s.camera, s.now
    for i, vehicles in enumerate((12, 30, 21)):
        start = now - (4 - i) * 60_000
        s.zadd(redis_keys.stats_series(camera), stats_json(camera, start, vehicles), start)
        s.set(redis_keys.stats_latest(camera), stats_json(camera, start, vehicles))
    s.zadd(redis_keys.CAMERAS_ACTIVE, camera, now - 60_000)  # the newest window's end
    crop, evidence = jpeg((0, 0, 255)), jpeg((255, 0, 0))
    sha, evidence_sha = sha256_hex(crop), sha256_hex(evidence)
    s.set(redis_keys.crop(sha), crop)
    s.set(redis_keys.crop(evidence_sha), evidence)
    verdict = json.dumps({
        "schema_version": 1, "camera_id": camera, "frame_id": 7, "group_id": "g0",
        "captured_at_ms": now, "crop_sha256": sha, "risk_level": "high",
        "risk_types": ["near_miss"], "reason": "pedestrian close to a turning car",
        "confidence": 0.8, "source": "llm", "key_id": f"key-{s.run}",
    })  # fmt: skip
    s.zadd(redis_keys.RISK_RECENT, verdict, now)
    s.zadd(redis_keys.risk_latest(camera), verdict, now)
    health = {"key_id": f"key-{s.run}", "tat_req_ms": 1796396361157.8848, "tat_tok_ms": 3.5,
              "cooldown_until_ms": now + 42_000, "spend_usd": 0.9743199999999856,
              "requests": 17, "api_key": "sk-MUST-NOT-SHOW"}  # fmt: skip
    s.client.hset(redis_keys.KEYPOOL_HEALTH, f"key-{s.run}", json.dumps(health))
    s.hash_fields.append(f"key-{s.run}")
    s.incident(f"inc-{s.run}", evidence_sha, "critical", now - 1_000)
    s.incident(f"old-{s.run}", "e" * 64, "warning", now - 2_000)  # crop long gone
    return {"sha": sha, "evidence_sha": evidence_sha}


def test_operator_page_incidents_actions_layout_live_and_reconnect(redis_url, kafka_bootstrap):
    client = redis.Redis.from_url(redis_url)
    run = uuid.uuid4().hex[:6]
    seeded = Seeded(client, run, int(time.time() * 1000))
    shas = seed(seeded)
    port = free_port()
    servers = [start_dashboard(port, redis_url, TOKEN, kafka_bootstrap)]
    try:
        refused_without_token(port, shas["sha"], f"inc-{run}")
        with tempfile.TemporaryDirectory() as profile:
            browser = Chromium(Path(profile))
            try:
                asyncio.run(drive(browser, seeded, servers, port, redis_url, kafka_bootstrap))
            finally:
                browser.close()
    finally:
        for server in servers:
            stop(server)
        seeded.cleanup()


def refused_without_token(port: int, sha: str, incident_id: str) -> None:
    """The token guards the page, the data and the actions."""
    base = f"http://127.0.0.1:{port}"
    for path in ("/", "/ws", f"/crop/{sha}", "/api/camera?id=x"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(base + path, timeout=2)
        assert refused.value.code == 401
    post = urllib.request.Request(f"{base}/api/incidents/{incident_id}/acknowledge", data=b"{}",
                                  headers={"Content-Type": "application/json"})  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(post, timeout=2)
    assert refused.value.code == 401


def q(selector: str) -> str:
    return f"document.querySelector({json.dumps(selector)})"


async def drive(browser: Chromium, s: Seeded, servers: list[Any], port: int, redis_url: str,
                kafka: str) -> None:  # fmt: skip
    async with aiohttp.ClientSession() as session:
        await browser.connect(session)
        await browser.viewport(1366, 768)
        await browser.send("Emulation.setTimezoneOverride", timezoneId=ZONE)
        await browser.send("Page.navigate", url=f"http://127.0.0.1:{port}/?token={TOKEN}")
        await browser.wait_js("document.getElementById('status')?.dataset.state === 'live'", 20,
                              "a live connection")  # fmt: skip
        await incidents_first(browser, s)
        await human_units(browser, s)
        await keyboard_acknowledge(browser, s, kafka)
        await layout_fits(browser, s)  # screenshots before the hostile texts below
        await live_updates(browser, s)
        await camera_page(browser, s)
        await reconnects(browser, s, servers, port, redis_url, kafka)


async def incidents_first(browser: Chromium, s: Seeded) -> None:
    """Open incidents at the top, severity as colour and text, the evidence crop decoded,
    a placeholder where the crop expired; descriptions shown as text."""
    card = f"[data-incident-id=\"inc-{s.run}\"]"
    await browser.wait_js(f"{q(card + ' img')}?.naturalWidth === 64", 5, "the evidence crop")
    badge_el = q(card + " .badge")
    badge = await browser.js(f"[{badge_el}.textContent, getComputedStyle({badge_el}).background"
                             "Color]")  # fmt: skip
    assert badge[0] == "CRITICAL" and badge[1] == "rgb(198, 40, 40)"
    old = f"[data-incident-id=\"old-{s.run}\"]"
    assert await browser.js(f"{q(old + ' .placeholder')}.textContent") == "picture expired"
    assert await browser.js(f"{q(card + ' .description')}.textContent") == DESCRIPTION
    order = await browser.js("[...document.querySelectorAll('[data-incident-id]')]"
                             ".map(e => e.dataset.incidentId)")  # fmt: skip
    assert order.index(f"inc-{s.run}") < order.index(f"old-{s.run}")  # critical first
    top = await browser.js("document.getElementById('incidents-section').getBoundingClientRect()"
                           ".top")  # fmt: skip
    assert top < 200  # the first thing under the header


async def human_units(browser: Chromium, s: Seeded) -> None:
    """Key health at a glance, cents, durations, local times with the zone; the JS
    formatters agree with dashboard/units.py."""
    row = f"[data-key-id=\"key-{s.run}\"]"
    text = await browser.js(f"{q(row)}.innerText")
    assert "cooling down" in text and "$0.97" in text, text
    body = await browser.js("document.body.innerText")
    for raw in ("MUST-NOT-SHOW", "1796396361157", "tat_req_ms", "cooldown_until_ms", "0.9743"):
        assert raw not in body, raw
    table = [None, -5, 400, 12_400, 12_500, 59_600, 65_000, 725_000, 4_200_000, 90_000_000]
    js = await browser.js(f"{json.dumps(table)}.map(trafficDashboard.fmt.duration)")
    assert js == [units.duration(ms) for ms in table]
    rates = [None, 0.25, 0.05, 9.94, 9.96, 42.5]
    assert await browser.js(f"{json.dumps(rates)}.map(trafficDashboard.fmt.rate)") == [
        units.rate(r) for r in rates]  # fmt: skip
    opened = s.now - 1_000 - 600_000
    local = datetime.fromtimestamp(opened / 1000, ZoneInfo(ZONE))
    meta_el = q(f'[data-incident-id="inc-{s.run}"] .meta')
    meta = await browser.js(f"{meta_el}.textContent")
    assert f"since {local:%H:%M:%S} {local.tzname()}" in meta, meta  # e.g. 09:58:01 EST
    assert "10 min ago" in meta
    assert ZONE in await browser.js("document.getElementById('zone').textContent")


async def keyboard_acknowledge(browser: Chromium, s: Seeded, kafka: str) -> None:
    consumer = actions_consumer(kafka, s.run)
    try:
        action = await acknowledge_with_keyboard(browser, s)
        assert_published(consumer, action)
    finally:
        consumer.close()


def actions_consumer(kafka: str, run: str) -> Consumer:
    """A consumer at the current end of `incident-actions`."""
    consumer = Consumer({"bootstrap.servers": kafka, "group.id": f"dash-{run}",
                         "enable.auto.commit": False})  # fmt: skip
    _, high = consumer.get_watermark_offsets(TopicPartition(topics.INCIDENT_ACTIONS, 0), 10)
    consumer.assign([TopicPartition(topics.INCIDENT_ACTIONS, 0, high)])
    return consumer


def assert_published(consumer: Consumer, action: IncidentAction) -> None:
    message = consumer.poll(10)
    assert message is not None and message.error() is None
    assert message.key() == action.incident_id.encode()
    assert parse(IncidentAction, message.value()) == action


async def acknowledge_with_keyboard(browser: Chromium, s: Seeded) -> IncidentAction:
    """Tab through the page: only real controls take focus, with a visible ring; Enter on
    Acknowledge stores the action in Redis and the card says so."""
    incident_id = f"inc-{s.run}"
    button = f"[data-incident-id=\"{incident_id}\"] button[data-action=\"acknowledge\"]"
    await browser.js("document.activeElement.blur(), document.getElementById('filter').focus()")
    focused: list[str] = []
    for _ in range(60):
        await browser.key("Tab")
        info = await browser.js("[document.activeElement.tagName, "
                                "getComputedStyle(document.activeElement).outlineStyle, "
                                f"document.activeElement === {q(button)}]")  # fmt: skip
        focused.append(info[0])
        assert info[1] != "none", info  # focus is visible
        if info[2]:
            break
    else:
        raise AssertionError(f"Tab never reached Acknowledge: {focused}")
    assert set(focused) <= {"A", "BUTTON", "INPUT", "SELECT"}, focused
    # A live revision of another incident redraws the list: focus stays on the button.
    update = json.loads(incident_json(f"old-{s.run}", s.camera, s.now - 1_500, "e" * 64, "warning"))
    s.client.set(redis_keys.incident(f"old-{s.run}"), json.dumps({**update, "revision": 2,
                                                                  "alert_count": 7}))  # fmt: skip
    s.client.publish(redis_keys.CHANNEL_INCIDENTS, json.dumps({**update, "revision": 2,
                                                               "alert_count": 7}))  # fmt: skip
    old = q(f'[data-incident-id="old-{s.run}"] .meta')
    await browser.wait_js(f"{old}.textContent.includes('7 alerts')", 2, "the live revision")
    assert await browser.js(f"document.activeElement === {q(button)}")
    await browser.key("Enter")
    card = f"[data-incident-id=\"{incident_id}\"]"
    await browser.wait_js(f"{q(card)}?.dataset.action === 'acknowledge'", 10, "the acknowledgement")
    assert "acknowledged by dashboard" in await browser.js(f"{q(card)}.innerText")
    read = replies(s.client)
    action = parse(IncidentAction, read.get(redis_keys.incident_action(incident_id)))
    assert (action.incident_id, action.action, action.actor) == (incident_id, "acknowledge",
                                                                 "dashboard")  # fmt: skip
    assert 0 < read.ttl(redis_keys.incident_action(incident_id)) <= redis_keys.INCIDENT_TTL_S
    return action


async def live_updates(browser: Chromium, s: Seeded) -> None:
    """A published alert shows within 2 s as its camera/pattern group, escaped; the second
    of the same camera and pattern adds to the count instead of a new line; a live window
    extends the sparkline; a live incident appears, escaped."""
    for n in (1, 2):
        doc = alert_json(f"alert-{s.run}-{n}", s.camera, s.now + n, XSS)
        s.zadd(redis_keys.ALERTS_RECENT, doc, s.now + n)
        s.client.publish(redis_keys.CHANNEL_ALERTS, doc)
        item = q(f"[data-alert-id=\"alert-{s.run}-{n}\"]")
        elapsed = await browser.wait_js(f"!!{item}", 2.0, "the published alert")
        assert elapsed < 2.0
    assert await browser.js(f"{item}.querySelector('.count').textContent") == "2 alerts"
    assert await browser.js(f"{item}.querySelector('.description').textContent") == XSS
    assert await browser.js(f"{item}.querySelectorAll('img, script').length") == 0
    await asyncio.sleep(0.3)  # an injected onerror would have fired by now
    assert await browser.js("window.__xss === undefined")
    groups = f"document.querySelectorAll('[data-group-id*=\"{s.camera}\"]').length"
    assert await browser.js(groups) == 1
    cam = q(f"[data-camera-id=\"{s.camera}\"]")
    await browser.wait_js(f"{cam}?.querySelectorAll('svg rect').length === 3", 5, "the chart")
    s.client.publish(redis_keys.CHANNEL_STATS, stats_json(s.camera, s.now - 60_000, 40))
    await browser.wait_js(f"{cam}.querySelectorAll('svg rect').length === 4", 2, "new window")
    assert "vehicles 40/min" in await browser.js(f"{cam}.innerText")  # 40 in a 60 s window
    # A live incident shows within 2 s, its description as text.
    doc = s.incident(f"xss-{s.run}", "f" * 64, "critical", s.now + 3, XSS)
    s.client.publish(redis_keys.CHANNEL_INCIDENTS, doc)
    card = q(f'[data-incident-id="xss-{s.run}"]')
    assert await browser.wait_js(f"!!{card}", 2.0, "the published incident") < 2.0
    assert await browser.js(f"{card}.querySelector('.description').textContent") == XSS
    assert await browser.js(f"{card}.querySelectorAll('script, .description *').length") == 0
    await asyncio.sleep(0.3)
    assert await browser.js("window.__xss === undefined")


async def layout_fits(browser: Chromium, s: Seeded) -> None:
    """No sideways scrolling at 1366x768 or on a 390x844 phone, where Acknowledge and
    Resolve stay inside the screen and a tap resolves; the filter narrows the grid to one
    camera."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert await browser.overflow_px() <= 0
    await browser.screenshot(SCREENSHOTS / "dashboard.png")
    await browser.viewport(390, 844, mobile=True)
    assert await browser.overflow_px() <= 0
    resolve = q(f'[data-incident-id="old-{s.run}"] button[data-action="resolve"]')
    right = await browser.js(f"{resolve}.getBoundingClientRect().right")
    assert 0 < right <= 390
    await browser.screenshot(SCREENSHOTS / "dashboard-phone.png")
    await browser.tap(resolve)  # a tap on the phone resolves it
    card = q(f'[data-incident-id="old-{s.run}"]')
    await browser.wait_js(f"{card}?.dataset.action === 'resolve'", 10, "the resolution")
    assert "resolved by dashboard" in await browser.js(f"{card}.innerText")
    await browser.viewport(1366, 768)
    await browser.js(f"{q('#filter')}.focus()")
    await browser.send("Input.insertText", text=s.camera)
    await browser.wait_js("document.querySelectorAll('#cameras [data-camera-id]').length === 1", 2,
                          "the filtered grid")  # fmt: skip
    await browser.js(f"{q('#filter')}.value = ''; {q('#filter')}.dispatchEvent(new Event('input'))")


async def camera_page(browser: Chromium, s: Seeded) -> None:
    """The camera's page: its hour of windows, its verdict with the crop, its incidents."""
    await browser.js(f"location.hash = {json.dumps('#camera/' + s.camera)}")
    page = q("#camera-page")
    await browser.wait_js(f"{page}.dataset.cameraId === {json.dumps(s.camera)}", 5, "camera page")
    assert await browser.js("document.querySelectorAll('#camera-windows tbody tr').length") == 3
    await browser.wait_js(f"{q('#camera-verdicts img')}?.naturalWidth === 64", 5, "verdict crop")
    assert await browser.js(f"{q('#camera-picture img')}.naturalWidth") == 64  # newest crop
    ids = await browser.js("[...document.querySelectorAll('#camera-incidents [data-incident-id]')]"
                           ".map(e => e.dataset.incidentId)")  # fmt: skip
    assert set(ids) == {f"inc-{s.run}", f"old-{s.run}", f"xss-{s.run}"}
    assert await browser.overflow_px() <= 0
    await browser.screenshot(SCREENSHOTS / "dashboard-camera.png")
    await browser.js("location.hash = ''")
    await browser.wait_js(f"{q('#overview')}.hidden === false", 2, "the overview again")


async def reconnects(browser: Chromium, s: Seeded, servers: list[Any], port: int,
                     redis_url: str, kafka: str) -> None:  # fmt: skip
    """The server goes away, an alert lands in Redis meanwhile, the page reconnects to the
    restarted server and catches up from Redis."""
    stop(servers[0])
    await browser.wait_js("document.getElementById('status').dataset.state === 'reconnecting'",
                          10, "the lost connection")  # fmt: skip
    missed = alert_json(f"missed-{s.run}", f"{s.camera}-b", s.now + 5, "while the server was down")
    s.zadd(redis_keys.ALERTS_RECENT, missed, s.now + 5)
    s.client.publish(redis_keys.CHANNEL_ALERTS, missed)  # nobody hears this one
    servers.append(start_dashboard(port, redis_url, TOKEN, kafka))
    missed_el = q(f'[data-alert-id="missed-{s.run}"]')
    await browser.wait_js(f"!!{missed_el}", 10, "the alert missed while disconnected")
    assert await browser.js("document.getElementById('status').dataset.snapshots") == "2"
    acked = q(f'[data-incident-id="inc-{s.run}"][data-action]')
    assert await browser.js(f"!!{acked}")  # the action is in the new snapshot too


def test_kafka_down_refuses_the_action_and_stores_nothing(redis_url):
    """An operator must know when an action was not published: 503 naming the broker."""
    client = redis.Redis.from_url(redis_url)
    run = uuid.uuid4().hex[:6]
    seeded = Seeded(client, run, int(time.time() * 1000))
    seeded.incident(f"inc-{run}", "f" * 64, "warning", seeded.now)
    port, dead = free_port(), f"127.0.0.1:{free_port()}"
    server = start_dashboard(port, redis_url, TOKEN, dead)
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/incidents/inc-{run}/resolve", data=b'{"note": "x"}',
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=15)
        assert refused.value.code == 503
        error = json.loads(refused.value.read())["error"]
        assert dead in error and "nothing stored" in error, error
        assert client.get(redis_keys.incident_action(f"inc-{run}")) is None
    finally:
        stop(server)
        seeded.cleanup()
