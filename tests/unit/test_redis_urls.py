"""Every product path that makes a Redis client from a URL keeps its password and TLS
settings: Kubernetes hands each pod `redis://:<password>@host` (AUTH, docs/deployment.md,
"Security") and a TLS-enabled Redis `rediss://...?ssl_ca_certs=<file>`. Clients connect
lazily, so nothing here needs a server."""

from __future__ import annotations

from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from dashboard import server
from detector.crops import RedisCrops
from jobs.config import JobConfig
from jobs.config_check import _shown
from udfs.views import redis as views

PASSWORD = "s3cr3t-hex-0a1b"
URLS = {
    "auth": f"redis://:{PASSWORD}@traffic-risk-redis:6379/0",
    "auth+tls": f"rediss://:{PASSWORD}@traffic-risk-redis:6379/3?ssl_ca_certs=/etc/ca/ca.crt",
}
CLIENTS: dict[str, Any] = {
    "detector crops": lambda url: RedisCrops(url, ttl_s=60)._client,
    "job stats view": lambda url: views.StatsViewWriter(url)._client,
    "job verdict view": lambda url: views.VerdictViewWriter(url)._client,
    "job alert view": lambda url: views.AlertViewWriter(url)._client,
    "job key-pool health": lambda url: views.KeyPoolHealthWriter(url)._client,
    "dashboard": server.redis_client,
}


@pytest.mark.parametrize("make", CLIENTS.values(), ids=CLIENTS.keys())
@pytest.mark.parametrize("kind", URLS)
def test_password_and_tls_reach_the_connection(make, kind):
    client = make(URLS[kind])
    pool = client.connection_pool
    kwargs = pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["password"]) == \
        ("traffic-risk-redis", 6379, PASSWORD)
    tls = issubclass(pool.connection_class, (redis.SSLConnection, aioredis.SSLConnection))
    assert tls == (kind == "auth+tls")
    if tls:
        assert kwargs["ssl_ca_certs"] == "/etc/ca/ca.crt"
        assert kwargs["db"] == 3


def test_the_job_summary_never_prints_the_password():
    for url in URLS.values():
        cfg = JobConfig.model_validate({"redis_url": url})
        shown = _shown("redis_url", cfg.redis_url)
        assert PASSWORD not in shown
        assert shown.startswith(url.split(":", 1)[0] + "://:***@traffic-risk-redis:6379/")
