"""Redis replies typed for tests (redis-py's sync client).

redis-py declares each command once for its sync and asyncio clients, returning
``Awaitable[Any] | Any``; a sync client returns the reply itself. ``replies(client)`` is the
same client, typed by the replies of the read commands the tests use.
"""

from __future__ import annotations

from typing import Protocol, cast

import redis


class Replies(Protocol):
    """Read commands of a sync client without ``decode_responses``: replies are bytes."""

    def get(self, name: str) -> bytes | None: ...
    def ttl(self, name: str) -> int: ...
    def zcard(self, name: str) -> int: ...
    def zscore(self, name: str, value: str) -> float | None: ...
    def zrange(self, name: str, start: int, end: int) -> list[bytes]: ...
    def hgetall(self, name: str) -> dict[bytes, bytes]: ...


def replies(client: redis.Redis) -> Replies:
    return cast(Replies, client)
