"""Where a secret could end up after a job ran, and the check that it is in none of them.

Each function returns {place: bytes}; `assert_absent` names the first place that holds a
secret. Used by the tests that give the job real-looking API keys.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import redis

from stack.paths import STATE
from tests.kafka_io import read_all

# Folders of the stack that hold data, not logs: topics are read through Kafka, the
# benchmarks' cache and the jars are no output of a job.
NOT_LOGS = ("kafka/data", "bench-cache", "flink/lib", "flink/checkpoints", "flink/savepoints")


def files_under(folder: Path) -> dict[str, bytes]:
    """Every regular file below ``folder`` (logs, checkpoints, state)."""
    return {str(p): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _link_new_files(folder: Path, into: Path) -> None:
    for path in folder.rglob("*"):
        target = into / path.relative_to(folder)
        if path.is_file() and not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError, FileExistsError):
                os.link(path, target)


@contextlib.contextmanager
def kept(folder: Path, into: Path) -> Iterator[Path]:
    """Hard-link every file that appears below ``folder`` into ``into`` while the block runs:
    a job that finishes deletes its checkpoints (retained ones only survive a cancel or a
    failure); the links keep each file's content to be searched. Yields ``into``."""
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.05):
            _link_new_files(folder, into)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield into
    finally:
        stop.set()
        watcher.join()


def stack_logs(state: Path = STATE) -> dict[str, bytes]:
    """Every log file of the local stack (`.stack/`: Kafka, Redis, Flink daemons, clients)."""
    skip = [state / part for part in NOT_LOGS]
    return {
        name: data
        for name, data in files_under(state).items()
        if not any(Path(name).is_relative_to(folder) for folder in skip)
    }


def topics(bootstrap: str, names: Iterable[str]) -> dict[str, bytes]:
    """Every record of ``names``, aborted transactions included (read_uncommitted)."""
    found: dict[str, bytes] = {}
    for topic in names:
        records = read_all(bootstrap, topic, idle_s=2, committed_only=False)
        found[f"topic {topic}"] = b"\n".join((k or b"") + b"\t" + (v or b"") for k, v in records)
    return found


def redis_value(client: Any, key: bytes) -> bytes:
    """A key's value as bytes, read by its type (DUMP would compress long strings). The
    client is typed Any: redis-py's sync replies are typed as maybe-awaitables."""
    kind = client.type(key).decode()
    reads = {
        "string": lambda: [client.get(key)],
        "hash": lambda: [x for kv in client.hgetall(key).items() for x in kv],
        "list": lambda: client.lrange(key, 0, -1),
        "set": lambda: sorted(client.smembers(key)),
        "zset": lambda: client.zrange(key, 0, -1),
        "stream": lambda: [repr(entry).encode() for entry in client.xrange(key)],
    }
    assert kind in reads or kind == "none", f"unexpected Redis type {kind} of {key!r}"
    return b"\n".join(x or b"" for x in reads[kind]()) if kind in reads else b""


def redis_contents(url: str) -> dict[str, bytes]:
    """Every key of the Redis database with its value, whatever its type."""
    client = redis.Redis.from_url(url)
    return {
        f"redis key {key!r}": key + b"\t" + redis_value(client, key)
        for key in client.scan_iter(count=1000)
    }


def assert_absent(secrets: Iterable[str], places: dict[str, bytes]) -> None:
    """No secret in any place; the message names the place, never the secret."""
    for secret in secrets:
        holders = [name for name, data in places.items() if secret.encode() in data]
        assert not holders, f"an API key leaked into {holders[:5]}"
