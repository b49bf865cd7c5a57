"""Liveness and readiness of the detector over HTTP, for Kubernetes probes.

`GET /healthz` (liveness) answers 200 while the service's main loop, which serves Kafka's
delivery reports, has turned within `LOOP_TIMEOUT_S`: a hung process fails it and is
restarted. `GET /readyz` (readiness) answers 200 while, in addition, Kafka acknowledged an
event and some camera published one within `ready_within_s`: a pod that runs but cannot
reach Kafka, or whose cameras all stopped delivering, shows as not ready instead of
passing silently. Both answer a small JSON body saying why. Neither opens a camera, the
model or a connection: they only read what the service records as it works.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("traffic-detector.health")

# The main loop turns every 0.2 s; a loop silent this long is hung, not busy.
LOOP_TIMEOUT_S = 30.0


class Health:
    """What the service records as it works; thread-safe, read by the HTTP handler."""

    def __init__(
        self,
        ready_within_s: float,
        loop_timeout_s: float = LOOP_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ready_within_s = ready_within_s
        self.loop_timeout_s = loop_timeout_s
        self._clock = clock
        self._lock = threading.Lock()
        self._loop_at: float | None = None
        self._acked_at: float | None = None
        self._acked = 0
        self._published_at: dict[str, float] = {}

    def beat(self, delivered: int) -> None:
        """The main loop turned; `delivered` is the sink's running count of Kafka acks."""
        now = self._clock()
        with self._lock:
            self._loop_at = now
            if delivered > self._acked:
                self._acked, self._acked_at = delivered, now

    def published(self, camera: str) -> None:
        """A camera handed an event to the sink."""
        now = self._clock()
        with self._lock:
            self._published_at[camera] = now

    def _age(self, at: float | None, now: float) -> float | None:
        return None if at is None else round(now - at, 3)

    def live(self) -> tuple[bool, dict[str, Any]]:
        """(alive, details): the main loop turned recently."""
        now = self._clock()
        with self._lock:
            age = self._age(self._loop_at, now)
        ok = age is not None and age <= self.loop_timeout_s
        return ok, {"live": ok, "loop_age_s": age, "loop_timeout_s": self.loop_timeout_s}

    def ready(self) -> tuple[bool, dict[str, Any]]:
        """(ready, details): alive, Kafka acknowledging and a camera producing, recently."""
        alive, details = self.live()
        now = self._clock()
        with self._lock:
            kafka_age = self._age(self._acked_at, now)
            cameras = {c: now - at for c, at in self._published_at.items()}
        fresh = sorted(c for c, age in cameras.items() if age <= self.ready_within_s)
        kafka = kafka_age is not None and kafka_age <= self.ready_within_s
        ok = alive and kafka and bool(fresh)
        details.update(
            ready=ok,
            ready_within_s=self.ready_within_s,
            kafka_ack_age_s=kafka_age,
            cameras_producing=fresh,
            cameras_stale=sorted(set(cameras) - set(fresh)),
        )
        return ok, details


class HealthServer:
    """`/healthz` and `/readyz` on a daemon thread; `port=0` binds a free port (tests)."""

    def __init__(self, health: Health, port: int, host: str = "") -> None:
        checks = {"/healthz": health.live, "/livez": health.live, "/readyz": health.ready}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                check = checks.get(self.path.split("?", 1)[0])
                if check is None:
                    self.send_error(404)
                    return
                ok, details = check()
                body = json.dumps(details).encode()
                self.send_response(200 if ok else 503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # a probe every few seconds would drown the service's own log

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="health",
                                        daemon=True)  # fmt: skip

    def start(self) -> HealthServer:
        self._thread.start()
        log.info("health endpoint up", extra={"port": self.port, "paths": "/healthz /readyz"})
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
