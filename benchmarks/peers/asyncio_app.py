"""The seed's first-stage design as a peer: one asyncio process that consumes
`detection-results` with confluent-kafka, keeps per-camera windows in memory and writes the
windows and heuristic verdicts to Redis (redis.asyncio), as the job's views do.

No checkpoints: its state is lost on a crash and it commits offsets automatically
(at-least-once at best). It reports its progress to a status file every second, which
`benchmarks.scale` reads like the job's Flink metrics.

    .venv/bin/python -m benchmarks.peers.asyncio_app --topic scale-abc --group-id peer-abc \\
        --status-file /tmp/peer.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from confluent_kafka import Consumer, TopicPartition

from benchmarks.peers.logic import Output, PeerCore
from stack.config import Endpoints
from udfs.views.redis import queue_stats_view, queue_verdict_views
from udfs.windows.stats import CongestionModel

BATCH = 1000  # records per consume() call
MAX_WRITES_IN_FLIGHT = 4  # Redis pipelines overlapping the next batch's processing


def positions(consumer: Consumer) -> dict[str, list[int]]:
    """Partition -> [next offset to read, end of the partition], read at one instant, so
    `benchmarks.scale` can tell what is still pending however stale the file is."""
    out: dict[str, list[int]] = {}
    assignment = consumer.assignment()
    for tp in consumer.position(assignment) if assignment else []:
        _, high = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), 2.0)
        out[str(tp.partition)] = [max(0, tp.offset), high]
    return out


def status(core: PeerCore, consumer: Consumer, written: dict[str, int]) -> dict[str, Any]:
    """Progress as `benchmarks.scale` reads it: events read, per-partition positions."""
    return {
        "at": time.time(), "events": core.events, "late": core.late, "invalid": core.invalid,
        "partitions": positions(consumer), **written,
    }  # fmt: skip


def write_status(path: Path, doc: dict[str, Any]) -> None:
    temp = path.with_suffix(".tmp")
    temp.write_text(json.dumps(doc))
    os.replace(temp, path)


async def write(client: aioredis.Redis, out: Output, written: dict[str, int]) -> None:
    """One pipeline per batch: the same commands as the job's view writers."""
    pipe = client.pipeline(transaction=False)
    for stats in out.windows:
        queue_stats_view(pipe, stats)
    queue_verdict_views(pipe, out.verdicts)
    await pipe.execute()
    written["windows"] += len(out.windows)
    written["verdicts"] += len(out.verdicts)


async def run(args: argparse.Namespace) -> None:
    consumer = Consumer({
        "bootstrap.servers": args.bootstrap, "group.id": args.group_id,
        "auto.offset.reset": "earliest", "isolation.level": "read_committed",
        "enable.auto.commit": True, "log_level": 3,
    })  # fmt: skip
    # Fixed partitions per process (partition % workers == worker): no rebalance moves a
    # partition away from the windows and watermark this process holds for it.
    partitions = consumer.list_topics(args.topic, timeout=10).topics[args.topic].partitions
    consumer.assign([
        TopicPartition(args.topic, p) for p in sorted(partitions)
        if p % args.workers == args.worker
    ])  # fmt: skip
    client = aioredis.Redis.from_url(args.redis_url)
    core = PeerCore(args.window_s, args.bound_s, CongestionModel(args.capacity, args.free_flow))
    written = {"windows": 0, "verdicts": 0}
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    in_flight: set[asyncio.Task[None]] = set()
    next_status = 0.0
    try:
        while not stop.is_set():
            messages = await loop.run_in_executor(None, consumer.consume, BATCH, 0.2)
            out = core.add((m.partition() or 0, m.value()) for m in messages if not m.error())
            if out.windows or out.verdicts:
                while len(in_flight) >= MAX_WRITES_IN_FLIGHT:
                    await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                task = asyncio.create_task(write(client, out, written))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            if args.status_file and time.monotonic() >= next_status:
                doc = await loop.run_in_executor(None, status, core, consumer, written)
                write_status(args.status_file, doc)
                next_status = time.monotonic() + 1.0
    finally:
        if in_flight:
            await asyncio.gather(*in_flight)
        consumer.close()
        await client.aclose()


def peer_parser(description: str | None) -> argparse.ArgumentParser:
    """The options every peer takes: where to read and write, the job's window settings."""
    endpoints = Endpoints.from_env()
    p = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--bootstrap", default=endpoints.kafka_bootstrap, help="Kafka bootstrap")
    p.add_argument("--topic", required=True, help="detection events to read")
    p.add_argument("--group-id", required=True, help="consumer group (processes share it)")
    p.add_argument("--redis-url", default=endpoints.redis_url, help="where the views go")
    p.add_argument("--window-s", type=int, default=10, help="tumbling window length")
    p.add_argument("--bound-s", type=float, default=2.0, help="watermark bound (Quix: grace)")
    p.add_argument("--capacity", type=float, default=20.0, help="congestion: vehicles/frame")
    p.add_argument("--free-flow", type=float, default=50.0, help="congestion: free-flow px/s")
    p.add_argument("--status-file", type=Path, help="progress JSON, rewritten every second")
    return p


def parser() -> argparse.ArgumentParser:
    p = peer_parser(__doc__)
    p.add_argument("--worker", type=int, default=0, help="this process's number, from 0")
    p.add_argument("--workers", type=int, default=1, help="processes sharing the topic")
    return p


def main(argv: list[str] | None = None) -> None:
    asyncio.run(run(parser().parse_args(argv)))


if __name__ == "__main__":
    main()
