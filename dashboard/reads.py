"""The dashboard's Redis reads: every key a snapshot, a health tick or a camera page needs,
in as few round trips as possible. The values go to the pure functions of `views`,
`history` and `incidents` undecoded."""

from __future__ import annotations

import time
from typing import Any

import redis.asyncio as aioredis

from contract import redis_keys
from dashboard import history, incidents, units, views


def now_ms() -> int:
    return int(time.time() * 1000)


async def camera_ids(client: aioredis.Redis) -> list[str]:
    """The MAX_CAMERAS cameras with the newest windows, by id: with thousands of cameras the
    page shows those still reporting, not the first ids of the alphabet."""
    newest = await client.zrevrange(redis_keys.CAMERAS_ACTIVE, 0, views.MAX_CAMERAS - 1)
    return sorted(c.decode() for c in newest)


async def read_view(client: aioredis.Redis) -> views.RedisView:
    """Every Redis key the snapshot needs, in four round trips."""
    cameras = await camera_ids(client)
    pipe = client.pipeline(transaction=False)
    for camera in cameras:
        pipe.get(redis_keys.stats_latest(camera))
        pipe.zrange(redis_keys.stats_series(camera), -views.SERIES_POINTS, -1)
        pipe.zrevrange(redis_keys.risk_latest(camera), 0, views.PICTURE_CANDIDATES - 1)
    pipe.zrevrange(redis_keys.ALERTS_RECENT, 0, incidents.ALERT_GROUP_SOURCE - 1)
    pipe.zrevrange(redis_keys.RISK_RECENT, 0, views.RECENT_ITEMS - 1)
    pipe.hgetall(redis_keys.KEYPOOL_HEALTH)
    pipe.zrevrange(redis_keys.INCIDENTS_OPEN, 0, incidents.MAX_OPEN_INCIDENTS - 1)
    pipe.exists(redis_keys.INCIDENTS_OPEN, redis_keys.INCIDENTS_RECENT)
    found = await pipe.execute()
    n = 3 * len(cameras)
    view = views.RedisView(
        latest=dict(zip(cameras, found[0:n:3], strict=True)),
        series=dict(zip(cameras, found[1:n:3], strict=True)),
        verdicts=dict(zip(cameras, found[2:n:3], strict=True)),
        alerts=found[n], risks=found[n + 1], keypool=found[n + 2], incident_keys=found[n + 4] > 0,
    )  # fmt: skip
    view.incidents, view.actions = await read_incidents(client, [i.decode() for i in found[n + 3]])
    view.crops_stored = await stored_crops(client, view.crop_candidates())
    return view


async def read_incidents(
    client: aioredis.Redis, ids: list[str]
) -> tuple[list[bytes | None], list[bytes | None]]:
    """The incidents' newest revisions and the operator's actions on them, in one trip."""
    if not ids:
        return [], []
    pipe = client.pipeline(transaction=False)
    for incident_id in ids:
        pipe.get(redis_keys.incident(incident_id))
        pipe.get(redis_keys.incident_action(incident_id))
    found = await pipe.execute()
    return found[0::2], found[1::2]


async def stored_crops(client: aioredis.Redis, shas: list[str]) -> set[str]:
    valid = [s for s in dict.fromkeys(shas) if views.SHA256_RE.match(s)]
    if not valid:
        return set()
    pipe = client.pipeline(transaction=False)
    for sha in valid:
        pipe.exists(redis_keys.crop(sha))
    return {sha for sha, n in zip(valid, await pipe.execute(), strict=True) if n}


async def read_health(client: aioredis.Redis, rates: units.RateMeter) -> dict[str, Any]:
    cameras = await camera_ids(client)
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(redis_keys.KEYPOOL_HEALTH)
    for camera in cameras:
        pipe.get(redis_keys.stats_latest(camera))
    keypool, *latest = await pipe.execute()
    at = now_ms()
    for entry in views.public_keypool(keypool):
        if isinstance(entry.get("requests"), int):
            rates.observe(str(entry["key_id"]), at, entry["requests"])
    return views.health_message(keypool, latest, at, rates.all_per_minute())


async def read_camera(client: aioredis.Redis, camera_id: str) -> history.CameraRead:
    newest = await client.zrevrange(redis_keys.stats_series(camera_id), 0, 0)
    newest_doc = views.decode_json(newest[0]) if newest else None
    end = newest_doc.get("window_end_ms") if newest_doc else None
    from_ms, to_ms = history.window_of_interest(end if isinstance(end, int) else None, now_ms())
    pipe = client.pipeline(transaction=False)
    pipe.zrangebyscore(redis_keys.stats_series(camera_id), from_ms, "+inf")
    pipe.zrevrangebyscore(redis_keys.risk_latest(camera_id), "+inf", from_ms)
    pipe.zrevrange(redis_keys.incidents_of_camera(camera_id), 0,
                   history.MAX_CAMERA_INCIDENTS - 1)  # fmt: skip
    windows, verdicts, ids = await pipe.execute()
    found, acted = await read_incidents(client, [i.decode() for i in ids])
    read = history.CameraRead(camera_id, from_ms, to_ms, windows, verdicts, found, acted)
    read.crops_stored = await stored_crops(client, read.crop_candidates())
    return read
