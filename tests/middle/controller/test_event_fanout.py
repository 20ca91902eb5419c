"""The controller's live event fan-out over real WatchEvents streams (issue 21, item 11): an
event is put on the wire once, whatever the number of watchers, and a watcher that goes away
leaves nothing subscribed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from common.rpc import open_channel
from controller.events.kinds import RequestArrived
from protos import controller_pb2, controller_pb2_grpc
from tests.middle.chain import until
from tests.middle.inprocess import Rig

pytestmark = pytest.mark.middle
WATCHERS = 50


@pytest.fixture
async def rig(state_dir: Path) -> AsyncIterator[Rig]:
    rig = await Rig.start(state_dir, {"1": "cli"})
    await rig.serve_admin()
    try:
        yield rig
    finally:
        await rig.stop()


async def test_one_event_is_encoded_once_for_every_watcher(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoded: list[Any] = []
    real_dumps = json.dumps

    def counting_dumps(value: Any, *args: Any, **kwargs: Any) -> str:
        encoded.append(value)
        return real_dumps(value, *args, **kwargs)

    monkeypatch.setattr(json, "dumps", counting_dumps)
    channel = open_channel(rig.config.paths.controller_socket)
    admin = controller_pb2_grpc.AdminStub(channel)
    try:
        calls = [
            admin.WatchEvents(controller_pb2.WatchEventsRequest(replay=0)) for _ in range(WATCHERS)
        ]
        for call in calls:
            assert (await call.read()).type == "subscribed"
        assert rig.events.subscribers == WATCHERS

        event = rig.events.emit(RequestArrived.from_json({"request_id": "fan-out"}))
        received = [await call.read() for call in calls]

        assert all(r.id == event.id and r.type == "request" for r in received)
        assert {r.data_json for r in received} == {real_dumps(event.data)}
        assert sum(value is event.data for value in encoded) == 1
        for call in calls:
            call.cancel()
        await until(lambda: rig.events.subscribers == 0, "every watch to unsubscribe")
    finally:
        await channel.close()
