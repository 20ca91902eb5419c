"""Pure: requests a previous controller admitted but never finished (it was killed).

Every request's `request` event is persisted within a moment of its arrival; at start-up, one
whose `complete`/`error` never made it to the log was cut off by a crash. It is closed with an
`error` event of status INTERRUPTED, so it still ends as one accounting row.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from controller.events import ProxyEvent

INTERRUPTED = "INTERRUPTED"


def interrupted_requests(events: Iterable[ProxyEvent], now: float) -> list[dict[str, Any]]:
    """The data of an `error` event for each request that started and never ended."""
    open_requests: dict[str, dict[str, Any]] = {}
    for event in events:
        request_id = str(event.data.get("request_id", ""))
        if not request_id:
            continue
        if event.type == "request":
            open_requests[request_id] = {
                "request_id": request_id,
                "source": event.data.get("source", ""),
                "model": event.data.get("model", ""),
                "worker": "",
                "arrived": event.ts,
                "input_tokens": 0,
            }
        elif event.type == "started" and request_id in open_requests:
            # A worker ran it: the model read the prompt (its estimate; what it wrote is lost).
            open_requests[request_id]["worker"] = event.data.get("worker", "")
            open_requests[request_id]["input_tokens"] = int(event.data.get("prompt_tokens", 0))
        elif event.type in ("complete", "error"):
            open_requests.pop(request_id, None)
    return [_closing(entry, now) for entry in open_requests.values()]


def _closing(entry: dict[str, Any], now: float) -> dict[str, Any]:
    arrived = entry.pop("arrived")
    return {
        **entry,
        "mode": "",
        "status": INTERRUPTED,
        "error_category": "interrupted",
        "output_tokens": 0,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "ttft_ms": None,
        "duration_ms": int(max(now - arrived, 0) * 1000),
        "retries": 0,
    }
