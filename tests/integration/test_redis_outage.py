"""Redis views: idempotent, never regress, and survive an outage (real redis-server)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from contract import WindowStats, parse, redis_keys
from tests.redis_io import replies
from udfs.views.redis import StatsViewWriter

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def start_redis(port: int, folder) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server missing: ./dev setup installs it")
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    for _ in range(50):
        try:
            if client.ping():
                return proc
        except redis.ConnectionError:
            time.sleep(0.1)
    raise AssertionError("redis did not start")


@contextlib.contextmanager
def throwaway_redis(folder: Path) -> Iterator[str]:
    """A redis-server of its own on a free port, stopped afterwards: its URL."""
    port = free_port()
    server = start_redis(port, folder)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)


def stats(start_s: int, frames: int = 1) -> WindowStats:
    return WindowStats(
        schema_version=1,
        camera_id="cam",
        window_start_ms=start_s * 1000,
        window_end_ms=start_s * 1000 + 60_000,
        frames=frames,
        objects=0,
        vehicles=0,
        pedestrians=0,
        distinct_tracks=0,
        mean_vehicles_per_frame=0.0,
        peak_vehicles_per_frame=0,
    )


def test_views_are_idempotent_monotonic_and_survive_an_outage(tmp_path):
    port = free_port()
    server = start_redis(port, tmp_path)
    writer = StatsViewWriter(f"redis://127.0.0.1:{port}/0")
    client = replies(redis.Redis(port=port))
    try:
        writer.write(stats(60))
        writer.write(stats(0))  # a replayed older window: series gains it, latest stays
        writer.write(stats(60))  # a duplicate: no second series entry
        assert (
            parse(WindowStats, client.get(redis_keys.stats_latest("cam"))).window_start_ms == 60_000
        )
        assert client.zcard(redis_keys.stats_series("cam")) == 2

        server.terminate()
        server.wait(10)
        writer.write(stats(120))
        writer.write(stats(180, frames=7))
        assert writer.pending == writer.stuck == 2  # kept, not lost, no exception escaped

        server = start_redis(port, tmp_path)  # back, empty (no persistence)
        writer.write(stats(240))
        assert writer.pending == writer.stuck == 0
        series = [
            parse(WindowStats, m) for m in client.zrange(redis_keys.stats_series("cam"), 0, -1)
        ]
        assert [s.window_start_ms for s in series] == [120_000, 180_000, 240_000]
        assert series[1].frames == 7
        assert (
            parse(WindowStats, client.get(redis_keys.stats_latest("cam"))).window_start_ms
            == 240_000
        )
    finally:
        writer.close()
        server.terminate()
        server.wait(10)
