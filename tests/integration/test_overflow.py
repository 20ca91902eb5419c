"""Overflow: traffic goes to an api worker only when allowed and no CLI worker can take it."""

from __future__ import annotations

import json

import openai
import pytest

from tests.mock_upstream import MockUpstream, echo_reply
from tests.stack import Stack, claude_bin

pytestmark = pytest.mark.stack


def mixed_pool(upstream: MockUpstream, overflow: bool) -> Stack:
    workers = [
        {"name": "c", "bin": claude_bin(), "token": "sk-ant-oat01-test-c", "mode": "cli"},
        {"name": "api", "api_key": "sk-ant-api03-test-key", "mode": "api"},
    ]
    settings = {
        "WORKERS": json.dumps(workers),
        "ANTHROPIC_BASE_URL": upstream.base_url,
        "OVERFLOW_TO_API": "true" if overflow else "false",
        "QUEUE_TIMEOUT_MS": "3000",
    }
    return Stack(settings).start()


def ask(stack: Stack, text: str) -> tuple[str, str]:
    raw = stack.client().chat.completions.with_raw_response.create(
        model="sonnet", messages=[{"role": "user", "content": text}]
    )
    return raw.parse().choices[0].message.content or "", raw.headers["x-proxy-worker"]


def test_cli_workers_serve_while_they_can(upstream: MockUpstream) -> None:
    stack = mixed_pool(upstream, overflow=True)
    try:
        assert {ask(stack, f"plain {n}")[1] for n in range(3)} == {"c"}
    finally:
        stack.stop()


def test_overflow_goes_to_the_api_worker_when_the_cli_account_is_limited(
    upstream: MockUpstream,
) -> None:
    stack = mixed_pool(upstream, overflow=True)
    try:
        answer, worker = ask(stack, "SCN:err429tok:-c@30 limited")
        assert (answer, worker) == (echo_reply("limited"), "api")
        assert stack.worker_state("c").state == "cooling"
        assert ask(stack, "while cooling") == (echo_reply("while cooling"), "api")
    finally:
        stack.stop()


def test_without_overflow_a_limited_pool_answers_429_with_retry_after(
    upstream: MockUpstream,
) -> None:
    stack = mixed_pool(upstream, overflow=False)
    try:
        with pytest.raises(openai.RateLimitError) as caught:
            ask(stack, "SCN:err429tok:-c@30 limited")
        retry_after = int(caught.value.response.headers["retry-after"])
        assert 20 <= retry_after <= 31
    finally:
        stack.stop()
