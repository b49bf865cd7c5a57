"""The hub's live path: what a published alert, incident or verdict becomes on the socket.

Redis is an in-memory stand-in holding only strings (the hub reads crops with EXISTS and
actions with GET); the messages are the contract's, built by the contract's models."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from contract import redis_keys
from dashboard import server, views
from tests.unit.dashboard.factories import action, alert, evidence, incident

SHA = "a" * 64


class Pipeline:
    def __init__(self, data: dict[str, bytes]) -> None:
        self.data: dict[str, bytes] = data
        self.calls: list[int] = []

    def exists(self, key: str) -> None:
        self.calls.append(int(key in self.data))

    async def execute(self) -> list[int]:
        return self.calls


class StringsOnly:
    def __init__(self, data: dict[str, bytes]) -> None:
        self.data = data

    async def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    def pipeline(self, transaction: bool = False) -> Pipeline:
        return Pipeline(self.data)


def live(hub: server.Hub, channel: str, raw: bytes) -> dict[str, Any] | None:
    message = views.live_message(channel, raw, 1)
    assert message is not None
    return asyncio.run(hub._complete(message, raw))


def test_a_live_alert_becomes_its_whole_group():
    hub = server.Hub(StringsOnly({redis_keys.crop(SHA): b"jpeg"}))  # type: ignore[arg-type]
    first = live(hub, redis_keys.CHANNEL_ALERTS, alert("a1", "cam", "p", 10_000, "warning"))
    assert first is not None and first["type"] == "alert_group"
    assert (first["data"]["count"], first["data"]["crop_available"]) == (1, False)
    second = live(hub, redis_keys.CHANNEL_ALERTS,
                  alert("a2", "cam", "p", 20_000, "critical", crops=((19_000, SHA),)))  # fmt: skip
    assert second is not None
    data = second["data"]
    assert (data["count"], data["severity"], data["newest_alert_id"]) == (2, "critical", "a2")
    assert (data["crop_sha256"], data["crop_available"]) == (SHA, True)
    assert live(hub, redis_keys.CHANNEL_ALERTS, b'{"alert_id": "not an alert"}') is None


def test_a_live_incident_carries_its_action_and_crop_flag():
    raw = incident("i1", "cam", 5_000, evidence=[evidence("cam", 4_000, SHA)])
    store = {redis_keys.incident_action("i1"): action("i1", "resolve", 9)}
    hub = server.Hub(StringsOnly(store))  # type: ignore[arg-type]
    message = live(hub, redis_keys.CHANNEL_INCIDENTS, raw)
    assert message is not None and message["type"] == "incident"
    assert message["data"]["action"]["action"] == "resolve"
    assert message["data"]["crop_available"] is False  # the crop is not in Redis
    assert live(hub, redis_keys.CHANNEL_INCIDENTS, b'{"incident_id": "i2"}') is None


def test_a_live_verdict_says_whether_its_crop_can_be_fetched():
    hub = server.Hub(StringsOnly({redis_keys.crop(SHA): b"jpeg"}))  # type: ignore[arg-type]
    verdict = json.dumps({"camera_id": "cam", "crop_sha256": SHA}).encode()
    message = live(hub, redis_keys.CHANNEL_RISK, verdict)
    assert message is not None and message["data"]["crop_available"] is True
