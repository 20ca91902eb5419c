"""Large failing requests do not stay in memory: after a dozen 19 MB requests refused past the
frontdoor (the controller refuses them at admission), the frontdoor and the controller are
back near their size before them (real processes under supervisord, as in production)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import psutil
import pytest

from tests.stack import TOKEN, Stack

pytestmark = pytest.mark.stack
MIB = 1024 * 1024
REQUESTS = 12
LARGE = "x" * 19_000_000
GROWTH_LIMIT = 60 * MIB  # measured: about 20 MiB; 90 to 110 MiB when glibc kept the arenas


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    workers = [{"name": "api", "mode": "api", "api_key": "sk-ant-api03-test"}]
    started = Stack(
        {"WORKERS": json.dumps(workers), "ANTHROPIC_BASE_URL": "http://127.0.0.1:9"}
    ).start()
    yield started
    started.stop()


def rss(stack: Stack) -> dict[str, int]:
    supervisord = psutil.Process(int((stack.state_dir / "supervisor/supervisord.pid").read_text()))
    sizes = {}
    for child in supervisord.children():
        for module in ("frontdoor", "controller"):
            if f"-m {module}" in " ".join(child.cmdline()):
                sizes[module] = child.memory_info().rss
    return sizes


def test_large_refused_requests_leave_no_memory_behind(stack: Stack) -> None:
    client = openai.OpenAI(
        base_url=stack.base_url + "/v1", api_key=TOKEN, max_retries=0, timeout=120
    )
    before = rss(stack)
    for _ in range(REQUESTS):
        with pytest.raises(openai.BadRequestError) as refused:
            client.chat.completions.create(
                model="sonnet", messages=[{"role": "user", "content": LARGE}]
            )
        assert refused.value.code == "context_length_exceeded"
    after = rss(stack)

    assert set(after) == {"frontdoor", "controller"}
    for module, size in after.items():
        assert size - before[module] < GROWTH_LIMIT, (module, before[module], size)
