"""Dashboard server pieces that need no Redis: the guard, headers, logging, the page."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request

from dashboard import server

STATIC = server.STATIC


async def ok_handler(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def guarded(path: str, token: str | None, headers: dict[str, str] | None = None):
    app = server.make_app("redis://127.0.0.1:1/0", token)  # never connected in these tests

    async def call() -> web.StreamResponse:
        probe = make_mocked_request("GET", path, app=app)
        route = await app.router.resolve(probe)  # as aiohttp does before the middlewares
        route.add_app(app)
        request = make_mocked_request("GET", path, headers=headers or {}, app=app)
        request._match_info = route  # make_mocked_request only takes a dict here
        return await server.guard(request, ok_handler)

    return asyncio.run(call())


def test_guard_requires_the_token_when_set():
    with pytest.raises(web.HTTPUnauthorized):
        guarded("/", "tok")
    with pytest.raises(web.HTTPUnauthorized):
        guarded("/?token=wrong", "tok")
    assert guarded("/?token=tok", "tok").text == "ok"
    assert guarded("/", "tok", {"Authorization": "Bearer tok"}).text == "ok"
    assert guarded("/", None).text == "ok"
    assert guarded("/static/app.js", "tok").text == "ok"  # code, no data
    assert guarded("/healthz", "tok").text == guarded("/readyz", "tok").text == "ok"  # probes
    for path in ("/ws", "/crop/" + "a" * 64, "/static/../ws"):
        with pytest.raises(web.HTTPUnauthorized):
            guarded(path, "tok")


def test_responses_carry_a_strict_content_security_policy():
    response = guarded("/", None)
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "object-src 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response.headers["Referrer-Policy"] == "no-referrer"  # ?token= stays on this site


def test_access_log_drops_the_query_string(caplog):
    logger = server.PathOnlyAccessLogger(logging.getLogger("test.access"), "")
    request = make_mocked_request("GET", "/ws?token=SUPERSECRET")
    with caplog.at_level(logging.INFO, logger="test.access"):
        logger.log(request, web.Response(status=101), 0.01)
    assert "/ws" in caplog.text and "SUPERSECRET" not in caplog.text


def test_page_script_never_parses_data_as_html():
    script = "\n".join(p.read_text() for p in sorted(STATIC.glob("*.js")))
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "new Function", "srcdoc"):  # fmt: skip
        assert sink not in script, sink
    assert "textContent" in script


def test_page_loads_nothing_from_outside():
    assert {p.name for p in STATIC.iterdir()} == {"index.html", "style.css", "format.js",
                                                   "dom.js", "app.js"}  # fmt: skip
    for name in ("index.html", "format.js", "dom.js", "app.js", "style.css"):
        text = (STATIC / name).read_text().replace('"http://www.w3.org/2000/svg"', "")  # a name
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), name
    html = (STATIC / "index.html").read_text()
    assert "<script>" not in html  # no inline script: the CSP forbids it
    for name in ("format.js", "dom.js", "app.js"):  # every script is loaded by the page
        assert f'<script src="static/{name}" defer></script>' in html


def test_cli_binds_to_loopback_by_default(monkeypatch):
    monkeypatch.delenv("TRAFFIC_DASHBOARD_HOST", raising=False)
    monkeypatch.delenv("TRAFFIC_DASHBOARD_PORT", raising=False)
    args = server.parse_args([])
    assert (args.host, args.port) == ("127.0.0.1", 8088)
    assert server.parse_args(["--host", "0.0.0.0", "--port", "9"]).host == "0.0.0.0"


async def probe(path: str) -> tuple[int, dict[str, object]]:
    app = server.make_app("redis://127.0.0.1:1/0", "tok")  # nothing listens on port 1
    async with TestClient(TestServer(app)) as client:
        response = await client.get(path)
        return response.status, await response.json()


def test_probes_answer_over_http_and_readiness_follows_redis(monkeypatch):
    """Real requests to the app, no token: live at once; ready only while Redis answers."""
    assert asyncio.run(probe("/healthz")) == (200, {"live": True})
    status, body = asyncio.run(probe("/readyz"))
    assert status == 503 and body["ready"] is False

    async def pong(self: object) -> bool:
        return True

    monkeypatch.setattr(aioredis.Redis, "ping", pong)
    assert asyncio.run(probe("/readyz")) == (200, {"ready": True, "redis": "ok"})


@pytest.mark.parametrize("given", [None, "", "  \n"])
def test_an_exposed_dashboard_without_a_token_refuses_to_start(given):
    env = {} if given is None else {server.TOKEN_ENV: given}
    with pytest.raises(SystemExit, match=server.TOKEN_ENV):
        server.token_from_env("0.0.0.0", env)
    assert server.token_from_env("127.0.0.1", env) is None  # local use needs none
    assert server.token_from_env("0.0.0.0", {server.TOKEN_ENV: " t0k\n"}) == "t0k"
