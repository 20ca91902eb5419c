"""Keys on the hot path: what authenticating by a key and checking its policy adds.

One proxy stack (bench/sides.py, one `api` worker on the bench mock). The same closed-loop load
runs with the bootstrap token and no keys, then with a key among 1,000 (and among 10,000) that
carries a policy (rpm, tpm, a daily budget), so every check runs. Rounds alternate the two so
they share the machine's state; the figure is the difference of the medians of each round's p50
at concurrency 1, and the CPU per request (frontdoor + controller) at concurrency 10.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from dataclasses import replace
from typing import Any

import grpc

from bench import load
from bench.procs import per_request_ms
from bench.report import write_result
from bench.sides import Side, start_mock, start_proxy
from protos import controller_pb2_grpc, keys_pb2

SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
ROUNDS = 3
KEY_COUNTS = (1_000, 10_000)
GENEROUS = keys_pb2.KeyPolicy(rpm=10**8, tpm=10**12, daily_tokens=10**15)


def _admin(side: Side) -> controller_pb2_grpc.AdminStub:
    assert side.stack is not None
    channel = grpc.insecure_channel(f"unix:{side.stack.state_dir / 'controller.sock'}")
    return controller_pb2_grpc.AdminStub(channel)


def _create_keys(admin: controller_pb2_grpc.AdminStub, start: int, stop: int) -> list[str]:
    """Keys `start` .. `stop - 1`, each with the same generous policy; their secrets."""
    secrets = []
    for n in range(start, stop):
        request = keys_pb2.CreateKeyRequest(name=f"bench-{n:05d}", role="client", policy=GENEROUS)
        secrets.append(admin.CreateKey(request, timeout=30).secret)
    return secrets


def _wait_accepted(side: Side, secret: str) -> None:
    """The frontdoor has learnt of the key (WatchKeys delivered it)."""
    assert side.stack is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, _, _ = side.stack.request("GET", "/v1/models", headers=_auth(secret))
        if status == 200:
            return
        time.sleep(0.05)
    raise RuntimeError("the frontdoor never accepted the new key")


def _auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _p50_ms(run: load.Run) -> float:
    return statistics.median(s.latency for s in run.ok) * 1000


async def _measure(side: Side, concurrency: int) -> dict[str, Any]:
    before = side.watched.cpu_s()
    run = await load.closed_loop(side.target, False, concurrency, SECONDS)
    after = side.watched.cpu_s()
    cpu = per_request_ms(before, after, len(run.samples))
    own = sum(cpu.get(role, 0.0) for role in ("frontdoor", "controller"))
    return {"p50_ms": _p50_ms(run), "errors": run.errors, "cpu_ms": own}


async def _rounds(plain: Side, keyed: Side) -> dict[str, Any]:
    """Both sides alternately, ROUNDS times; medians of the rounds."""
    figures: dict[str, dict[str, list[float]]] = {
        name: {"p50_c1": [], "cpu_c10": [], "errors": []} for name in ("plain", "keyed")
    }
    for _ in range(ROUNDS):
        for name, side in (("plain", plain), ("keyed", keyed)):
            c1 = await _measure(side, 1)
            c10 = await _measure(side, 10)
            figures[name]["p50_c1"].append(c1["p50_ms"])
            figures[name]["cpu_c10"].append(c10["cpu_ms"])
            figures[name]["errors"].append(c1["errors"] + c10["errors"])
    return {
        name: {
            "p50_c1_ms": statistics.median(values["p50_c1"]),
            "cpu_ms_per_request_c10": statistics.median(values["cpu_c10"]),
            "errors": sum(values["errors"]),
        }
        for name, values in figures.items()
    }


def main() -> None:
    mock = start_mock()
    proxy = start_proxy(mock)
    results: dict[str, Any] = {}
    try:
        admin = _admin(proxy)
        created = 0
        for count in KEY_COUNTS:
            secrets = _create_keys(admin, created, count)
            created = count
            chosen = secrets[len(secrets) // 2]
            _wait_accepted(proxy, chosen)
            keyed = replace(proxy, target=replace(proxy.target, headers=_auth(chosen)))
            results[f"{count}_keys"] = asyncio.run(_rounds(proxy, keyed))
            print(f"keys {count}: {results[f'{count}_keys']}", flush=True)
    finally:
        proxy.stop()
        mock.stop()
    _write(results)


def _write(results: dict[str, Any]) -> None:
    header = [
        "keys configured",
        "p50 c1, bootstrap token",
        "p50 c1, a key with a policy",
        "added",
        "CPU/request c10, token",
        "CPU/request c10, key",
    ]
    rows = []
    for count in KEY_COUNTS:
        plain, keyed = results[f"{count}_keys"]["plain"], results[f"{count}_keys"]["keyed"]
        rows.append(
            [
                f"{count:,}",
                f"{plain['p50_c1_ms']:.2f} ms",
                f"{keyed['p50_c1_ms']:.2f} ms",
                f"{keyed['p50_c1_ms'] - plain['p50_c1_ms']:+.2f} ms",
                f"{plain['cpu_ms_per_request_c10']:.2f} ms",
                f"{keyed['cpu_ms_per_request_c10']:.2f} ms",
            ]
        )
    first, last = (results[f"{count}_keys"] for count in (KEY_COUNTS[0], KEY_COUNTS[-1]))
    added = first["keyed"]["p50_c1_ms"] - first["plain"]["p50_c1_ms"]
    cpu = last["keyed"]["cpu_ms_per_request_c10"] / last["plain"]["cpu_ms_per_request_c10"]
    table = [
        (f"added p50 at concurrency 1, a key among {KEY_COUNTS[0]:,}", f"{added:+.2f} ms"),
        (f"CPU per request at concurrency 10, a key among {KEY_COUNTS[-1]:,}", f"{cpu:.2f}x"),
    ]
    notes = [
        f"Frontdoor and controller CPU; medians of {ROUNDS} alternating rounds of {SECONDS:g} s."
    ]
    write_result("keys", results, table, [("side by side", header, rows)], notes)
