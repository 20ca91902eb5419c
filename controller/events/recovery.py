"""Pure: requests a previous controller admitted but never finished (it was killed).

Every request's `request` event is persisted within a moment of its arrival; at start-up, one
whose `complete`/`error` never made it to the log was cut off by a crash. It is closed with an
`error` event of status INTERRUPTED, so it still ends as one accounting row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from controller.events.bus import ProxyEvent
from controller.events.kinds import Failed, RequestArrived, RequestEnd, Started

INTERRUPTED = "INTERRUPTED"


@dataclass
class _Open:
    """A request seen arriving and not yet seen ending."""

    arrived: RequestArrived
    at: float
    worker: str = ""
    input_tokens: int = 0


def interrupted_requests(events: Iterable[ProxyEvent], now: float) -> list[Failed]:
    """An `error` event for each request that started and never ended."""
    open_requests: dict[str, _Open] = {}
    for event in events:
        match event.payload:
            case RequestArrived(request_id=request_id) as arrived if request_id:
                open_requests[request_id] = _Open(arrived, event.ts)
            case Started(request_id=request_id, worker=worker, prompt_tokens=tokens) if (
                request_id in open_requests
            ):
                # A worker ran it: the model read the prompt (its estimate; what it wrote is lost).
                open_requests[request_id].worker = worker
                open_requests[request_id].input_tokens = tokens
            case RequestEnd(request_id=request_id):
                open_requests.pop(request_id, None)
    return [_closing(entry, now) for entry in open_requests.values()]


def _closing(entry: _Open, now: float) -> Failed:
    return Failed(
        request_id=entry.arrived.request_id,
        source=entry.arrived.source,
        model=entry.arrived.model,
        worker=entry.worker,
        mode="",
        status=INTERRUPTED,
        error_category="interrupted",
        input_tokens=entry.input_tokens,
        output_tokens=0,
        cache_read_tokens=0,
        cache_write_tokens=0,
        ttft_ms=None,
        duration_ms=int(max(now - entry.at, 0) * 1000),
        retries=0,
        key_id=entry.arrived.key_id,
    )
