"""The typed GetStats contract keeps the seed's wire shape: /metrics and /metrics/prometheus
for a scenario with every section filled equal what the seed served for it.

tests/unit/fixtures/metrics_seed.json and metrics_seed.prom were captured from the seed's code
(GetStats answering a protobuf Struct of presentation JSON, repaired by `plain_numbers`) for
the same scenario (tests/middle/stats_scenario.py), clock-dependent numbers blanked. Key order
was never part of the contract (a Struct is a map), nor the order of samples in a family.
The `keys` section and the `ccproxy_key_*` families came later (issue 19, keys), added to the
fixtures for the scenario's one key; nothing the seed served changed with them. Each worker's
`address` (issue 23: "" for a local workerd, host:port for one on another host) likewise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.middle.inprocess import short_state_dir
from tests.middle.stats_scenario import served_documents, volatile

pytestmark = pytest.mark.middle

FIXTURES = Path(__file__).parent.parent / "fixtures"


def typed(value: Any) -> Any:
    """`value` with each number tagged int or float: JSON text keeps the distinction."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (type(value).__name__, value)
    return value


def families(text: str) -> tuple[list[str], list[str]]:
    """The family headers in order, and every sample line sorted."""
    lines = text.splitlines()
    return [x for x in lines if x.startswith("#")], sorted(x for x in lines if x[:1] != "#")


async def test_metrics_json_is_the_seed_shape() -> None:
    with short_state_dir() as root:
        served = await served_documents(Path(root))
    seed = json.loads((FIXTURES / "metrics_seed.json").read_text())
    now = volatile(served["/metrics"])
    assert typed(now) == typed(seed)
    # The blanked numbers are there, and are times near now rather than anything else.
    metrics = served["/metrics"]
    assert metrics["generatedAt"] > 1.7e9 and 0 <= metrics["uptimeS"] < 600
    assert all(w["lastRequestAt"] > 1.7e9 for w in metrics["workers"])
    assert metrics["workers"][0]["coolingUntil"] > metrics["generatedAt"]


async def test_prometheus_text_is_the_seed_text() -> None:
    with short_state_dir() as root:
        served = await served_documents(Path(root))
    seed = (FIXTURES / "metrics_seed.prom").read_text()
    assert families(served["/metrics/prometheus"]) == families(seed)
