"""Operator actions: validation from the contract, and the endpoint's refusals."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp.test_utils import TestClient, TestServer

from contract import IncidentAction
from dashboard import actions, server, views


def test_make_action_from_url_and_body():
    made = actions.make_action("inc-1", "resolve", {"note": "cleared", "actor": "ana"}, 5)
    assert made == IncidentAction(schema_version=1, incident_id="inc-1", action="resolve",
                                  actor="ana", note="cleared", at_ms=5)  # fmt: skip
    assert actions.make_action("inc-1", "acknowledge", {}, 5).actor == "dashboard"


@pytest.mark.parametrize(
    ("incident_id", "action", "body", "named"),
    [("inc", "delete", {}, "action"), ("inc", "resolve", {"note": "x" * 501}, "note"),
     ("inc", "resolve", {"actor": "x" * 65}, "actor"), ("x" * 129, "resolve", {}, "incident_id"),
     ("inc", "resolve", {"note": 5}, "note"), ("inc", "resolve", {"at_ms": 1}, "at_ms")],
)  # fmt: skip
def test_bad_actions_are_refused_naming_the_field(incident_id, action, body, named):
    with pytest.raises(actions.ActionRefused, match=f"^{named}"):
        actions.make_action(incident_id, action, body, 5)


def test_kafka_can_be_switched_off():
    assert actions.kafka_enabled("127.0.0.1:9092")
    assert not any(map(actions.kafka_enabled, ("none", "OFF", "", " ", None)))


@pytest.mark.parametrize(
    ("origin", "host", "same"),
    [(None, "h:1", True), ("http://h:1", "h:1", True), ("https://h:1", "h:1", True),
     ("http://evil:1", "h:1", False), ("http://h:1.evil", "h:1", False), ("null", "h:1", False),
     ("file://h:1", "h:1", False)],
)  # fmt: skip
def test_same_origin(origin, host, same):
    assert views.same_origin(origin, host) is same


async def post(path: str, data: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    app = server.make_app("redis://127.0.0.1:1/0", "tok")  # nothing listens on port 1
    async with TestClient(TestServer(app)) as client:
        response = await client.post(path, data=data, headers={"Authorization": "Bearer tok",
                                                               **headers})  # fmt: skip
        return response.status, await response.json()


JSON = {"Content-Type": "application/json"}


def test_the_endpoint_refuses_before_touching_redis():
    path = "/api/incidents/inc-1/acknowledge"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert asyncio.run(post(path, b"note=x", form))[0] == 415  # what a cross-site form sends
    assert asyncio.run(post(path, b"{}", {**JSON, "Origin": "http://evil.example"}))[0] == 403
    assert asyncio.run(post(path, b"[1]", JSON))[0] == 400
    status, body = asyncio.run(post("/api/incidents/inc-1/delete", b"{}", JSON))
    assert status == 400 and body["error"].startswith("action")
    status, body = asyncio.run(post(path, b"{}", JSON))  # valid: now Redis is needed
    assert status == 503 and "redis unavailable" in body["error"]


def test_the_endpoint_needs_the_token():
    async def anonymous() -> int:
        app = server.make_app("redis://127.0.0.1:1/0", "tok")
        async with TestClient(TestServer(app)) as client:
            response = await client.post("/api/incidents/i/resolve", data=json.dumps({}),
                                         headers=JSON)  # fmt: skip
            return response.status

    assert asyncio.run(anonymous()) == 401
