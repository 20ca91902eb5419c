"""Admission and the queue seen from an HTTP client, with the frontdoor and the controller's
real services in process over fake workerds whose runs the test holds (tests/middle/chain.py).

Moved from tests/integration/test_scheduling.py: they need the queue, not real processes, and
here the test holds the slots instead of racing a client timeout against sleeping CLIs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.middle.chain import open_chain, until

pytestmark = pytest.mark.middle


def ask(client: openai.AsyncOpenAI, text: str) -> asyncio.Task[object]:
    return asyncio.get_running_loop().create_task(
        client.chat.completions.create(model="sonnet", messages=[{"role": "user", "content": text}])
    )


async def test_queue_timeout_and_queue_full_are_distinct_503s(state_dir: Path) -> None:
    settings: dict[str, Any] = {"max_concurrent": 1, "max_queue_total": 1, "queue_timeout_ms": 2000}
    async with open_chain(state_dir, {"a": "cli"}, **settings) as chain:
        scheduler, release = chain.rig.scheduler, asyncio.Event()
        chain.workers["a"].holds["busy"] = release
        async with chain.front.openai() as client:
            busy = ask(client, "busy")
            await until(lambda: scheduler.in_flight == 1, "the slot to be taken")
            waiter = ask(client, "waits")
            await until(lambda: len(scheduler.queue) == 1, "one request queued")
            with pytest.raises(openai.APIStatusError) as full:
                await client.chat.completions.create(
                    model="sonnet", messages=[{"role": "user", "content": "no room"}]
                )
            with pytest.raises(openai.APIStatusError) as timed_out:
                await waiter
            release.set()
            await busy
    assert full.value.status_code == 503
    assert full.value.body["type"] == "queue_full"  # type: ignore[index]
    assert full.value.response.headers["retry-after"]
    assert timed_out.value.status_code == 503
    assert timed_out.value.body["type"] == "queue_timeout"  # type: ignore[index]
    assert chain.workers["a"].prompts == ["busy"]


async def test_a_client_that_leaves_the_queue_never_starts_a_run(state_dir: Path) -> None:
    async with open_chain(state_dir, {"a": "cli", "b": "cli"}, max_concurrent=2) as chain:
        scheduler, release = chain.rig.scheduler, asyncio.Event()
        for worker in chain.workers.values():
            worker.holds["hold"] = release
        async with chain.front.openai() as client:
            busy = [ask(client, f"hold{n}") for n in range(2)]
            await until(lambda: scheduler.in_flight == 2, "both slots taken")
            leaving = ask(client, "gave-up-waiting")
            await until(lambda: len(scheduler.queue) == 1, "the request to queue")
            leaving.cancel()  # the client closes its connection while it waits
            await until(lambda: len(scheduler.queue) == 0, "the queue to drop the request")
            release.set()
            await asyncio.gather(*busy)
        await until(lambda: scheduler.in_flight == 0, "slots released")
    prompts = [p for worker in chain.workers.values() for p in worker.prompts]
    assert sorted(prompts) == ["hold0", "hold1"]
    [gone] = [e for e in chain.rig.logged("error") if e.data["status"] == "cancelled"]
    assert gone.data["worker"] == ""  # it never reached a worker
