"""A Quix Streams application as a peer: the same per-camera windows and heuristic verdicts as
the job, written to the same Redis views, built the way Quix Streams suggests (a
StreamingDataFrame with a tumbling event-time window and `final()`).

Event time is the event's `captured_at_ms` (a timestamp extractor); a window closes when the
partition's newest event time passes its end plus the grace (the job's watermark bound).
Window state lives in Quix's RocksDB store without changelog topics (a benchmark run needs no
recovery, and none are left behind). It runs in its own environment (`.venv-quix`: quixstreams
pins older pydantic and confluent-kafka than the product) with the repository on PYTHONPATH.
A thread writes the status file `benchmarks.scale` reads: events counted by the dataframe,
per partition the offset after the last record handled beside the partition's end.

    PYTHONPATH=. .venv-quix/bin/python -m benchmarks.peers.quix_app --topic scale-abc \\
        --group-id quix-abc --status-file /tmp/quix.json
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from benchmarks.peers.asyncio_app import peer_parser, write_status
from benchmarks.peers.logic import WindowAccumulator, verdicts_of
from udfs.views.redis import StatsViewWriter, VerdictViewWriter
from udfs.windows.stats import CongestionModel

COMMIT_INTERVAL_S = 1.0


class Progress:
    """Counters the dataframe's callbacks bump (one processing thread: no lock needed)."""

    def __init__(self) -> None:
        self.events = 0
        self.late = 0
        self.windows = 0
        self.verdicts = 0
        self.next_offsets: dict[int, int] = {}  # partition -> offset after the last handled


def report(args: argparse.Namespace, progress: Progress, stop: threading.Event) -> None:
    """Every second: the status file (events, per-partition [next offset, end], late, windows,
    verdicts); the end of each partition is read at the same instant as the positions."""
    probe = Consumer({"bootstrap.servers": args.bootstrap, "group.id": args.group_id,
                      "enable.auto.commit": False, "log_level": 3})  # fmt: skip
    try:
        while not stop.wait(1.0):
            done = dict(progress.next_offsets)
            positions = {
                str(p): [offset, probe.get_watermark_offsets(TopicPartition(args.topic, p), 5)[1]]
                for p, offset in done.items()
            }
            doc = {"at": time.time(), "events": progress.events, "late": progress.late,
                   "invalid": 0, "partitions": positions, "windows": progress.windows,
                   "verdicts": progress.verdicts}  # fmt: skip
            write_status(args.status_file, doc)
    finally:
        probe.close()


def build(
    app: Any, args: argparse.Namespace, progress: Progress
) -> tuple[StatsViewWriter, VerdictViewWriter]:
    """The dataframe: count, verdicts per group, tumbling windows to the Redis views."""
    from quixstreams import message_context  # type: ignore[import-not-found]  # .venv-quix

    congestion = CongestionModel(args.capacity, args.free_flow)
    stats_view = StatsViewWriter(args.redis_url, linger_s=0.05)
    verdict_view = VerdictViewWriter(args.redis_url, linger_s=0.05)
    topic = app.topic(
        args.topic, value_deserializer="json", key_deserializer="str",
        timestamp_extractor=lambda value, _headers, _ts, _type: value["captured_at_ms"],
    )  # fmt: skip
    sdf = app.dataframe(topic)

    def seen(doc: dict[str, Any]) -> None:
        context = message_context()
        progress.next_offsets[context.partition] = context.offset + 1
        progress.events += 1
        for verdict in verdicts_of(doc) if doc.get("groups") else ():
            verdict_view.write(verdict)
            progress.verdicts += 1

    def late(*_: Any) -> bool:
        progress.late += 1
        return False  # counted here, not logged per record

    def closed(window: dict[str, Any], camera: str, *_: Any) -> None:
        acc = WindowAccumulator.from_state(window["value"])
        stats_view.write(acc.stats(camera, window["start"], window["end"], congestion))
        progress.windows += 1

    sdf = sdf.update(seen)
    windows = sdf.tumbling_window(
        duration_ms=args.window_s * 1000, grace_ms=int(args.bound_s * 1000), on_late=late
    ).reduce(
        reducer=lambda state, doc: _added(WindowAccumulator.from_state(state), doc),
        initializer=lambda doc: _added(WindowAccumulator(), doc),
    ).final()  # fmt: skip
    windows.update(closed, metadata=True)
    return stats_view, verdict_view


def _added(acc: WindowAccumulator, doc: dict[str, Any]) -> dict[str, Any]:
    acc.add(doc)
    return acc.to_state()


def main(argv: list[str] | None = None) -> None:
    from quixstreams import Application  # .venv-quix only

    args = peer_parser(__doc__).parse_args(argv)
    if args.status_file is None:
        raise SystemExit("--status-file is required")
    progress, stop = Progress(), threading.Event()
    with tempfile.TemporaryDirectory(prefix="quix-state-") as state_dir:
        app = Application(
            broker_address=args.bootstrap, consumer_group=args.group_id,
            auto_offset_reset="earliest", commit_interval=COMMIT_INTERVAL_S,
            consumer_extra_config={"isolation.level": "read_committed"},
            state_dir=state_dir, use_changelog_topics=False, loglevel="WARNING",
            auto_create_topics=False,
        )  # fmt: skip
        views = build(app, args, progress)
        reporter = threading.Thread(target=report, args=(args, progress, stop), daemon=True)
        reporter.start()
        try:
            app.run()  # returns on SIGTERM / SIGINT
        finally:
            stop.set()
            for view in views:
                view.close()


if __name__ == "__main__":
    main()
