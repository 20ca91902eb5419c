"""Per-key figures of the stats snapshot: /metrics' `keys` section and the Prometheus series
(label key = the key's name, so the series count is bounded by the number of keys)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from frontdoor.monitoring.metrics_json import metrics
from frontdoor.monitoring.prometheus import render
from protos import controller_pb2 as cpb
from protos import keys_pb2


def snapshot() -> cpb.StatsSnapshot:
    today = keys_pb2.KeyUsage(
        requests=4,
        input_tokens=100,
        output_tokens=50,
        cache_read_tokens=1000,
        cache_write_tokens=10,
        errors=1,
        cost_usd=0.25,
    )
    return cpb.StatsSnapshot(
        keys=[
            cpb.KeyStats(
                id="key_0123456789ab",
                name='ci "nightly"',
                role="client",
                today=today,
                this_week=today,
                this_month=keys_pb2.KeyUsage(requests=9, cost_usd=1.5),
                budgets=[
                    keys_pb2.BudgetState(
                        period="day",
                        unit="tokens",
                        limit=5000,
                        used=1160,
                        remaining=3840,
                        renews_at=1_767_312_000.0,
                    )
                ],
                limits=keys_pb2.KeyLimits(limit_requests=60, remaining_requests=-2),
                running=2,
                queued=3,
                last_used_at=1_767_225_600.5,
                weight=2.0,
            ),
            cpb.KeyStats(id="key_ba9876543210", name="ops", role="admin"),
        ]
    )


def test_the_keys_section_of_metrics() -> None:
    ci, ops = metrics(snapshot())["keys"]
    assert ci["name"] == 'ci "nightly"' and ci["role"] == "client" and ci["weight"] == 2.0
    assert (ci["running"], ci["queued"], ci["lastUsedAt"]) == (2, 3, 1_767_225_600.5)
    assert ci["today"] == {
        "input": 1110,
        "output": 50,
        "total": 1160,
        "requests": 4,
        "errors": 1,
        "cacheRead": 1000,
        "cacheWrite": 10,
        "costUsd": 0.25,
    }
    assert ci["thisMonth"]["costUsd"] == 1.5
    assert ci["budgets"] == [
        {
            "period": "day",
            "unit": "tokens",
            "limit": 5000,
            "used": 1160,
            "remaining": 3840,
            "renewsAt": 1_767_312_000.0,
        }
    ]
    assert ci["limits"] == {"requests": {"limit": 60, "remaining": 0, "resetMs": 0}}
    assert (ops["weight"], ops["lastUsedAt"], ops["limits"], ops["budgets"]) == (1.0, None, {}, [])


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_prometheus_series_per_key() -> None:
    text = render(snapshot())
    found = samples(text)
    ci = 'ci "nightly"'
    assert found[("ccproxy_key_tokens", (("key", ci), ("period", "day")))] == 1160
    assert found[("ccproxy_key_requests", (("key", ci), ("period", "month")))] == 9
    assert found[("ccproxy_key_cost_usd", (("key", ci), ("period", "month")))] == 1.5
    assert found[("ccproxy_key_errors", (("key", ci), ("period", "week")))] == 1
    budget = (("key", ci), ("period", "day"), ("unit", "tokens"))
    assert found[("ccproxy_key_budget_used", budget)] == 1160
    assert found[("ccproxy_key_budget_limit", budget)] == 5000
    assert found[("ccproxy_key_running", (("key", ci),))] == 2
    assert found[("ccproxy_key_queued", (("key", ci),))] == 3
    assert found[("ccproxy_key_info", (("key", "ops"), ("role", "admin")))] == 1
    assert "# TYPE ccproxy_key_tokens gauge" in text


def test_the_series_count_grows_with_the_keys_only() -> None:
    def key_series(stats: cpb.StatsSnapshot) -> int:
        return sum(1 for name, _ in samples(render(stats)) if name.startswith("ccproxy_key_"))

    one = cpb.StatsSnapshot(keys=[cpb.KeyStats(name="a", role="client")])
    many = cpb.StatsSnapshot(keys=[cpb.KeyStats(name=f"k{n}", role="client") for n in range(50)])
    assert key_series(many) == 50 * key_series(one)
    assert key_series(cpb.StatsSnapshot()) == 0
