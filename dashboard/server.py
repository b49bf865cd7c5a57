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
import time
import weakref
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.typedefs import Handler

from contract import redis_keys
from dashboard import views

log = logging.getLogger("dashboard")
STATIC = Path(__file__).parent / "static"
HEALTH_INTERVAL_S = 2.0
CLIENT_QUEUE_MAX = 1000
TOKEN_ENV = "TRAFFIC_DASHBOARD_TOKEN"
PUBLIC_ROUTES = {"static", "healthz", "readyz"}  # served without the token (see `guard`)
READY_TIMEOUT_S = 2.0
REDIS_KEY = web.AppKey("redis", aioredis.Redis)
TOKEN_KEY = web.AppKey("token", str)
SOCKETS_KEY: web.AppKey[weakref.WeakSet[web.WebSocketResponse]] = web.AppKey("sockets")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def now_ms() -> int:
    return int(time.time() * 1000)


async def camera_ids(client: aioredis.Redis) -> list[str]:
    """The MAX_CAMERAS cameras with the newest windows, by id: with thousands of cameras the
    page shows those still reporting, not the first ids of the alphabet."""
    newest = await client.zrevrange(redis_keys.CAMERAS_ACTIVE, 0, views.MAX_CAMERAS - 1)
    return sorted(c.decode() for c in newest)


async def read_view(client: aioredis.Redis) -> views.RedisView:
    """Every Redis key the snapshot needs, in three round trips."""
    cameras = await camera_ids(client)
    pipe = client.pipeline(transaction=False)
    for camera in cameras:
        pipe.get(redis_keys.stats_latest(camera))
        pipe.zrange(redis_keys.stats_series(camera), -views.SERIES_POINTS, -1)
    pipe.zrevrange(redis_keys.ALERTS_RECENT, 0, views.RECENT_ITEMS - 1)
    pipe.zrevrange(redis_keys.RISK_RECENT, 0, views.RECENT_ITEMS - 1)
    pipe.hgetall(redis_keys.KEYPOOL_HEALTH)
    found = await pipe.execute()
    view = views.RedisView(
        latest=dict(zip(cameras, found[0 : 2 * len(cameras) : 2], strict=True)),
        series=dict(zip(cameras, found[1 : 2 * len(cameras) : 2], strict=True)),
        alerts=found[-3], risks=found[-2], keypool=found[-1],
    )  # fmt: skip
    shas = [d.get("crop_sha256") for d in map(views.decode_json, view.risks) if d]
    view.crops_stored = await stored_crops(client, [s for s in shas if isinstance(s, str)])
    return view


async def stored_crops(client: aioredis.Redis, shas: list[str]) -> set[str]:
    valid = [s for s in dict.fromkeys(shas) if views.SHA256_RE.match(s)]
    if not valid:
        return set()
    pipe = client.pipeline(transaction=False)
    for sha in valid:
        pipe.exists(redis_keys.crop(sha))
    return {sha for sha, n in zip(valid, await pipe.execute(), strict=True) if n}


class Hub:
    """One Redis subscription fanned out to every connected client's queue."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.queues: set[asyncio.Queue[dict[str, Any] | None]] = set()

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

    async def run_pubsub(self) -> None:
        """Forward live channels; after a Redis outage, push everyone a fresh snapshot."""
        backoff = 0.5
        first = True
        while True:
            try:
                async with self.client.pubsub() as pubsub:
                    await pubsub.subscribe(*views.CHANNEL_TYPES)
                    if not first:
                        self.broadcast(views.build_snapshot(await read_view(self.client), now_ms()))
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
            message = views.live_message(item["channel"].decode(), item["data"], now_ms())
            if message is None:
                continue
            if message["type"] == "risk":
                sha = message["data"].get("crop_sha256")
                stored = await stored_crops(self.client, [sha] if isinstance(sha, str) else [])
                message["data"] = views.with_crop_flag(message["data"], sha in stored)
            self.broadcast(message)

    async def run_health(self) -> None:
        """Key-pool health and lag have no channel: poll them while anyone watches."""
        while True:
            await asyncio.sleep(HEALTH_INTERVAL_S)
            if not self.queues:
                continue
            try:
                self.broadcast(await read_health(self.client))
            except (aioredis.RedisError, OSError) as err:
                log.warning("redis unavailable for health: %s", err)


async def read_health(client: aioredis.Redis) -> dict[str, Any]:
    cameras = await camera_ids(client)
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(redis_keys.KEYPOOL_HEALTH)
    for camera in cameras:
        pipe.get(redis_keys.stats_latest(camera))
    keypool, *latest = await pipe.execute()
    return views.health_message(keypool, latest, now_ms())


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


async def websocket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(request)
    request.app[SOCKETS_KEY].add(ws)
    hub = request.app[HUB_KEY]
    queue = hub.register()  # before the snapshot: nothing published meanwhile is lost
    sender = asyncio.create_task(_send_loop(ws, queue, request.app[REDIS_KEY]))
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
    ws: web.WebSocketResponse, queue: asyncio.Queue[dict[str, Any] | None], client: aioredis.Redis
) -> None:
    try:
        await ws.send_str(json.dumps(views.build_snapshot(await read_view(client), now_ms())))
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


def make_app(redis_url: str, token: str | None) -> web.Application:
    app = web.Application(middlewares=[guard])
    app[TOKEN_KEY] = token or ""
    app[SOCKETS_KEY] = weakref.WeakSet()
    app.on_shutdown.append(_close_sockets)
    app.router.add_get("/", index)
    app.router.add_get("/ws", websocket)
    app.router.add_get("/crop/{sha}", crop)
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
    web.run_app(make_app(args.redis_url, token), host=args.host, port=args.port,
                access_log_class=PathOnlyAccessLogger, print=None)  # fmt: skip


if __name__ == "__main__":
    main()
