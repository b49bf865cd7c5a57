"""Idempotent Redis writes of window statistics, surviving Redis outages.

Kafka is the system of record; Redis holds live views. A write that fails because Redis
is down is kept in a bounded in-memory backlog and retried before the next write, so an
outage neither fails the job nor blocks the Kafka side.
"""

from __future__ import annotations

import logging
from collections import deque

import redis

from contract import WindowStats, redis_keys

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


class StatsViewWriter:
    """Writes latest value, bounded series and a pub/sub notice per WindowStats."""

    def __init__(self, url: str, backlog_max: int = 100_000) -> None:
        self._client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._set_if_newer = self._client.register_script(_SET_IF_NEWER)
        self._backlog: deque[WindowStats] = deque(maxlen=backlog_max)
        self.written = 0
        self.dropped = 0  # backlog overflow during a long outage (Kafka still has them)

    @property
    def pending(self) -> int:
        return len(self._backlog)

    def write(self, stats: WindowStats) -> None:
        if len(self._backlog) == self._backlog.maxlen:
            self.dropped += 1
        self._backlog.append(stats)
        self.flush()

    def flush(self) -> bool:
        """Write the backlog in order; False (and keep it) while Redis is unreachable."""
        try:
            while self._backlog:
                self._write_one(self._backlog[0])
                self._backlog.popleft()
                self.written += 1
        except redis.RedisError as err:
            log.warning("redis unavailable, %d stats pending: %s", len(self._backlog), err)
            return False
        return True

    def _write_one(self, stats: WindowStats) -> None:
        doc = stats.to_json()
        pipe = self._client.pipeline(transaction=True)
        series = redis_keys.stats_series(stats.camera_id)
        pipe.zremrangebyscore(series, stats.window_start_ms, stats.window_start_ms)
        pipe.zadd(series, {doc: stats.window_start_ms})
        pipe.zremrangebyrank(series, 0, -redis_keys.STATS_SERIES_MAX - 1)
        pipe.sadd(redis_keys.CAMERAS, stats.camera_id)
        self._set_if_newer(
            keys=[redis_keys.stats_latest(stats.camera_id)],
            args=[doc, stats.window_start_ms],
            client=pipe,
        )
        pipe.publish(redis_keys.CHANNEL_STATS, doc)
        pipe.execute()

    def close(self) -> None:
        self.flush()
        self._client.close()
