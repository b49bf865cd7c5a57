"""The dashboard's aiohttp server: one page, a WebSocket fed from Redis pub/sub, crop images.

Each WebSocket client gets a snapshot from Redis keys first, then every live message; the
client's queue is registered before the snapshot is read, so nothing published in between
is lost (the page de-duplicates). A slow client is dropped and catches up on reconnect.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import weakref
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.typedefs import Handler

from contract import redis_keys
from contract.endpoints import Endpoints
from dashboard import actions, history, incidents, reads, units, views

log = logging.getLogger("dashboard")
STATIC = Path(__file__).parent / "static"
HEALTH_INTERVAL_S = 2.0
CLIENT_QUEUE_MAX = 1000
TOKEN_ENV = "TRAFFIC_DASHBOARD_TOKEN"
PUBLIC_ROUTES = {"static", "healthz", "readyz"}  # served without the token (see `guard`)
READY_TIMEOUT_S = 2.0
REDIS_KEY = web.AppKey("redis", aioredis.Redis)
TOKEN_KEY = web.AppKey("token", str)
PUBLISHER_KEY: web.AppKey[actions.ActionPublisher | None] = web.AppKey("publisher")
SOCKETS_KEY: web.AppKey[weakref.WeakSet[web.WebSocketResponse]] = web.AppKey("sockets")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class Hub:
    """One Redis subscription fanned out to every connected client's queue.

    It also keeps the newest alerts (to send a live alert's whole group, counted by the
    snapshot's rule) and the key pool's request counters (for per-minute rates)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.queues: set[asyncio.Queue[dict[str, Any] | None]] = set()
        self.recent = incidents.RecentAlerts()
        self.rates = units.RateMeter()

    def register(self) -> asyncio.Queue[dict[str, Any] | None]:
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(CLIENT_QUEUE_MAX)
        self.queues.add(queue)
        return queue

    def unregister(self, queue: asyncio.Queue[dict[str, Any] | None]) -> None:
        self.queues.discard(queue)

    def broadcast(self, message: dict[str, Any]) -> None:
        for queue in list(self.queues):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:  # too slow: drop it; it resyncs on reconnect
                self.unregister(queue)
                with contextlib.suppress(asyncio.QueueFull):
                    queue.get_nowait()
                    queue.put_nowait(None)

    async def snapshot(self) -> dict[str, Any]:
        view = await reads.read_view(self.client)
        return views.build_snapshot(view, reads.now_ms(), self.rates.all_per_minute())

    async def run_pubsub(self) -> None:
        """Forward live channels; after a Redis outage, push everyone a fresh snapshot."""
        backoff = 0.5
        first = True
        while True:
            try:
                async with self.client.pubsub() as pubsub:
                    await pubsub.subscribe(*views.CHANNEL_TYPES)
                    alerts = await self.client.zrevrange(
                        redis_keys.ALERTS_RECENT, 0, incidents.ALERT_GROUP_SOURCE - 1
                    )
                    self.recent = incidents.RecentAlerts.from_raw(alerts)
                    if not first:
                        self.broadcast(await self.snapshot())
                    first, backoff = False, 0.5
                    await self._forward(pubsub)
            except (aioredis.RedisError, OSError) as err:
                log.warning("redis pub/sub unavailable (%s); retrying in %.1f s", err, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _forward(self, pubsub: Any) -> None:
        async for item in pubsub.listen():
            if item.get("type") != "message":
                continue
            channel = item["channel"].decode()
            message = views.live_message(channel, item["data"], reads.now_ms())
            if message is not None:
                message = await self._complete(message, item["data"])
            if message is not None:
                self.broadcast(message)

    async def _complete(self, message: dict[str, Any], raw: bytes) -> dict[str, Any] | None:
        """Add what the page needs beyond the published JSON (crop flags, groups, actions)."""
        if message["type"] == "risk":
            sha = message["data"].get("crop_sha256")
            shas = [sha] if isinstance(sha, str) else []
            stored = await reads.stored_crops(self.client, shas)
            message["data"] = views.with_crop_flag(message["data"], sha in stored)
        elif message["type"] == "alert":
            alert = self.recent.add_raw(raw)
            group = alert and self.recent.group(alert.camera_id, alert.pattern)
            if not group:
                return None
            stored = await reads.stored_crops(self.client, [group["crop_sha256"] or ""])
            return {**message, "type": "alert_group",
                    "data": incidents.with_crop_flags([group], stored)[0]}  # fmt: skip
        elif message["type"] == "incident":
            incident_id = str(message["data"].get("incident_id", ""))
            action = await self.client.get(redis_keys.incident_action(incident_id))
            stored = await reads.stored_crops(self.client, incidents.incident_crops([raw]))
            view = incidents.incident_view(raw, action, stored)
            return {**message, "data": view} if view else None
        return message

    async def run_health(self) -> None:
        """Key-pool health and lag have no channel: poll them while anyone watches."""
        while True:
            await asyncio.sleep(HEALTH_INTERVAL_S)
            if not self.queues:
                continue
            try:
                self.broadcast(await reads.read_health(self.client, self.rates))
            except (aioredis.RedisError, OSError) as err:
                log.warning("redis unavailable for health: %s", err)


HUB_KEY: web.AppKey[Hub] = web.AppKey("hub")


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Token check (when configured) and security headers on every response.

    `/static/` holds only the page's code, no data: it is served without the token so the
    page can load its script; so are the probes (`/healthz`, `/readyz`: a status word, no
    data), since kubelet knows no token. The page itself, `/ws` and `/crop/` need it.
    """
    public = request.match_info.route.name in PUBLIC_ROUTES
    if not public and not views.token_ok(
        request.app[TOKEN_KEY], request.headers.get("Authorization"), request.query.get("token")
    ):
        raise web.HTTPUnauthorized(text="token required", headers=SECURITY_HEADERS)
    response = await handler(request)
    if not response.prepared:
        response.headers.update(SECURITY_HEADERS)
    return response


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the event loop answers."""
    return web.json_response({"live": True})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: Redis, where every view comes from, answers a PING in time."""
    try:
        await asyncio.wait_for(request.app[REDIS_KEY].ping(), READY_TIMEOUT_S)
    except (aioredis.RedisError, OSError, TimeoutError) as err:
        return web.json_response({"ready": False, "redis": str(err) or "timeout"}, status=503)
    return web.json_response({"ready": True, "redis": "ok"})


async def index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html")


async def crop(request: web.Request) -> web.Response:
    sha = request.match_info["sha"]
    if not views.SHA256_RE.match(sha):
        raise web.HTTPNotFound()
    data = await request.app[REDIS_KEY].get(redis_keys.crop(sha))
    if data is None:
        raise web.HTTPNotFound()
    return web.Response(body=data, content_type="image/jpeg")


def _json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def incident_action(request: web.Request) -> web.Response:
    """POST /api/incidents/{id}/{acknowledge|resolve}: publish to Kafka, then store in Redis.

    JSON only, and never from another origin: a page elsewhere cannot submit a form here
    (it would be a "simple" request a browser sends without asking)."""
    if request.content_type != "application/json":
        return _json_error(415, "send the action as application/json")
    if not views.same_origin(request.headers.get("Origin"), request.host):
        return _json_error(403, "cross-origin requests are refused")
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return _json_error(400, "the body must be a JSON object ({} is fine)")
    incident_id = request.match_info["incident_id"]
    try:
        what = request.match_info["action"]
        action = actions.make_action(incident_id, what, body, reads.now_ms())
    except actions.ActionRefused as err:
        return _json_error(400, str(err))
    client = request.app[REDIS_KEY]
    try:
        if not await client.exists(redis_keys.incident(incident_id)):
            return _json_error(404, f"no incident {incident_id!r} in Redis (never, or expired)")
        publisher = request.app[PUBLISHER_KEY]
        if publisher is not None:
            await publisher.publish(action)
        await client.set(redis_keys.incident_action(incident_id), action.to_json(),
                         ex=redis_keys.INCIDENT_TTL_S)  # fmt: skip
    except actions.ActionNotPublished as err:
        log.warning("incident action not published: %s", err)
        return _json_error(503, f"not published, nothing stored: {err}")
    except (aioredis.RedisError, OSError) as err:
        return _json_error(503, f"redis unavailable: {err}")
    view = incidents.action_view(action.to_json(), incident_id)
    data = {"incident_id": incident_id, "action": view}
    request.app[HUB_KEY].broadcast(
        {"type": "incident_action", "server_time_ms": reads.now_ms(), "data": data}
    )
    return web.json_response({"action": view, "published": publisher is not None})


async def camera(request: web.Request) -> web.Response:
    """GET /api/camera?id=<camera>: the camera page's hour of windows, verdicts, incidents."""
    camera_id = request.query.get("id", "")
    if not 0 < len(camera_id) <= 128:
        return _json_error(400, "id: a camera id of 1 to 128 characters")
    try:
        read = await reads.read_camera(request.app[REDIS_KEY], camera_id)
    except (aioredis.RedisError, OSError) as err:
        return _json_error(503, f"redis unavailable: {err}")
    return web.json_response(history.camera_page(read))


async def websocket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(request)
    request.app[SOCKETS_KEY].add(ws)
    hub = request.app[HUB_KEY]
    queue = hub.register()  # before the snapshot: nothing published meanwhile is lost
    sender = asyncio.create_task(_send_loop(ws, queue, hub))
    try:
        async for message in ws:
            if message.type == WSMsgType.ERROR:
                break
    finally:
        hub.unregister(queue)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
    return ws


async def _send_loop(
    ws: web.WebSocketResponse, queue: asyncio.Queue[dict[str, Any] | None], hub: Hub
) -> None:
    try:
        await ws.send_str(json.dumps(await hub.snapshot()))
        while (message := await queue.get()) is not None:
            await ws.send_str(json.dumps(message))
    except (aioredis.RedisError, OSError) as err:
        log.warning("closing a client: %s", err)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_str(json.dumps({"type": "error", "message": "redis unavailable"}))
    await ws.close()


class PathOnlyAccessLogger(AbstractAccessLogger):
    """Access log without query strings: a `?token=` must never reach the logs."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info("%s %s %s %.3fs", request.method, request.path, response.status, time)


def make_app(
    redis_url: str, token: str | None, publisher: actions.ActionPublisher | None = None
) -> web.Application:
    """The dashboard; `publisher` (Kafka, or None to store actions in Redis only) is closed
    with the app."""
    app = web.Application(middlewares=[guard])
    app[TOKEN_KEY] = token or ""
    app[PUBLISHER_KEY] = publisher
    app[SOCKETS_KEY] = weakref.WeakSet()
    app.on_shutdown.append(_close_sockets)
    app.router.add_get("/", index)
    app.router.add_get("/ws", websocket)
    app.router.add_get("/crop/{sha}", crop)
    app.router.add_get("/api/camera", camera)
    app.router.add_post("/api/incidents/{incident_id}/{action}", incident_action)
    app.router.add_static("/static/", STATIC, name="static")
    app.router.add_get("/healthz", healthz, name="healthz")
    app.router.add_get("/readyz", readyz, name="readyz")
    app.cleanup_ctx.append(lambda a: _lifecycle(a, redis_url))
    return app


async def _close_sockets(app: web.Application) -> None:
    """Close open WebSockets on shutdown (else it waits for them); clients reconnect."""
    sockets: weakref.WeakSet[web.WebSocketResponse] = app[SOCKETS_KEY]
    for ws in list(sockets):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


def redis_client(redis_url: str) -> aioredis.Redis:
    """The dashboard's Redis: the URL may carry a password (redis://:pw@host) and ask for
    TLS (rediss://, with ?ssl_ca_certs=<file>), as on Kubernetes (docs/deployment.md)."""
    client: aioredis.Redis = aioredis.Redis.from_url(redis_url, socket_connect_timeout=2)
    return client


async def _lifecycle(app: web.Application, redis_url: str) -> AsyncIterator[None]:
    client = redis_client(redis_url)
    hub = Hub(client)
    app[REDIS_KEY], app[HUB_KEY] = client, hub
    tasks = [asyncio.create_task(hub.run_pubsub()), asyncio.create_task(hub.run_health())]
    yield
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await client.aclose()
    publisher = app[PUBLISHER_KEY]
    if publisher is not None:
        await asyncio.to_thread(publisher.close)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        prog="traffic-dashboard",
        description=f"Live dashboard over Redis. Set {TOKEN_ENV} to require a token "
        "(Authorization: Bearer <token>, or ?token=<token> in the page URL).",
    )
    parser.add_argument(
        "--host",
        default=env("TRAFFIC_DASHBOARD_HOST", "127.0.0.1"),
        help="bind address (env TRAFFIC_DASHBOARD_HOST; default 127.0.0.1)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(env("TRAFFIC_DASHBOARD_PORT", "8088")),
        help="port (env TRAFFIC_DASHBOARD_PORT; default 8088)",
    )
    parser.add_argument(
        "--redis-url",
        default=env("TRAFFIC_REDIS_URL", "redis://127.0.0.1:6390/0"),
        help="Redis with the job's live views (env TRAFFIC_REDIS_URL)",
    )
    parser.add_argument(
        "--kafka-bootstrap",
        default=Endpoints.from_env().kafka_bootstrap,
        help="Kafka for operator actions, topic incident-actions (env TRAFFIC_KAFKA_BOOTSTRAP; "
        "default 127.0.0.1:9092); 'none': store actions in Redis only",
    )
    parser.add_argument(
        "--kafka-property",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="librdkafka setting for the actions producer, repeatable, e.g. "
        "security.protocol=ssl and the ssl.*.location files (env "
        "TRAFFIC_DASHBOARD_KAFKA_PROPERTIES: KEY=VALUE pairs separated by ';')",
    )
    return parser.parse_args(argv)  # fmt: skip


LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def token_from_env(host: str, environ: Mapping[str, str] = os.environ) -> str | None:
    """The token, or None (no token: loopback only). Fails closed: bound beyond loopback, an
    unset or blank token (e.g. an empty key in the Kubernetes Secret) is an error, never an
    open dashboard."""
    token = environ.get(TOKEN_ENV, "").strip() or None
    if token is None and host not in LOOPBACK:
        raise SystemExit(f"traffic-dashboard: refusing to listen on {host} without a token: set "
                         f"{TOKEN_ENV} (or bind 127.0.0.1)")  # fmt: skip
    return token


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    token = token_from_env(args.host)
    log.info("dashboard on http://%s:%d/ (token %s)", args.host, args.port,
             "required" if token else "off")  # fmt: skip
    properties = actions.parse_properties(
        ";".join([os.environ.get("TRAFFIC_DASHBOARD_KAFKA_PROPERTIES", ""), *args.kafka_property])
    )
    publisher = (actions.KafkaActionPublisher(args.kafka_bootstrap, properties=properties)
                 if actions.kafka_enabled(args.kafka_bootstrap) else None)  # fmt: skip
    log.info("incident actions: %s", f"Kafka at {args.kafka_bootstrap} and Redis"
             if publisher else "Redis only (Kafka off)")  # fmt: skip
    web.run_app(make_app(args.redis_url, token, publisher), host=args.host, port=args.port,
                access_log_class=PathOnlyAccessLogger, print=None)  # fmt: skip


if __name__ == "__main__":
    main()
