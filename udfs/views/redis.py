"""Idempotent Redis writes of live views (window statistics, verdicts, alerts, incidents,
key-pool health), surviving Redis outages.

Kafka is the system of record; Redis holds live views. A write that fails because Redis
is down is kept in a bounded in-memory backlog and retried before the next write, so an
outage neither fails the job nor blocks the Kafka side.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, Generic, NamedTuple, TypeVar

import redis

from contract import Incident, RiskAssessment, TrafficAlert, WindowStats, redis_keys

T = TypeVar("T")

log = logging.getLogger(__name__)

# Only move `stats:latest` forward: a replay after recovery must not regress the view.
_SET_IF_NEWER = """
local current = redis.call('GET', KEYS[1])
if current then
  local ok, doc = pcall(cjson.decode, current)
  if ok and tonumber(doc['window_start_ms']) > tonumber(ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""


def queue_stats_view(pipe: Any, stats: WindowStats, set_if_newer: Any = None) -> None:
    """Queue the view writes of one WindowStats on a pipeline (sync or asyncio: both buffer
    commands the same way): bounded series, active cameras, latest (only forward), pub/sub.
    ``set_if_newer``: the registered `_SET_IF_NEWER` script; else it is sent with EVAL."""
    doc = stats.to_json()
    series = redis_keys.stats_series(stats.camera_id)
    pipe.zremrangebyscore(series, stats.window_start_ms, stats.window_start_ms)
    pipe.zadd(series, {doc: stats.window_start_ms})
    pipe.zremrangebyrank(series, 0, -redis_keys.STATS_SERIES_MAX - 1)
    pipe.zadd(redis_keys.CAMERAS_ACTIVE, {stats.camera_id: stats.window_end_ms}, gt=True)
    latest = redis_keys.stats_latest(stats.camera_id)
    if set_if_newer is None:
        pipe.eval(_SET_IF_NEWER, 1, latest, doc, stats.window_start_ms)
    else:
        set_if_newer(keys=[latest], args=[doc, stats.window_start_ms], client=pipe)
    pipe.publish(redis_keys.CHANNEL_STATS, doc)


# Many verdicts in one command: each added to the recent list and its camera's list and
# published, then every list touched trimmed once (the same members survive as trimming after
# each add: a member once below the bound never climbs back). One EVAL per batch instead of
# five commands per verdict: packing those took ~a quarter of the Python workers' time.
# KEYS: recent list, then each verdict's camera list. ARGV: recent bound, camera bound,
# channel, then per verdict its JSON and score.
_ADD_VERDICTS = """
local recent_keep, camera_keep = tonumber(ARGV[1]), tonumber(ARGV[2])
local touched = {}
for i = 2, #KEYS do
  local doc, score = ARGV[2 * i], ARGV[2 * i + 1]
  redis.call('ZADD', KEYS[1], score, doc)
  redis.call('ZADD', KEYS[i], score, doc)
  touched[KEYS[i]] = true
  redis.call('PUBLISH', ARGV[3], doc)
end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -recent_keep - 1)
for key in pairs(touched) do redis.call('ZREMRANGEBYRANK', key, 0, -camera_keep - 1) end
return #KEYS - 1
"""


class EncodedVerdict(NamedTuple):
    """A verdict in its wire form already (its producer made the JSON for Kafka)."""

    camera_id: str
    doc: str | bytes
    captured_at_ms: int


def queue_verdict_views(
    pipe: Any, verdicts: Sequence[RiskAssessment | EncodedVerdict], add_verdicts: Any = None
) -> None:
    """Queue the view writes of verdicts, in order, as one command (`_ADD_VERDICTS`): each in
    the bounded recent list (all cameras) and its camera's bounded latest list, published.
    ``add_verdicts``: the registered script; else it is sent with EVAL."""
    if not verdicts:
        return
    keys = [redis_keys.RISK_RECENT, *(redis_keys.risk_latest(v.camera_id) for v in verdicts)]
    args: list[bytes | str | int] = [
        redis_keys.RECENT_MAX,
        redis_keys.RISK_PER_CAMERA_MAX,
        redis_keys.CHANNEL_RISK,
    ]
    for verdict in verdicts:
        doc = verdict.doc if isinstance(verdict, EncodedVerdict) else verdict.to_json()
        args += [doc, verdict.captured_at_ms]
    if add_verdicts is None:
        pipe.eval(_ADD_VERDICTS, len(keys), *keys, *args)
    else:
        add_verdicts(keys=keys, args=args, client=pipe)


class _BacklogWriter(Generic[T]):
    """Writes items in order, many per pipeline round trip; keeps a bounded backlog while Redis
    is unreachable.

    With `linger_s` 0 every write is flushed at once (tests, low rates). With `linger_s` > 0
    writes are batched: flushed when `batch` items wait, and by a daemon thread every
    `linger_s`, so a quiet stream's last item still lands within that time. One round trip
    per batch instead of per item is what lets the views keep up with every verdict.
    """

    def __init__(
        self, url: str, backlog_max: int = 100_000, batch: int = 500, linger_s: float = 0.0
    ) -> None:
        self._client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._backlog: deque[T] = deque(maxlen=backlog_max)
        self._batch = batch
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self.written = 0
        self.dropped = 0  # backlog overflow during a long outage (Kafka still has them)
        self._failing = False
        self._linger_s = linger_s
        if linger_s > 0:
            threading.Thread(target=self._flush_every, daemon=True, name="redis-views").start()

    @property
    def pending(self) -> int:
        return len(self._backlog)

    @property
    def stuck(self) -> int:
        """Writes held back by a failing Redis (0 while it answers, even mid-batch): what
        the `redis_*_pending` gauges report, since PyFlink samples gauges only per bundle."""
        return len(self._backlog) if self._failing else 0

    def write(self, item: T) -> None:
        with self._lock:
            if len(self._backlog) == self._backlog.maxlen:
                self.dropped += 1
            self._backlog.append(item)
            if self._linger_s == 0 or len(self._backlog) >= self._batch:
                self._flush_locked()

    def flush(self) -> bool:
        """Write the backlog in order; False (and keep it) while Redis is unreachable."""
        with self._lock:
            return self._flush_locked()

    def _flush_locked(self) -> bool:
        try:
            while self._backlog:
                chunk = [self._backlog[i] for i in range(min(self._batch, len(self._backlog)))]
                pipe = self._client.pipeline(transaction=False)
                self._queue_all(chunk, pipe)
                pipe.execute()
                for _ in chunk:
                    self._backlog.popleft()
                self.written += len(chunk)
        except redis.RedisError as err:
            self._failing = True
            log.warning("redis unavailable, %d writes pending: %s", len(self._backlog), err)
            return False
        self._failing = False
        return True

    def _flush_every(self) -> None:
        while not self._closed.wait(self._linger_s):
            if self._backlog:
                self.flush()

    def _queue(self, item: T, pipe: redis.client.Pipeline) -> None:
        raise NotImplementedError

    def _queue_all(self, chunk: list[T], pipe: redis.client.Pipeline) -> None:
        for item in chunk:
            self._queue(item, pipe)

    def close(self) -> None:
        self._closed.set()
        self.flush()
        self._client.close()


class StatsViewWriter(_BacklogWriter[WindowStats]):
    """Writes latest value, bounded series and a pub/sub notice per WindowStats."""

    def __init__(self, url: str, **options: float) -> None:
        super().__init__(url, **options)  # type: ignore[arg-type]
        self._set_if_newer = self._client.register_script(_SET_IF_NEWER)

    def _queue(self, stats: WindowStats, pipe: redis.client.Pipeline) -> None:
        queue_stats_view(pipe, stats, self._set_if_newer)


class VerdictViewWriter(_BacklogWriter[RiskAssessment | EncodedVerdict]):
    """Verdicts: bounded recent list (all cameras), bounded latest per camera, pub/sub."""

    def __init__(self, url: str, **options: float) -> None:
        super().__init__(url, **options)  # type: ignore[arg-type]
        self._add_verdicts = self._client.register_script(_ADD_VERDICTS)

    def _queue_all(
        self, chunk: list[RiskAssessment | EncodedVerdict], pipe: redis.client.Pipeline
    ) -> None:
        queue_verdict_views(pipe, chunk, self._add_verdicts)


class AlertViewWriter(_BacklogWriter[TrafficAlert]):
    """Alerts: bounded recent list scored by their end time, pub/sub."""

    def _queue(self, alert: TrafficAlert, pipe: redis.client.Pipeline) -> None:
        doc = alert.to_json()
        pipe.zadd(redis_keys.ALERTS_RECENT, {doc: alert.end_ms})
        pipe.zremrangebyrank(redis_keys.ALERTS_RECENT, 0, -redis_keys.RECENT_MAX - 1)
        pipe.publish(redis_keys.CHANNEL_ALERTS, doc)


# An incident's newest revision wins: an older one (a replay after recovery, or revisions
# that crossed) changes nothing, not even the sets, so a closed incident never reopens.
# KEYS: incident, open set, recent set, camera set. ARGV: doc, revision, ttl s, status,
# score (updated ms), id, keep (sets' bound), channel.
_INCIDENT_IF_NEWER = """
local current = redis.call('GET', KEYS[1])
if current then
  local ok, doc = pcall(cjson.decode, current)
  if ok and tonumber(doc['revision']) >= tonumber(ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
if ARGV[4] == 'open' then
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[6])
else
  redis.call('ZREM', KEYS[2], ARGV[6])
end
for i = 2, 4 do
  if i > 2 then redis.call('ZADD', KEYS[i], ARGV[5], ARGV[6]) end
  redis.call('ZREMRANGEBYRANK', KEYS[i], 0, -tonumber(ARGV[7]) - 1)
end
redis.call('PUBLISH', ARGV[8], ARGV[1])
return 1
"""


class IncidentViewWriter(_BacklogWriter[Incident]):
    """Incidents: `incident:<id>` (newest revision, TTL), the open, recent and per-camera id
    sets (bounded), pub/sub; idempotent and never regressing (`_INCIDENT_IF_NEWER`)."""

    def __init__(self, url: str, **options: float) -> None:
        super().__init__(url, **options)  # type: ignore[arg-type]
        self._if_newer = self._client.register_script(_INCIDENT_IF_NEWER)

    def _queue(self, incident: Incident, pipe: redis.client.Pipeline) -> None:
        keys = [
            redis_keys.incident(incident.incident_id),
            redis_keys.INCIDENTS_OPEN,
            redis_keys.INCIDENTS_RECENT,
            redis_keys.incidents_of_camera(incident.camera_id),
        ]
        args: list[bytes | str | int] = [
            incident.to_json(),
            incident.revision,
            redis_keys.INCIDENT_TTL_S,
            incident.status,
            incident.updated_at_ms,
            incident.incident_id,
            redis_keys.RECENT_MAX,
            redis_keys.CHANNEL_INCIDENTS,
        ]
        self._if_newer(keys=keys, args=args, client=pipe)


class KeyPoolHealthWriter:
    """`keypool:health` hash: key id (plus `/slot` with several pool shards) -> counters JSON.
    Best effort: a live view, rewritten every few seconds, so an outage just skips writes."""

    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def write(self, slot: int | None, health: Mapping[str, Mapping[str, object]]) -> None:
        suffix = "" if slot is None else f"/{slot}"
        fields = {f"{k}{suffix}": json.dumps(v, sort_keys=True) for k, v in health.items()}
        try:
            if fields:
                self._client.hset(redis_keys.KEYPOOL_HEALTH, mapping=fields)
        except redis.RedisError as err:
            log.warning("redis unavailable, key-pool health not written: %s", err)

    def close(self) -> None:
        self._client.close()
