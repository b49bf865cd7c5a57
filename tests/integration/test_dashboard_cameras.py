"""Which cameras the dashboard's snapshot shows when there are more than it can hold: the
most recently active ones (their windows written by the job's real Redis writer)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from contract import redis_keys
from dashboard import reads, views
from tests.integration.test_redis_outage import free_port, start_redis, stats
from udfs.views.redis import StatsViewWriter

pytestmark = pytest.mark.integration


def window(camera: str, start_s: int):
    return stats(start_s).model_copy(update={"camera_id": camera})


def test_snapshot_holds_the_most_recently_active_cameras(tmp_path, monkeypatch):
    port = free_port()
    redis_server = start_redis(port, tmp_path)
    url = f"redis://127.0.0.1:{port}/0"
    writer = StatsViewWriter(url)
    try:
        # "a-*" sort first by id but stopped reporting an hour ago; "z-*" report now.
        for n in range(8):
            writer.write(window(f"a-{n}", 0))
        for n in range(3):
            writer.write(window(f"z-{n}", 3600 + n))
        writer.write(window("a-7", 3660))  # one old camera came back: it counts again
        writer.write(window("z-0", 60))  # a replayed old window does not make z-0 stale
        assert redis.Redis(port=port).zscore(redis_keys.CAMERAS_ACTIVE, "z-0") == 3_660_000

        monkeypatch.setattr(views, "MAX_CAMERAS", 4)
        snapshot = asyncio.run(snapshot_of(url))
        shown = {c["camera_id"]: c["latest"]["window_start_ms"] for c in snapshot["cameras"]}
        assert shown == {"a-7": 3_660_000, "z-0": 3_600_000, "z-1": 3_601_000, "z-2": 3_602_000}
        assert [c["camera_id"] for c in snapshot["cameras"]] == ["a-7", "z-0", "z-1", "z-2"]
    finally:
        writer.close()
        redis_server.terminate()
        redis_server.wait(10)


async def snapshot_of(url: str) -> dict[str, Any]:
    client = aioredis.Redis.from_url(url)
    try:
        return views.build_snapshot(await reads.read_view(client), now_ms=3_700_000)
    finally:
        await client.aclose()
