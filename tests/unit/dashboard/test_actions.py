"""Operator actions: validation from the contract, and the endpoint's refusals."""

from __future__ import annotations

import asyncio
import json

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer

from contract import IncidentAction
from dashboard import actions, server, views
from stack.paths import REPO


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


def test_kafka_properties_reach_the_producer_but_not_over_its_own() -> None:
    """The deployed TLS settings (k8s/base/dashboard/dashboard.yaml) parse into the producer's
    configuration; a property that would change the publisher's own settings is refused."""
    docs = yaml.safe_load_all((REPO / "k8s/base/dashboard/dashboard.yaml").read_text())
    deployment = next(d for d in docs if d and d["kind"] == "Deployment")
    env = {e["name"]: e.get("value") for e in
           deployment["spec"]["template"]["spec"]["containers"][0]["env"]}  # fmt: skip
    properties = actions.parse_properties(env["TRAFFIC_DASHBOARD_KAFKA_PROPERTIES"])
    assert properties == {
        "security.protocol": "ssl",
        "ssl.ca.location": "/etc/traffic-risk-kafka/ca/ca.crt",
        "ssl.certificate.location": "/etc/traffic-risk-kafka/user/user.crt",
        "ssl.key.location": "/etc/traffic-risk-kafka/user/user.key",
    }
    config = actions.producer_config("kafka:9093", 5.0, properties)
    assert config["security.protocol"] == "ssl" and config["bootstrap.servers"] == "kafka:9093"
    with pytest.raises(ValueError, match=r"enable\.idempotence"):
        actions.producer_config("k:1", 5.0, {"enable.idempotence": "false"})
    with pytest.raises(ValueError, match="not key=value"):
        actions.parse_properties("security.protocol")
