"""The dashboard reads only what the server sends, and names things as the Python side does.

Every field the dashboard's normalisers (frontdoor/static/api.js, the one file that reads the
backend's JSON) take from /metrics, /zombies, /events and /metrics/history is parsed out of the
JS and looked up in what the real frontdoor serves for a populated controller (the Admin
service over fake workerds, tests/middle/stats_scenario.py).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from common.models import FAMILIES, model_family
from frontdoor.monitoring.dashboard import STATIC_DIR
from frontdoor.monitoring.keys_json import key_list_json
from protos import keys_pb2
from tests.middle.inprocess import short_state_dir
from tests.middle.stats_scenario import served_documents

pytestmark = pytest.mark.middle

M, Z, E, H = "/metrics", "/zombies", "/events?limit=100", "/metrics/history?window=1h"
K = "/admin/keys"
Where = tuple[str, str]  # (document, path: `a.b`, `[*]` each item, `*` each value, `?` not null)
READS: dict[tuple[str, str], tuple[Where, ...]] = {
    ("normalizeMetrics", "raw"): ((M, ""),),
    ("normalizeMetrics", "sessions"): ((M, "sessions"),),
    ("normalizeMetrics", "affinity"): ((M, "affinity"),),
    ("normalizeMetrics", "latency"): ((M, "latency"),),
    ("normalizeMetrics", "k"): ((M, "keys[*]"),),
    ("keyLoad", "raw"): ((M, "keys[*]"),),
    ("normalizeStorage", "raw"): ((M, "storage"),),
    ("normalizeTokens", "raw"): ((M, "tokens"),),
    ("normalizeTokens", "usage"): ((M, "tokens.usage"),),
    ("tokenCounts", "raw"): ((M, "tokens.totals"), (M, "tokens.byModel.*"), (M, "tokens.usage.*")),
    ("normalizeCli", "raw"): ((M, "sessions.byWorker.*"),),
    ("normalizePool", "raw"): ((M, "sessions.byWorker.*.pool?"),),  # null for an api worker
    ("normalizeWorker", "w"): ((M, "workers[*]"),),
    ("normalizeWorker", "sessions"): ((M, "sessions.byWorker.*"),),
    ("normalizeQuota", "q"): ((M, "workers[*].quota.*"),),
    ("normalizeQueue", "raw"): ((M, "queue"),),
    ("normalizeQueue", "waits"): ((M, "queue.waits"),),
    ("normalizeLimits", "raw"): ((M, "rateLimits"),),
    ("normalizeLimits", "l"): ((M, "rateLimits.limits.*"),),
    ("normalizeLimits", "u"): ((M, "rateLimits.usage[*]"),),
    ("normalizeErrors", "raw"): ((M, "errors"),),
    ("normalizeErrors", "e"): ((M, "errors.recent[*]"),),
    ("histogramAvgMs", "h"): ((M, "latency.ttft"), (M, "latency.duration")),
    ("normalizeConfig", "raw"): ((M, "config"),),
    ("normalizeConfig", "w"): ((M, "config.workers[*]"),),
    ("normalizeConfig", "l"): ((M, "config.rateLimits.*"),),
    ("normalizeProcesses", "raw"): ((Z, ""),),
    ("normalizeProcesses", "p"): ((Z, "processes[*]"),),
    ("normalizeEvent", "raw"): ((E, "events[*]"),),
    ("fetchEvents", "raw"): ((E, ""),),
    ("normalizeHistory", "raw"): ((H, ""),),
    ("normalizeHistory", "p"): ((H, "points[*]"),),
    ("normalizeKeys", "raw"): ((K, ""),),
    ("normalizeKey", "raw"): ((K, "keys[*]"),),
    ("normalizeKey", "usage"): ((K, "keys[*].usage"),),
    ("normalizeKey", "b"): ((K, "keys[*].budgets[*]"),),
    ("keyUsage", "raw"): ((K, "keys[*].usage.*"),),
}
"""Which JSON each normaliser's variable holds. A normaliser that reads `raw` and is not
here fails the test: map it, so that what it reads is checked too."""


def keys_document() -> Any:
    """GET /admin/keys as the frontdoor renders a key list with every field set (the shape is
    the frontdoor's, frontdoor/monitoring/keys_json.py; the controller only fills the proto)."""
    usage = keys_pb2.KeyUsage(
        requests=3,
        input_tokens=10,
        output_tokens=5,
        cache_read_tokens=2,
        cache_write_tokens=1,
        errors=1,
        cost_usd=0.5,
    )
    policy = keys_pb2.KeyPolicy(
        rpm=1, tpm=2, daily_tokens=3, weekly_tokens=4, monthly_tokens=5, monthly_cost_usd=6
    )
    policy.models.append("sonnet")
    info = keys_pb2.KeyInfo(
        id="key_0123456789ab",
        name="ci",
        role="client",
        prefix="sk-ccp-AbCd",
        created_at=1.0,
        revoked_at=2.0,
        last_used_at=3.0,
        policy=policy,
        today=usage,
        this_week=usage,
        this_month=usage,
    )
    return json.loads(json.dumps(key_list_json(keys_pb2.KeyList(keys=[info], version=1))))


_DEFINITION = re.compile(r"^(?:export )?(?:async )?(?:function (\w+)|const (\w+) = )", re.M)


def functions(source: str) -> dict[str, str]:
    """Top-level function name -> its text, up to the next top-level definition."""
    found = list(_DEFINITION.finditer(source))
    ends = [m.start() for m in found[1:]] + [len(source)]
    return {(m[1] or m[2]): source[m.start() : end] for m, end in zip(found, ends, strict=True)}


def reads(body: str, variable: str) -> set[str]:
    """Fields read as `variable.field`; in normalizeConfig also `take("field", ...)`."""
    fields = set(re.findall(rf"(?<![\w$.]){variable}\.([A-Za-z_$][\w$]*)", body))
    if variable == "raw" and body.startswith("function normalizeConfig"):
        fields |= set(re.findall(r'take\("(\w+)"', body))
    return fields


def nodes(document: Any, path: str) -> list[Any]:
    """Every value at `path` (see Where)."""
    found = [document]
    for step in [s for s in path.split(".") if s]:
        step, optional = (step[:-1], True) if step.endswith("?") else (step, False)
        name, each = (step[:-3], True) if step.endswith("[*]") else (step, False)
        if optional:
            found = [node for node in found if node.get(name) is not None]
        if name == "*":
            found = [v for node in found for v in node.values()]
        else:
            found = [node[name] for node in found]
        if each:
            found = [item for node in found for item in node]
    return found


def test_the_js_reads_are_found_and_mapped() -> None:
    source = (STATIC_DIR / "api.js").read_text()
    bodies = functions(source)
    unmapped = {
        name for name, body in bodies.items() if reads(body, "raw") and (name, "raw") not in READS
    }
    assert not unmapped, f"map these normalisers in READS: {sorted(unmapped)}"
    assert {name for name, _ in READS} <= set(bodies)
    assert reads(bodies["normalizeWorker"], "w") >= {"name", "coolingUntil", "quota"}
    assert reads(bodies["normalizeConfig"], "raw") >= {"queueTimeoutMs", "workers"}


async def test_every_field_the_dashboard_reads_is_sent() -> None:
    with short_state_dir() as root:
        served = await served_documents(Path(root))
    served[K] = keys_document()
    bodies = functions((STATIC_DIR / "api.js").read_text())
    missing = []
    for (function, variable), places in READS.items():
        fields = reads(bodies[function], variable)
        assert fields, f"{function} reads nothing from {variable}"
        for document, path in places:
            found = nodes(served[document], path)
            assert found, f"the scenario sends no {document} {path}: it proves nothing"
            missing += [
                f"{function}: {variable}.{field} ({document} {path})"
                for field in sorted(fields)
                for node in found
                if not isinstance(node, dict) or field not in node
            ]
    assert not missing, "\n".join(sorted(set(missing)))


def test_a_field_the_server_does_not_send_is_caught() -> None:
    """The check above can fail: a read of an unsent field is reported."""
    body = "function normalizeQueue(raw) {\n  return { a: raw.depth, b: raw.noSuchField };\n}\n"
    fields = reads(functions(body)["normalizeQueue"], "raw")
    sent = {"depth": 0}
    assert sorted(f for f in fields if f not in sent) == ["noSuchField"]


MODEL_IDS = (
    "claude-opus-4-8",
    "claude-sonnet-5",
    "claude-haiku-4-5-20251001",
    "claude-fable-5",
    "opus",
    "sonnet",
    "haiku",
    "fable",
    "claude-3-5-sonnet-latest",
    "gpt-4o",
    "",
    "claude-Opus-4",
    "my-haiku-opus-mix",
)


def run_names_js(tmp_path: Path, script: str) -> Any:
    """Run `script` in node with names.js imported as `names`; returns what it prints (JSON)."""
    node = shutil.which("node")
    assert node, "node is needed to run the dashboard's JS (the dashboard tests need it too)"
    shutil.copy(STATIC_DIR / "names.js", tmp_path / "names.mjs")
    (tmp_path / "run.mjs").write_text(f'import * as names from "./names.mjs";\n{script}\n')
    out = subprocess.run(
        [node, str(tmp_path / "run.mjs")], capture_output=True, text=True, check=True, timeout=30
    )
    return json.loads(out.stdout)


def test_the_js_family_of_a_model_is_model_family(tmp_path: Path) -> None:
    ids = json.dumps(list(MODEL_IDS))
    script = (
        f"console.log(JSON.stringify({{families: names.FAMILIES, of: {ids}.map(names.familyOf)}}))"
    )
    found = run_names_js(tmp_path, script)
    assert found["families"] == list(FAMILIES)
    assert found["of"] == [model_family(model) for model in MODEL_IDS]


def test_worker_names_are_drawn_without_a_doubled_w(tmp_path: Path) -> None:
    names = ["1", "12", "w1", "W2", "alice", ""]
    script = f"console.log(JSON.stringify({json.dumps(names)}.map(names.workerLabel)))"
    assert run_names_js(tmp_path, script) == ["W1", "W12", "w1", "W2", "alice", ""]
