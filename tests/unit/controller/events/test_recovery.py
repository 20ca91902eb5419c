"""controller/events/recovery.py: requests cut off by a controller crash are closed at start-up."""

from __future__ import annotations

from typing import Any

from controller.events.bus import ProxyEvent
from controller.events.recovery import INTERRUPTED, interrupted_requests


def event(event_id: int, kind: str, ts: float, **data: Any) -> ProxyEvent:
    return ProxyEvent(event_id, kind, ts, data)


def test_a_request_without_an_end_is_closed_as_interrupted() -> None:
    log = [
        event(1, "request", 100.0, request_id="r1", source="ide", model="sonnet"),
        event(2, "started", 100.5, request_id="r1", worker="2", attempt=1),
        event(3, "request", 101.0, request_id="r2", source="cli", model="opus"),
        event(4, "complete", 102.0, request_id="r2", status="ok"),
    ]
    closed = interrupted_requests(log, now=110.0)
    assert len(closed) == 1
    assert closed[0].request_id == "r1"
    assert (closed[0].source, closed[0].model, closed[0].worker) == ("ide", "sonnet", "2")
    assert closed[0].status == INTERRUPTED and closed[0].error_category == "interrupted"
    assert closed[0].duration_ms == 10_000


def test_requests_that_ended_in_error_or_never_started_are_handled() -> None:
    log = [
        event(1, "request", 1.0, request_id="a", source="s", model="m"),
        event(2, "error", 2.0, request_id="a", status="QUEUE_FULL"),
        event(3, "request", 3.0, request_id="b", source="s", model="m"),
        event(4, "startup", 4.0, version="x"),
    ]
    closed = interrupted_requests(log, now=5.0)
    assert [c.request_id for c in closed] == ["b"]
    assert closed[0].worker == ""


def test_an_empty_or_finished_log_closes_nothing() -> None:
    assert interrupted_requests([], now=1.0) == []
    log = [event(1, "request", 1.0, request_id="a"), event(2, "complete", 2.0, request_id="a")]
    assert interrupted_requests(log, now=3.0) == []


def test_a_started_request_keeps_its_prompt_estimate_a_queued_one_does_not() -> None:
    log = [
        event(1, "request", 1.0, request_id="ran", source="s", model="m"),
        event(2, "started", 1.1, request_id="ran", worker="w", attempt=1, prompt_tokens=250),
        event(3, "request", 1.2, request_id="queued", source="s", model="m"),
    ]
    closed = {c.request_id: c for c in interrupted_requests(log, now=5.0)}
    assert closed["ran"].input_tokens == 250
    assert closed["queued"].input_tokens == 0
