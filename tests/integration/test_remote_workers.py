"""Remote workerds across simulated hosts (issue 23), on the rig of tests/remote_rig.py: worker
hosts in network namespaces behind veth cables, reached over TCP with mutual TLS."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import grpc
import openai
import pytest

from tests.netns import impairment_unavailable, namespaces_unavailable
from tests.remote_rig import (
    SETTLE_S,
    Rig,
    chat,
    credentials_of,
    drained,
    health_status,
    issue_certs,
    only,
    open_rig,
    reaches,
    stream_chat,
    worker_state,
)
from tests.stack import wait_until

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    reason = namespaces_unavailable()
    if reason is not None:
        pytest.skip(reason)
    with ExitStack() as cleanup:
        yield open_rig(cleanup)


def test_the_remote_worker_serves_completions_over_mutual_tls(rig: Rig) -> None:
    with only(rig.stack, "r1"):
        assert chat(rig.stack, "across hosts") == ("r1", "fake says: across hosts")
        assert stream_chat(rig.stack, "streamed across") == ("r1", "fake says: streamed across")
    assert worker_state(rig.stack, "r1") == "up"


def test_plaintext_and_foreign_certificates_are_refused_by_the_remote_workerd(
    rig: Rig, tmp_path: Path
) -> None:
    target = rig.address("big")
    assert health_status(target, credentials_of(rig.certs, "controller")) == "SERVING"
    foreign = tmp_path / "foreign"  # another CA, its own host certificate
    issue_certs(foreign, {"intruder": [rig.hosts["big"].net.peer_ip]})
    refused = {
        "plaintext": None,
        "no client certificate": grpc.ssl_channel_credentials((rig.certs / "ca.crt").read_bytes()),
        "a certificate from another CA": credentials_of(foreign, "intruder", rig.certs / "ca.crt"),
    }
    for what, credentials in refused.items():
        with pytest.raises(grpc.RpcError) as caught:
            health_status(target, credentials)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE, what


def test_delay_and_loss_slow_completions_down_but_they_pass(rig: Rig) -> None:
    reason = impairment_unavailable()
    if reason is not None:
        pytest.fail(reason)  # an environment without the impairment must not pass this silently
    net = rig.hosts["big"].net
    net.netem(delay_ms=20, loss_pct=1)
    try:
        with only(rig.stack, "r1"):
            for n in range(4):
                start = time.monotonic()
                assert chat(rig.stack, f"slow link {n}") == ("r1", f"fake says: slow link {n}")
                assert stream_chat(rig.stack, f"lossy {n}") == ("r1", f"fake says: lossy {n}")
                assert time.monotonic() - start >= 0.080  # two calls, each a 40 ms round trip
    finally:
        net.netem_off()
    assert worker_state(rig.stack, "r1") == "up"


def test_a_cut_link_ends_the_stream_routes_around_and_the_host_is_taken_back(rig: Rig) -> None:
    stack, net = rig.stack, rig.hosts["big"].net
    with only(stack, "r1"):
        stream = stack.client().chat.completions.create(
            model="sonnet", messages=[{"role": "user", "content": "FAKE:stall:30 cut"}], stream=True
        )
    with stream, drained(stack, "r2"):  # local and r1 may take new requests
        chunks = iter(stream)
        assert next(c for c in chunks if c.choices and c.choices[0].delta.content)  # mid-stream
        cut = time.monotonic()
        net.link_down()
        try:
            with pytest.raises(openai.APIError):
                for _ in chunks:
                    pass
            ended_after = time.monotonic() - cut
            assert ended_after < 3, f"the stream took {ended_after:.1f} s to end"
            wait_until(lambda: worker_state(stack, "r1") == "down", SETTLE_S, "r1 down")
            assert chat(stack, "while r1 is away")[0] == "local"
        finally:
            net.link_up()
    wait_until(lambda: worker_state(stack, "r1") == "up", SETTLE_S, "r1 up again")
    with only(stack, "r1"):
        assert chat(stack, "r1 is back") == ("r1", "fake says: r1 is back")


def test_a_killed_remote_workerd_is_restarted_by_its_supervisord_and_taken_back(
    rig: Rig,
) -> None:
    stack, host = rig.stack, rig.hosts["big"]
    pid = int(host.supervisorctl("pid", "workerd-r1").strip())
    os.kill(pid, signal.SIGKILL)

    def restarted() -> bool:
        now = host.supervisorctl("pid", "workerd-r1").strip()
        return now.isdigit() and int(now) not in (0, pid)

    wait_until(restarted, SETTLE_S, "workerd-r1 restarted by the worker host's supervisord")
    host.wait_serving(rig.address("big"), credentials_of(rig.certs, "controller"))
    # Whether the controller's checks caught it down depends on how fast it came back (a
    # remote worker is down after two failed checks); either way its channel reaches the new
    # process, with no restart of the controller: an Admin call through it answers.
    wait_until(lambda: reaches(stack, "r1"), SETTLE_S, "the controller to reach the new r1")
    assert worker_state(stack, "r1") == "up"
    with only(stack, "r1"):
        assert chat(stack, "after the restart") == ("r1", "fake says: after the restart")


def test_a_19_mb_request_crosses_hosts(rig: Rig) -> None:
    history = []
    for n in range(19):  # older turns: the CLI worker may trim them, but they all cross
        history.append({"role": "user" if n % 2 == 0 else "assistant", "content": "x" * 999_000})
    messages = [*history, {"role": "user", "content": "the newest turn"}]
    assert len(json.dumps(messages)) > 18_900_000
    with only(rig.stack, "r1"):
        raw = rig.stack.client(timeout=120).chat.completions.with_raw_response.create(
            model="sonnet",
            messages=messages,  # type: ignore[arg-type]
        )
    assert raw.headers["X-Proxy-Worker"] == "r1"
    assert raw.parse().choices[0].message.content


def test_a_request_over_the_worker_hosts_message_limit_is_a_413(rig: Rig) -> None:
    with only(rig.stack, "r2"), pytest.raises(openai.APIStatusError) as caught:
        chat(rig.stack, "y" * 2_000_000)  # GRPC_MAX_MESSAGE_MB=1 on host `small`
    assert caught.value.status_code == 413
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["type"] == "invalid_request_error"
    assert body["code"] == "request_too_large"
    assert "GRPC_MAX_MESSAGE_MB" in body["message"]
    assert worker_state(rig.stack, "r2") == "up"  # the worker is fine: only the request was big
