from __future__ import annotations

import json

import pytest

from udfs.risk.config import KeyPoolConfig, KeySpec, RiskConfig
from udfs.risk.keypool import KeyPool, key_id_for, load_keys, read_secret_strings

T0 = 1_700_000_000_000.0  # 2023-11-14T22:13:20Z
SECRETS = ["sk-test-alpha-0001", "sk-test-beta-0002"]


def pool(rpm: int = 60, tpm: int = 1_000_000, cap: float = 100.0, **cfg: object) -> KeyPool:
    spec = KeySpec(requests_per_min=rpm, tokens_per_min=tpm, daily_spend_cap_usd=cap)
    return KeyPool({"a": spec, "b": spec}, KeyPoolConfig(**cfg))  # type: ignore[arg-type]


def test_requests_are_paced_to_the_per_minute_budget() -> None:
    p = pool(rpm=60, burst_s=0)
    starts = [p.acquire(T0, "high", 10) for _ in range(4)]
    assert [(s.key_id, round(s.start_ms - T0)) for s in starts if s] == [
        ("a", 0),
        ("b", 0),
        ("a", 1000),  # (60 s + 1 ms) / 60
        ("b", 1000),
    ]


def test_token_budget_paces_too() -> None:
    p = pool(rpm=6000, tpm=6000, burst_s=0)  # 100 tokens/s
    p.acquire(T0, "high", 500)
    p.acquire(T0, "high", 500)
    lease = p.acquire(T0, "high", 500)
    assert lease is not None
    assert lease.start_ms - T0 == pytest.approx(5000.0)


def test_an_idle_key_catches_up_burst_s_of_its_budget_then_paces_slower() -> None:
    p = pool(rpm=60, burst_s=2.0)  # one request per (60 + 2) / 60 s = 1.033 s
    interval = 62_001 / 60
    starts = [s.start_ms - T0 for _ in range(10) if (s := p.acquire(T0, "high", 1))]
    per_key = sorted(starts)[::2]  # keys a and b alternate
    assert per_key[:2] == [0.0, 0.0]  # 1 + burst_s // interval requests at once
    assert per_key[2] == pytest.approx(2 * interval - 2000, abs=0.01)  # then the slowed pace
    assert per_key[3] - per_key[2] == pytest.approx(interval, abs=0.01)
    assert per_key[4] - per_key[3] == pytest.approx(interval, abs=0.01)


@pytest.mark.parametrize("burst_s", [0.0, 1.0, 5.0])
def test_no_sixty_second_window_exceeds_the_per_minute_limit(burst_s: float) -> None:
    """Pauses (as when PyFlink drains its async operator) followed by floods: the starts of
    each key, in any window (t - 60 s, t], never exceed requests_per_min (the stub's rule)."""
    import random

    rpm = 120
    p = pool(rpm=rpm, burst_s=burst_s, max_wait_s={"high": 5.0, "medium": 5.0, "low": 5.0})
    starts: dict[str, list[float]] = {"a": [], "b": []}
    rng, now = random.Random(4), T0
    while now < T0 + 600_000:
        now += rng.choice([100.0] * 9 + [4000.0])  # mostly busy, sometimes a pause
        for _ in range(rng.randint(2, 6)):  # ~8 requests/s offered against 2 x 2 allowed
            lease = p.acquire(now, "high", 1)
            if lease is not None:
                starts[lease.key_id].append(lease.start_ms)
    for times in starts.values():
        times.sort()
        j = 0
        for i, t in enumerate(times):
            while times[j] <= t - 60_000:
                j += 1
            assert i - j + 1 <= rpm
    total = sum(len(t) for t in starts.values())
    assert total >= 0.9 * 2 * rpm * 10 * 60 / (60 + burst_s)  # and the budget is used


def test_tier_max_wait_refuses_low_before_high() -> None:
    p = pool(rpm=60, max_wait_s={"high": 20.0, "medium": 10.0, "low": 2.0})
    for _ in range(6):  # both keys booked 3 s ahead
        assert p.acquire(T0, "high", 1) is not None
    assert p.acquire(T0, "low", 1) is None
    assert p.acquire(T0, "high", 1) is not None


def test_429_cools_the_key_down_for_retry_after_and_failover_skips_it() -> None:
    p = pool()
    p.rate_limited("a", T0, retry_after_s=30)
    assert p.keys["a"].rate_limited == 1
    assert p.next_for_failover({"b"}, T0 + 1000) is None
    assert p.next_for_failover(set(), T0 + 1000) == "b"
    lease = p.acquire(T0 + 1000, "high", 1)
    assert lease is not None and lease.key_id == "b"
    assert "a" not in lease.alternates
    assert p.next_for_failover({"b"}, T0 + 31_000) == "a"


def test_429_without_retry_after_uses_default_cooldown() -> None:
    p = pool(default_cooldown_s=7)
    p.rate_limited("a", T0, None)
    assert p.keys["a"].cooldown_until_ms == T0 + 7000


def test_daily_spend_cap_stops_a_key_until_the_next_utc_day() -> None:
    p = pool(cap=0.01, usd_per_1k_tokens=1.0)  # 10 tokens a day per key
    assert p.acquire(T0, "high", 8) is not None
    assert p.acquire(T0, "high", 8) is not None
    assert p.acquire(T0, "high", 8) is None  # both keys capped
    tomorrow = T0 + 86_400_000
    lease = p.acquire(tomorrow, "high", 8)
    assert lease is not None
    assert p.keys[lease.key_id].spend_usd == pytest.approx(0.008)


def test_usage_and_errors_are_counted() -> None:
    p = pool(usd_per_1k_tokens=1.0)
    p.failed("b")
    p.failed("b")
    assert (p.keys["b"].errors, p.keys["b"].consecutive_errors) == (2, 2)
    p.record_usage("b", 400)
    b = p.keys["b"]
    assert (b.requests, b.tokens, b.consecutive_errors) == (3, 400, 0)
    assert b.spend_usd == pytest.approx(0.4)


def test_state_round_trip_keeps_cooldown_and_spend_without_secrets() -> None:
    cfg = RiskConfig()
    _, specs = load_keys(cfg, {"TRAFFIC_LLM_API_KEYS": ",".join(SECRETS)})
    p = KeyPool(specs, cfg.pool)
    key = key_id_for(SECRETS[0])
    p.acquire(T0, "high", 900)
    p.rate_limited(key, T0, 42)
    raw = json.dumps(p.state())
    assert all(secret not in raw for secret in SECRETS)
    restored = KeyPool(specs, cfg.pool).restore(json.loads(raw))
    assert restored.keys[key].cooldown_until_ms == T0 + 42_000
    assert restored.state() == p.state()
    assert restored.next_for_failover(set(), T0 + 1000) == key_id_for(SECRETS[1])


def test_restore_drops_removed_keys_and_starts_new_ones_fresh() -> None:
    p = pool()
    p.acquire(T0, "high", 5)
    state = p.state()
    spec = KeySpec()
    other = KeyPool({"a": spec, "c": spec}, KeyPoolConfig()).restore(state)
    assert set(other.keys) == {"a", "c"}
    assert other.keys["a"].requests == 1 and other.keys["c"].requests == 0


def test_keys_from_env_and_file_with_names_and_hashed_ids(tmp_path) -> None:
    cfg = RiskConfig.model_validate({"pool": {"keys": [{"name": "primary"}]}})
    secrets, specs = load_keys(cfg, {"TRAFFIC_LLM_API_KEYS": " sk-one , sk-two "})
    assert list(specs) == ["primary", key_id_for("sk-two")]
    assert key_id_for("sk-two").startswith("k-") and "sk-two" not in key_id_for("sk-two")
    assert "sk-one" not in repr(secrets) and "sk-one" not in str(secrets)
    assert secrets.header("primary") == "Bearer sk-one"
    path = tmp_path / "keys.txt"
    path.write_text("# team keys\nsk-file-1\nsk-file-2\n")
    assert read_secret_strings(cfg, {"TRAFFIC_LLM_API_KEYS_FILE": str(path)}) == [
        "sk-file-1",
        "sk-file-2",
    ]
    assert read_secret_strings(cfg, {}) == []
    with pytest.raises(ValueError, match="duplicate"):
        load_keys(cfg, {"TRAFFIC_LLM_API_KEYS": "sk-x,sk-y,sk-y"})


def test_health_names_each_keys_share_of_its_spend_cap() -> None:
    """The dashboard shows a key as exhausted once spend reaches the cap it is given here."""
    specs = {"ka": KeySpec(daily_spend_cap_usd=10.0), "kb": KeySpec(daily_spend_cap_usd=4.0)}
    health = KeyPool(specs, KeyPoolConfig(), share=0.5).health()
    assert {k: v["daily_spend_cap_usd"] for k, v in health.items()} == {"ka": 5.0, "kb": 2.0}
    assert health["ka"]["spend_usd"] == 0.0 and "secret" not in str(health)
