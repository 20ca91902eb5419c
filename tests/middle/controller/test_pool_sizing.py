"""A CLI pool's sizing (issue 22) travels from the workerd's Status to the controller's
WorkerInfo: `PoolFigures` as the workerd last said, none for a workerd that reports none, and
emptied (nothing held, started or aimed for) while the workerd is down.

The pure pieces (controller/workers/sessions.py) are tested directly; the wiring runs the
controller's real pool and Admin service against in-process fake workerds
(tests/middle/inprocess.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from controller.workers.sessions import PoolState
from protos import common_pb2 as pb
from protos import controller_pb2, worker_pb2
from tests.middle.inprocess import Rig, short_state_dir

pytestmark = pytest.mark.middle

MB = 1_000_000
FIGURES = pb.PoolFigures(
    target=5,
    floor=2,
    ceiling=7,
    ready=3,
    starting=2,
    memory_bytes=900 * MB,
    memory_budget_bytes=3_000 * MB,
    claimed_starting=11,
)


# -- pure ----------------------------------------------------------------------------------


def test_the_sizing_is_kept_from_the_status_and_given_back_as_it_came() -> None:
    state = PoolState.from_status(worker_pb2.WorkerStatus(warm=3, pool=FIGURES))
    assert state.sizing == pb.PoolFigures(
        target=5,
        floor=2,
        ceiling=7,
        ready=3,
        starting=2,
        memory_bytes=900 * MB,
        memory_budget_bytes=3_000 * MB,
        claimed_starting=11,
    )
    assert state.sizing == FIGURES


def test_a_status_without_a_pool_has_no_sizing() -> None:
    assert PoolState.from_status(worker_pb2.WorkerStatus(warm=2)).sizing is None
    assert PoolState.from_status(worker_pb2.WorkerStatus(warm=2)).gone().sizing is None


def test_a_gone_workerd_holds_and_aims_for_nothing_and_keeps_its_settings() -> None:
    gone = PoolState.from_status(worker_pb2.WorkerStatus(pool=FIGURES)).gone()
    assert gone.sizing == pb.PoolFigures(
        target=0,
        floor=2,
        ceiling=7,
        ready=0,
        starting=0,
        memory_bytes=0,
        memory_budget_bytes=3_000 * MB,
        claimed_starting=11,
    )


# -- wired to fake workerds ----------------------------------------------------------------


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    with short_state_dir() as root:
        running = await Rig.start(Path(root), {"1": "cli", "2": "api"})
        try:
            yield running
        finally:
            await running.stop()


async def workers(rig: Rig) -> dict[str, controller_pb2.WorkerInfo]:
    reply = await rig.admin.ListWorkers(controller_pb2.ListWorkersRequest(), None)
    return {info.name: info for info in reply.workers}


async def test_list_workers_carries_the_pool_figures(rig: Rig) -> None:
    rig.workers["1"].status.MergeFrom(worker_pb2.WorkerStatus(warm=3, pool=FIGURES))
    await rig.poll()
    infos = await workers(rig)
    assert infos["1"].HasField("pool") and infos["1"].pool == FIGURES
    assert not infos["2"].HasField("pool")  # the api workerd reports none

    rig.workers["1"].status.pool.ready = 1  # the next Status replaces the figures
    await rig.poll()
    assert (await workers(rig))["1"].pool.ready == 1

    rig.pool.mark_down("1", "test")
    pool = (await workers(rig))["1"].pool
    assert (pool.target, pool.ready, pool.starting, pool.memory_bytes) == (0, 0, 0, 0)
    assert (pool.floor, pool.memory_budget_bytes, pool.claimed_starting) == (2, 3_000 * MB, 11)
