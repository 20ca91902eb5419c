"""The bench's own mock Anthropic Messages API, as a process of its own.

`python -m bench.mock_server --port N`: answers `POST /v1/messages` (JSON or SSE) with replies
rendered once at start-up, so the mock costs as little as it can per request and is never the
bottleneck of a comparison (tests/mock_upstream.py runs in a thread of the process that drives
the load and records every request). A prompt containing SLOW_MARKER gets the slow stream:
SLOW_FIRST_S to the first token, then SLOW_CHUNKS text deltas SLOW_GAP_S apart; GET /arrivals
tells when each slow request arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import uvloop
from aiohttp import web

SLOW_MARKER = b"BENCH_SLOW"
SLOW_FIRST_S = 0.3
SLOW_CHUNKS = 64
SLOW_GAP_S = 0.02
ANSWER = ["mock says: ", "hello from ", "the bench"]
USAGE = {"input_tokens": 11, "output_tokens": 13}


def _sse(data: dict[str, Any]) -> bytes:
    return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode()


def _message(content: list[dict[str, Any]], final: bool) -> dict[str, Any]:
    return {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": content,
        "stop_reason": "end_turn" if final else None,
        "stop_sequence": None,
        "usage": USAGE if final else {**USAGE, "output_tokens": 1},
    }


def _delta(text: str) -> bytes:
    return _sse(
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}
    )


START = _sse({"type": "message_start", "message": _message([], final=False)})
BLOCK_START = _sse(
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
)
END = b"".join(
    [
        _sse({"type": "content_block_stop", "index": 0}),
        _sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": USAGE["output_tokens"]},
            }
        ),
        _sse({"type": "message_stop"}),
    ]
)
FAST_STREAM = START + BLOCK_START + b"".join(_delta(t) for t in ANSWER) + END
FAST_JSON = json.dumps(_message([{"type": "text", "text": "".join(ANSWER)}], final=True)).encode()
SSE_HEADERS = {"content-type": "text/event-stream", "cache-control": "no-cache"}


ARRIVALS: list[float] = []
"""When each slow request reached the mock (time.monotonic, the same clock in every process of
the machine): how long a side took to pass a burst of requests on, apart from what it adds on
the way back."""


async def messages(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    if SLOW_MARKER in body:
        ARRIVALS.append(time.monotonic())
    if b'"stream": true' not in body and b'"stream":true' not in body:
        return web.Response(body=FAST_JSON, content_type="application/json")
    response = web.StreamResponse(headers=SSE_HEADERS)
    await response.prepare(request)
    if SLOW_MARKER not in body:
        await response.write(FAST_STREAM)
    else:
        await response.write(START)
        await asyncio.sleep(SLOW_FIRST_S)
        await response.write(BLOCK_START)
        for n in range(SLOW_CHUNKS):
            if n:
                await asyncio.sleep(SLOW_GAP_S)
            await response.write(_delta(f"tok{n} "))
        await response.write(END)
    await response.write_eof()
    return response


async def health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def arrivals(request: web.Request) -> web.Response:
    """The slow requests' arrival times so far, forgotten once read."""
    taken = ARRIVALS[:]
    ARRIVALS.clear()
    return web.json_response(taken)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.mock_server")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application()
    app.router.add_post("/v1/messages", messages)
    app.router.add_get("/health", health)
    app.router.add_get("/arrivals", arrivals)
    web.run_app(
        app,
        host="127.0.0.1",
        port=args.port,
        access_log=None,
        print=None,
        loop=uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    main()
