"""The verdict views in a real redis-server, written in batches (one script call per batch):
the recent list and each camera's list keep the newest verdicts by event time up to their
bounds, and every verdict is published once, in the order written. The expected lists are
computed here from the key contract (contract/redis_keys.py), not from the writer."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis

from contract import RiskAssessment, redis_keys
from tests.integration.test_redis_outage import throwaway_redis
from tests.redis_io import replies
from udfs.views.redis import EncodedVerdict, VerdictViewWriter, queue_verdict_views

pytestmark = pytest.mark.integration


def verdict(n: int, camera: str) -> RiskAssessment:
    return RiskAssessment.model_validate(
        {"schema_version": 1, "camera_id": camera, "frame_id": n, "group_id": "g0",
         # out of order on purpose: the lists keep the newest by event time, not by arrival
         "captured_at_ms": 1_000_000 + (n * 7919) % 1000 * 10, "risk_level": "low",
         "reason": f"verdict {n}", "confidence": 0.5, "source": "heuristic"}
    )  # fmt: skip


def newest(docs: list[RiskAssessment], keep: int) -> list[bytes]:
    """ZSET order (score, then member bytes) of the `keep` highest-ranked: what a bounded
    list holds after every add, however the adds were batched."""
    ranked = sorted((v.captured_at_ms, v.to_json()) for v in docs)
    return [doc for _score, doc in ranked[-keep:]]


def test_batched_verdict_views_keep_the_newest_per_list_and_publish_each(tmp_path: Path):
    with throwaway_redis(tmp_path) as url:
        client = redis.Redis.from_url(url)
        read = replies(client)
        listener = client.pubsub()
        listener.subscribe(redis_keys.CHANNEL_RISK)
        cameras = ["cam-a", "cam-b", "cam-c"]
        written = [verdict(n, cameras[n % 3]) for n in range(redis_keys.RECENT_MAX + 137)]
        writer = VerdictViewWriter(url, batch=64, linger_s=60)  # flushed by size, then close
        for item in written:
            writer.write(item)
        writer.close()
        assert writer.written == len(written)

        got = read.zrange(redis_keys.RISK_RECENT, 0, -1)
        assert got == newest(written, redis_keys.RECENT_MAX)
        for camera in cameras:
            mine = [v for v in written if v.camera_id == camera]
            got = read.zrange(redis_keys.risk_latest(camera), 0, -1)
            assert got == newest(mine, redis_keys.RISK_PER_CAMERA_MAX), camera
        published = []
        while (message := listener.get_message(timeout=0.5)) is not None:
            if message["type"] == "message":
                published.append(json.loads(message["data"])["frame_id"])
        assert published == [v.frame_id for v in written]

        # the asyncio peer queues the same command on its pipeline (EVAL, no registered script)
        client.flushdb()
        asyncio.run(write_async(url, written[:10]))
        assert read.zrange(redis_keys.RISK_RECENT, 0, -1) == newest(written[:10], 500)


def test_a_verdict_in_its_wire_form_lands_as_the_model_does(tmp_path: Path):
    """The job's operators hand the writer the JSON they made for Kafka (EncodedVerdict)."""
    with throwaway_redis(tmp_path) as url:
        read = replies(redis.Redis.from_url(url))
        written = [verdict(n, "cam-w") for n in range(150)]
        writer = VerdictViewWriter(url, batch=64, linger_s=60)
        for v in written:
            writer.write(EncodedVerdict(v.camera_id, v.to_json().decode(), v.captured_at_ms))
        writer.close()
        assert read.zrange(redis_keys.RISK_RECENT, 0, -1) == newest(written, 500)
        got = read.zrange(redis_keys.risk_latest("cam-w"), 0, -1)
        assert got == newest(written, redis_keys.RISK_PER_CAMERA_MAX)


async def write_async(url: str, verdicts: list[RiskAssessment]) -> None:
    client = aioredis.Redis.from_url(url)
    pipe = client.pipeline(transaction=False)
    queue_verdict_views(pipe, verdicts)
    assert await pipe.execute() == [len(verdicts)]
    await client.aclose()
