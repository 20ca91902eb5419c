"""A mock Anthropic Messages API server for tests.

``MockUpstream`` runs an aiohttp server on 127.0.0.1 (random port) in a background daemon thread
with its own event loop, records every request, and answers ``POST /v1/messages`` according to a
scenario marker ``SCN:<name>`` or ``SCN:<name>:<arg>`` found in the user's prompt text.

The prompt text is the text of the last user message that carries prompt text, i.e. walking back
over user messages that hold only ``tool_result`` blocks (the CLI's tool loop). Text blocks that
start with ``<system-reminder>`` (added by the ``claude`` CLI) are not part of the prompt text.

Scenarios: ``echo`` (default), ``err400|401|404|500|529``, ``err429[:secs]`` (a rejected
five-hour usage window resetting in ``secs``), ``err429rate[:secs]`` (a rate limit: only
``retry-after: secs``, no window refused),
``err429tok:<token suffix>@<secs>`` (429 for one account only), ``tool_bash:<path>``,
``tool_sleep:<secs>`` (a Bash tool call that sleeps), ``structured:<answer>`` (StructuredOutput),
``slow[:n]``, ``hang``, ``big[:n]``, ``image``, ``think`` (a thinking block of ``THINKING_TEXT``
signed ``THINKING_SIGNATURE``, then ``THOUGHT_ANSWER``; the thinking only when the request's
``thinking`` is enabled or adaptive), ``redacted`` (as ``think``, with a ``redacted_thinking``
block of ``REDACTED_DATA`` between the thinking and the answer), ``stopseq[:<seq>]`` (the text
``STOPSEQ_TEXT``, stopped on ``<seq>``, else on the request's first ``stop_sequences`` entry:
``stop_reason: "stop_sequence"`` and ``stop_sequence`` set), and the function-calling and JSON
scenarios of
``tests/mock_scenarios.py`` (``fn_call[:tool]``, ``fn_two[:a,b]``, ``json``). Both
``stream: true`` (SSE) and JSON replies are supported. Usage numbers are the constants below.
``open_streams`` counts SSE replies still being written (a closed client stream ends its reply).

``set_account_headers(suffix, headers)`` adds ``headers`` to every ``/v1/messages`` answer (success
or error) to the account whose credential (``authorization`` or ``x-api-key``) ends with
``suffix``: each account can report its own quota windows (``unified_headers`` builds the OAuth
``anthropic-ratelimit-unified-*`` set, ``api_key_headers`` the ``-requests-*``/``-tokens-*`` set).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web

from tests import mock_scenarios

INPUT_TOKENS = 11
CACHE_WRITE_TOKENS = 7
CACHE_READ_TOKENS = 5
OUTPUT_TOKENS = 13
PIXEL_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)

THINKING_TEXT = "The user wants a short answer. Thinking it over."
THINKING_SIGNATURE = "mock-signature-EqQBCkgIBhABGAIiQ"
THOUGHT_ANSWER = "thought it over"
REDACTED_DATA = "EmwKAhgBEgy3va3pzix/mock+redacted=="
STOPSEQ_TEXT = "one two"

MARKER_RE = re.compile(r"SCN:([a-z0-9_]+)(?::(\S+))?")
REMINDER_PREFIX = "<system-reminder>"
SLOW_INTERVAL = 0.3
BIG_CHUNK = 1000

JSONDict = dict[str, Any]

_ERRORS: dict[str, tuple[int, str]] = {
    "err400": (400, "invalid_request_error"),
    "err401": (401, "authentication_error"),
    "err404": (404, "not_found_error"),
    "err429": (429, "rate_limit_error"),
    "err429rate": (429, "rate_limit_error"),
    "err500": (500, "api_error"),
    "err529": (529, "overloaded_error"),
}


def strip_marker(text: str) -> str:
    """Remove every scenario marker from ``text`` and strip surrounding whitespace."""
    return MARKER_RE.sub("", text).strip()


def echo_reply(user_text: str) -> str:
    """The text the ``echo`` scenario answers to a prompt (marker included or not)."""
    return "mock says: " + strip_marker(user_text)


@dataclass
class RecordedRequest:
    """One request as received by the mock. Header names are lower-cased; ``size`` is len(body)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any | None
    peer: str = ""
    """The client's address and port: one per connection it used."""
    size: int = field(init=False)

    def __post_init__(self) -> None:
        self.size = len(self.body)


@dataclass
class _Block:
    """One content block to send: text pieces, or JSON fragments of a tool input."""

    kind: str  # "text", "thinking", "redacted_thinking" (pieces: [data]) or "tool_use"
    pieces: list[str]
    tool_id: str = ""
    name: str = ""

    def start_json(self) -> JSONDict:
        if self.kind == "text":
            return {"type": "text", "text": ""}
        if self.kind == "thinking":
            return {"type": "thinking", "thinking": "", "signature": ""}
        if self.kind == "redacted_thinking":  # whole in its start, as Anthropic streams it
            return {"type": "redacted_thinking", "data": "".join(self.pieces)}
        return {"type": "tool_use", "id": self.tool_id, "name": self.name, "input": {}}

    def delta_json(self, piece: str) -> JSONDict:
        if self.kind == "text":
            return {"type": "text_delta", "text": piece}
        if self.kind == "thinking":
            return {"type": "thinking_delta", "thinking": piece}
        return {"type": "input_json_delta", "partial_json": piece}

    def full_json(self) -> JSONDict:
        joined = "".join(self.pieces)
        if self.kind == "text":
            return {"type": "text", "text": joined}
        if self.kind == "thinking":
            return {"type": "thinking", "thinking": joined, "signature": THINKING_SIGNATURE}
        if self.kind == "redacted_thinking":
            return self.start_json()
        return {**self.start_json(), "input": json.loads(joined)}


@dataclass
class _Reply:
    """A planned reply; renders itself as a JSON message or as SSE chunks."""

    blocks: list[_Block]
    stop_reason: str = "end_turn"
    stop_sequence: str | None = None
    delay: float = 0.0
    hang: bool = False
    msg_id: str = ""
    model: str = ""

    def message(self, content: list[JSONDict], final: bool) -> JSONDict:
        usage = {
            "input_tokens": INPUT_TOKENS,
            "cache_creation_input_tokens": CACHE_WRITE_TOKENS,
            "cache_read_input_tokens": CACHE_READ_TOKENS,
            "output_tokens": OUTPUT_TOKENS if final else 1,
        }
        return {
            "id": self.msg_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": self.stop_reason if final else None,
            "stop_sequence": self.stop_sequence if final else None,
            "usage": usage,
        }

    def full_message(self) -> JSONDict:
        return self.message([b.full_json() for b in self.blocks], final=True)

    def sse_chunks(self) -> Iterator[tuple[float, bytes]]:
        """(delay before sending, chunk) pairs after message_start, ending with message_stop."""
        for index, block in enumerate(self.blocks):
            start = {"type": "content_block_start", "index": index}
            yield 0.0, _sse({**start, "content_block": block.start_json()})
            if index == 0:
                yield 0.0, _sse({"type": "ping"})
            for piece in block.pieces if block.kind != "redacted_thinking" else ():
                delta = {"type": "content_block_delta", "index": index}
                yield self.delay, _sse({**delta, "delta": block.delta_json(piece)})
            if block.kind == "thinking":
                signature = {"type": "signature_delta", "signature": THINKING_SIGNATURE}
                yield 0.0, _sse({"type": "content_block_delta", "index": index, "delta": signature})
            yield 0.0, _sse({"type": "content_block_stop", "index": index})
        stop = {"stop_reason": self.stop_reason, "stop_sequence": self.stop_sequence}
        usage = {"output_tokens": OUTPUT_TOKENS}
        yield 0.0, _sse({"type": "message_delta", "delta": stop, "usage": usage})
        yield 0.0, _sse({"type": "message_stop"})


@dataclass
class _Turn:
    """What the scenario needs to know about a request."""

    model: str
    stream: bool
    prompt: str
    last_user: list[JSONDict]
    scenario: str = "echo"
    arg: str | None = None
    body: JSONDict = field(default_factory=dict)


def _blocks_of(message: JSONDict) -> list[JSONDict]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content or [] if isinstance(b, dict)]


def _prompt_text(blocks: list[JSONDict]) -> str:
    texts = [str(b.get("text", "")) for b in blocks if b.get("type") == "text"]
    return "\n".join(t for t in texts if not t.lstrip().startswith(REMINDER_PREFIX))


def _parse_turn(body: JSONDict) -> _Turn:
    users = [m for m in body.get("messages", []) if isinstance(m, dict) and m.get("role") == "user"]
    if not users:
        raise ValueError("no user message")
    last = _blocks_of(users[-1])
    prompt = ""
    for message in reversed(users):
        blocks = _blocks_of(message)
        prompt = _prompt_text(blocks)
        if prompt or not any(b.get("type") == "tool_result" for b in blocks):
            break
    turn = _Turn(str(body.get("model", "")), bool(body.get("stream")), prompt, last, body=body)
    match = MARKER_RE.search(prompt)
    if match:
        turn.scenario, turn.arg = match.group(1), match.group(2)
    return turn


def _split3(text: str) -> list[str]:
    n = len(text)
    return [p for p in (text[: n // 3], text[n // 3 : 2 * n // 3], text[2 * n // 3 :]) if p]


def _sse(data: JSONDict) -> bytes:
    return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode()


def _int_arg(arg: str | None, default: int) -> int:
    return int(arg) if arg and arg.isdigit() else default


def _error_body(kind: str, message: str) -> JSONDict:
    return {"type": "error", "error": {"type": kind, "message": message}}


class MockUpstream:
    """Mock Anthropic API server in a background thread. Use ``start()``/``stop()`` or ``with``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._msg_ids = itertools.count(1)
        self._tool_ids = itertools.count(1)
        self.open_streams = 0
        self._account_headers: dict[str, dict[str, str]] = {}
        self._stopping = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def start(self) -> str:
        if self._loop is not None:
            return self.base_url
        self._stopping.clear()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="mock-upstream", daemon=True)
        self._thread.start()
        port = asyncio.run_coroutine_threadsafe(self._astart(), self._loop).result(10)
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._stopping.set()
        asyncio.run_coroutine_threadsafe(self._astop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> MockUpstream:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run_loop(self) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        loop.run_forever()
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    async def _astart(self) -> int:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=0.5, handler_cancellation=True
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return int(self._runner.addresses[0][1])

    async def _astop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def message_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path == "/v1/messages"]

    def set_account_headers(self, suffix: str, headers: dict[str, str]) -> None:
        """Answers to the credential ending with `suffix` carry `headers` (replacing earlier)."""
        with self._lock:
            self._account_headers[suffix] = dict(headers)

    def _headers_for(self, rec: RecordedRequest) -> dict[str, str]:
        credential = rec.headers.get("authorization") or rec.headers.get("x-api-key") or ""
        with self._lock:
            for suffix, headers in self._account_headers.items():
                if suffix and credential.endswith(suffix):
                    return dict(headers)
        return {}

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    async def _record(self, request: web.Request) -> RecordedRequest:
        body = await request.read()
        try:
            parsed: Any | None = json.loads(body) if body else None
        except ValueError:
            parsed = None
        headers = {k.lower(): v for k, v in request.headers.items()}
        peer = request.transport.get_extra_info("peername") if request.transport else None
        rec = RecordedRequest(request.method, request.path, headers, body, parsed, str(peer))
        with self._lock:
            self._requests.append(rec)
        return rec

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        rec = await self._record(request)
        if request.path == "/" and request.method in ("GET", "HEAD"):
            return web.Response(status=200)
        if request.path == "/v1/messages" and request.method == "POST":
            return await self._messages(request, rec)
        if request.path == "/files/pixel.png" and request.method == "GET":
            return web.Response(body=PIXEL_PNG, content_type="image/png")  # a remote image
        msg = f"mock: no route for {request.method} {request.path}"
        return web.json_response(_error_body("not_found_error", msg), status=404)

    async def _messages(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        try:
            turn = _parse_turn(rec.json if isinstance(rec.json, dict) else {})
        except (ValueError, TypeError, AttributeError) as exc:
            body = _error_body("invalid_request_error", f"mock: bad request: {exc}")
            return web.json_response(body, status=400)
        if turn.scenario == "err429tok":
            self._limit_one_account(turn, rec.headers.get("authorization", ""))
        extra = self._headers_for(rec)
        if turn.scenario in _ERRORS:
            return self._error(turn, extra)
        try:
            reply = self._build_reply(turn)
        except ValueError as exc:
            body = _error_body("invalid_request_error", f"mock: {turn.scenario}: {exc}")
            return web.json_response(body, status=400)
        if reply is None:
            body = _error_body("invalid_request_error", f"mock: unknown scenario {turn.scenario}")
            return web.json_response(body, status=400)
        reply.msg_id, reply.model = f"msg_mock_{next(self._msg_ids)}", turn.model
        if turn.stream:
            return await self._stream(request, reply, extra)
        return await self._json(request, reply, extra)

    @staticmethod
    def _limit_one_account(turn: _Turn, authorization: str) -> None:
        """err429tok:SUFFIX@SECS: a 429 for the account whose token ends with SUFFIX, else echo."""
        suffix, _, seconds = (turn.arg or "").partition("@")
        limited = bool(suffix) and authorization.endswith(suffix)
        turn.scenario, turn.arg = ("err429", seconds) if limited else ("echo", None)

    def _error(self, turn: _Turn, extra: dict[str, str]) -> web.Response:
        status, kind = _ERRORS[turn.scenario]
        headers = {**extra, "request-id": f"req_mock_err_{status}"}
        if status in (500, 529):
            headers["x-should-retry"] = "false"
        if turn.scenario == "err429rate":  # a plain rate limit: only retry-after, no window
            headers["retry-after"] = str(_int_arg(turn.arg, 1))
        elif status == 429:
            headers.update(_rate_limit_headers(turn.arg))
        body = _error_body(kind, f"mock {turn.scenario}")
        return web.json_response(body, status=status, headers=headers)

    def _build_reply(self, turn: _Turn) -> _Reply | None:
        name, arg = turn.scenario, turn.arg
        if name == "tool_bash":
            return self._tool_bash(turn)
        if name == "tool_sleep":
            # A wait loop: 2.1.332's Bash tool refuses `sleep N` (N >= 30), chained or not.
            seconds = _int_arg(arg, 300)
            command = f"end=$((SECONDS+{seconds})); until [ $SECONDS -ge $end ]; do sleep 1; done"
            return self._tool_call(turn, "Bash", {"command": command})
        if name == "structured":
            return self._tool_call(turn, "StructuredOutput", {"answer": arg or "42"})
        if name == "slow":
            count = _int_arg(arg, 10)
            return _Reply([_Block("text", ["tick "] * count)], delay=SLOW_INTERVAL)
        if name == "hang":
            return _Reply([], hang=True)
        if name == "big":
            size = _int_arg(arg, 200_000)
            text = ("0123456789" * (size // 10 + 1))[:size]
            chunks = [text[i : i + BIG_CHUNK] for i in range(0, size, BIG_CHUNK)]
            return _Reply([_Block("text", chunks or [""])])
        if name == "maxtok":  # the answer stops at the max_tokens limit
            return _Reply([_Block("text", ["cut ", "short"])], stop_reason="max_tokens")
        if name == "image":
            count = sum(1 for b in turn.last_user if b.get("type") == "image")
            return _Reply([_Block("text", [f"saw {count} images"])])
        if name == "echo":
            return _Reply([_Block("text", _split3(echo_reply(turn.prompt)))])
        if name in ("think", "redacted"):
            answer = _Block("text", [THOUGHT_ANSWER])
            thinking = turn.body.get("thinking")
            if not isinstance(thinking, dict) or thinking.get("type") not in (
                "enabled",
                "adaptive",
            ):
                return _Reply([answer])
            blocks = [_Block("thinking", _split3(THINKING_TEXT))]
            if name == "redacted":
                blocks.append(_Block("redacted_thinking", [REDACTED_DATA]))
            return _Reply([*blocks, answer])
        if name == "stopseq":
            stops = turn.body.get("stop_sequences") or []
            sequence = arg or (str(stops[0]) if stops else "")
            if not sequence:
                raise ValueError("stopseq needs stop_sequences in the request (or an argument)")
            cut = _Block("text", _split3(STOPSEQ_TEXT))
            return _Reply([cut], stop_reason="stop_sequence", stop_sequence=sequence)
        planned = mock_scenarios.plan(name, arg, turn.body, turn.last_user)
        if planned is None:
            return None
        blocks = [
            _Block(b.kind, b.pieces, f"toolu_mock_{next(self._tool_ids)}", b.name)
            if b.kind == "tool_use"
            else _Block(b.kind, b.pieces)
            for b in planned.blocks
        ]
        return _Reply(blocks, stop_reason=planned.stop_reason)

    def _tool_call(self, turn: _Turn, name: str, tool_input: JSONDict) -> _Reply:
        """A text block and one tool_use; once the tool result comes back, a closing text."""
        if any(b.get("type") == "tool_result" for b in turn.last_user):
            return _Reply([_Block("text", ["tool finished"])])
        raw = json.dumps(tool_input)
        tool = _Block("tool_use", [raw], f"toolu_mock_{next(self._tool_ids)}", name)
        return _Reply([_Block("text", [f"calling {name}"]), tool], stop_reason="tool_use")

    def _tool_bash(self, turn: _Turn) -> _Reply:
        if any(b.get("type") == "tool_result" for b in turn.last_user):
            return _Reply([_Block("text", ["tool finished"])])
        path = turn.arg or "/tmp/mock_tool_bash"
        tool_input = {"command": f"touch {path} && pwd > {path}", "description": "mock command"}
        raw = json.dumps(tool_input)
        half = len(raw) // 2
        tool = _Block(
            "tool_use", [raw[:half], raw[half:]], f"toolu_mock_{next(self._tool_ids)}", "Bash"
        )
        text = _Block("text", ["I will run a command."])
        return _Reply([text, tool], stop_reason="tool_use")

    async def _json(
        self, request: web.Request, reply: _Reply, extra: dict[str, str]
    ) -> web.StreamResponse:
        if reply.hang:
            await self._wait_disconnect(request)
            return web.json_response(_error_body("api_error", "mock hang ended"), status=500)
        await asyncio.sleep(reply.delay * sum(len(b.pieces) for b in reply.blocks))
        headers = {**extra, "request-id": f"req_{reply.msg_id}"}
        return web.json_response(reply.full_message(), headers=headers)

    async def _stream(
        self, request: web.Request, reply: _Reply, extra: dict[str, str]
    ) -> web.StreamResponse:
        headers = {
            **extra,
            "content-type": "text/event-stream",
            "request-id": f"req_{reply.msg_id}",
        }
        resp = web.StreamResponse(headers={**headers, "cache-control": "no-cache"})
        await resp.prepare(request)
        self.open_streams += 1
        try:
            start = {"type": "message_start", "message": reply.message([], final=False)}
            await resp.write(_sse(start))
            if reply.hang:
                await self._wait_disconnect(request)
                return resp
            for delay, chunk in reply.sse_chunks():
                if delay:
                    await asyncio.sleep(delay)
                await resp.write(chunk)
            await resp.write_eof()
        except ConnectionResetError:
            pass  # the client went away
        finally:
            self.open_streams -= 1
        return resp

    async def _wait_disconnect(self, request: web.Request) -> None:
        while not self._stopping.is_set():
            transport = request.transport
            if transport is None or transport.is_closing():
                return
            await asyncio.sleep(0.05)


def _rate_limit_headers(arg: str | None) -> dict[str, str]:
    seconds = _int_arg(arg, 1)
    reset = str(int(time.time()) + seconds)
    return {
        "retry-after": str(seconds),
        "anthropic-ratelimit-unified-status": "rejected",
        "anthropic-ratelimit-unified-reset": reset,
        "anthropic-ratelimit-unified-representative-claim": "five_hour",
        "anthropic-ratelimit-unified-fallback": "unavailable",
        "anthropic-ratelimit-unified-overage-status": "rejected",
        "anthropic-ratelimit-unified-5h-utilization": "1.0",
        "anthropic-ratelimit-unified-5h-reset": reset,
    }


def conversation(body: Any) -> list[JSONDict]:
    """The request's `messages` without the CLI's own `role: "system"` ones.

    Since 2.1.332 the CLI puts a `# Environment` system message after the first user turn (and
    on a replay a date one after the newest): incidental bytes of one version, not the
    conversation (docs/claude-cli.md, "Versions")."""
    messages = (body or {}).get("messages") or []
    return [m for m in messages if m.get("role") != "system"]


def texts_of(message: JSONDict) -> list[str]:
    """The texts of one message, whether its content is a string or blocks (2.1.332 sends the
    newest user turn of a rebuilt conversation as a plain string)."""
    content = message.get("content")
    if isinstance(content, str):
        return [content]
    return [b["text"] for b in content or [] if b.get("type") == "text"]


def unified_headers(
    five_hour: float | None = None,
    five_hour_reset: int = 0,
    seven_day: float | None = None,
    seven_day_reset: int = 0,
    status: str = "allowed",
    claim: str = "five_hour",
    threshold: float = 0.9,
) -> dict[str, str]:
    """The OAuth `anthropic-ratelimit-unified-*` headers of an account with these windows.

    A window above `threshold` gets its `-surpassed-threshold` header and `allowed_warning`."""
    headers = {
        "anthropic-ratelimit-unified-status": status,
        "anthropic-ratelimit-unified-representative-claim": claim,
        "anthropic-ratelimit-unified-fallback": "available",
        "anthropic-ratelimit-unified-overage-status": "rejected",
        "anthropic-ratelimit-unified-overage-disabled-reason": "org_level_disabled",
    }
    resets = []
    for short, used, reset in (
        ("5h", five_hour, five_hour_reset),
        ("7d", seven_day, seven_day_reset),
    ):
        if used is None:
            continue
        window_status = status if status == "rejected" and used >= 1.0 else "allowed"
        if used >= threshold and window_status == "allowed":
            window_status = "allowed_warning"
            headers[f"anthropic-ratelimit-unified-{short}-surpassed-threshold"] = str(threshold)
        headers[f"anthropic-ratelimit-unified-{short}-utilization"] = str(used)
        headers[f"anthropic-ratelimit-unified-{short}-reset"] = str(reset)
        headers[f"anthropic-ratelimit-unified-{short}-status"] = window_status
        resets.append(reset)
    if resets:
        headers["anthropic-ratelimit-unified-reset"] = str(min(resets))
    return headers


def api_key_headers(
    requests_limit: int, requests_remaining: int, tokens_limit: int, tokens_remaining: int
) -> dict[str, str]:
    """An API key's `anthropic-ratelimit-requests-*` / `-tokens-*` headers (reset in 60 s)."""
    reset = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 60))
    return {
        "anthropic-ratelimit-requests-limit": str(requests_limit),
        "anthropic-ratelimit-requests-remaining": str(requests_remaining),
        "anthropic-ratelimit-requests-reset": reset,
        "anthropic-ratelimit-tokens-limit": str(tokens_limit),
        "anthropic-ratelimit-tokens-remaining": str(tokens_remaining),
        "anthropic-ratelimit-tokens-reset": reset,
    }
