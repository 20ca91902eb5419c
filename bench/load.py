"""Closed-loop HTTP load: `concurrency` clients send requests back to back, each timed.

One aiohttp session with keep-alive connections, the same for every target, so what the client
costs is the same on every side of a comparison. A streamed request's time to first token is the
moment its first SSE event carrying answer text arrived (Anthropic `text_delta` or an OpenAI
chunk with non-empty `content`).
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp


@dataclass(frozen=True)
class Target:
    """Where a request goes and how its body is shaped."""

    name: str
    url: str
    headers: dict[str, str]
    anthropic: bool  # the Messages API shape (the mock directly), else OpenAI chat completions

    def body(self, stream: bool, text: str = "hello") -> bytes:
        messages = [{"role": "user", "content": text}]
        body: dict[str, Any] = {"model": "sonnet", "messages": messages, "max_tokens": 64}
        if stream:
            body["stream"] = True
        if self.anthropic:
            body["model"] = "claude-sonnet-4-5"
        return json.dumps(body).encode()


@dataclass
class Sample:
    """The timings of one request, in seconds; `error` is empty when it succeeded."""

    latency: float
    ttft: float | None = None
    error: str = ""


@dataclass
class Run:
    samples: list[Sample] = field(default_factory=list)
    wall_s: float = 0.0
    started_monotonic: float = 0.0  # time.monotonic() when the requests were sent

    @property
    def ok(self) -> list[Sample]:
        return [s for s in self.samples if not s.error]

    @property
    def errors(self) -> int:
        return len(self.samples) - len(self.ok)


def _has_text(line: bytes, anthropic: bool) -> bool:
    if not line.startswith(b"data:"):
        return False
    if anthropic:
        return b'"text_delta"' in line
    try:
        chunk = json.loads(line[5:])
    except ValueError:
        return False
    choices = chunk.get("choices") if isinstance(chunk, dict) else None
    return bool(choices and (choices[0].get("delta") or {}).get("content"))


async def one(
    session: aiohttp.ClientSession, target: Target, stream: bool, text: str = "hello"
) -> Sample:
    started = time.perf_counter()
    ttft: float | None = None
    try:
        async with session.post(target.url, data=target.body(stream, text)) as response:
            if response.status != 200:
                await response.read()
                return Sample(time.perf_counter() - started, error=f"HTTP {response.status}")
            if not stream:
                await response.read()
            else:
                async for line in response.content:
                    if ttft is None and _has_text(line, target.anthropic):
                        ttft = time.perf_counter() - started
    except (aiohttp.ClientError, TimeoutError) as exc:
        return Sample(time.perf_counter() - started, error=type(exc).__name__)
    if stream and ttft is None:
        return Sample(time.perf_counter() - started, error="no text")
    return Sample(time.perf_counter() - started, ttft)


def session_for(target: Target, connections: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    timeout = aiohttp.ClientTimeout(total=300)
    headers = {"content-type": "application/json", **target.headers}
    return aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers)


async def closed_loop(
    target: Target, stream: bool, concurrency: int, duration_s: float, warmup: int = 10
) -> Run:
    """`concurrency` clients for `duration_s` seconds (after `warmup` requests each)."""
    async with session_for(target, concurrency) as session:
        await asyncio.gather(
            *(one(session, target, stream) for _ in range(max(warmup, concurrency)))
        )
        run = Run()
        started = time.perf_counter()
        stop_at = started + duration_s

        async def client() -> None:
            while time.perf_counter() < stop_at:
                run.samples.append(await one(session, target, stream))

        await asyncio.gather(*(client() for _ in range(concurrency)))
        run.wall_s = time.perf_counter() - started
    return run


async def burst(target: Target, stream: bool, count: int, text: str) -> Run:
    """`count` requests at once, each on its own connection. The load generator's own garbage
    collector is held off meanwhile: one full collection of this process takes tens of
    milliseconds, which would land on whichever side's burst it fell in."""
    async with session_for(target, count) as session:
        await one(session, target, stream)  # a warm connection pool is not what this measures
        gc.collect()
        gc.disable()
        try:
            started, started_monotonic = time.perf_counter(), time.monotonic()
            samples = await asyncio.gather(
                *(one(session, target, stream, text) for _ in range(count))
            )
        finally:
            gc.enable()
        return Run(list(samples), time.perf_counter() - started, started_monotonic)
