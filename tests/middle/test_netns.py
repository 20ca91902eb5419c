"""The simulated-host fixture (tests/netns.py) does what the cross-host tests rely on: TCP
crosses the veth, a cut link stops it and a mended one carries it again, `netem` adds the
delay and loss it is asked for, and teardown leaves nothing behind."""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.netns import SimulatedHost, impairment_unavailable, namespaces_unavailable

pytestmark = pytest.mark.middle

PORT = 7000
# TCP (a thread per connection) and UDP echo on PORT; says "ready" once both are bound.
ECHO_SERVER = """
import socket, sys, threading
def serve(conn):
    with conn:
        while data := conn.recv(65536):
            conn.sendall(data)
tcp = socket.create_server((sys.argv[1], int(sys.argv[2])))
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind((sys.argv[1], int(sys.argv[2])))
def bounce():
    while True:
        data, peer = udp.recvfrom(2048)
        udp.sendto(data, peer)
threading.Thread(target=bounce, daemon=True).start()
print("ready", flush=True)
while True:
    threading.Thread(target=serve, args=(tcp.accept()[0],), daemon=True).start()
"""


def _require_namespaces() -> None:
    reason = namespaces_unavailable()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def host() -> Iterator[SimulatedHost]:
    """One host running the echo server."""
    _require_namespaces()
    with SimulatedHost() as opened:
        server = opened.run(
            [sys.executable, "-c", ECHO_SERVER, opened.ip, str(PORT)], stdout=subprocess.PIPE
        )
        assert server.stdout is not None
        assert server.stdout.readline() == b"ready\n"
        yield opened


def _echo_once(host: SimulatedHost, timeout: float = 2) -> bytes:
    with socket.create_connection((host.ip, PORT), timeout=timeout) as conn:
        conn.sendall(b"ping")
        return conn.recv(16)


def _round_trips(host: SimulatedHost, count: int = 15) -> list[float]:
    """Seconds for one byte there and back, over one connection."""
    with socket.create_connection((host.ip, PORT), timeout=5) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        times = []
        for _ in range(count):
            start = time.monotonic()
            conn.sendall(b"x")
            assert conn.recv(1) == b"x"
            times.append(time.monotonic() - start)
        return times


def _udp_answers(host: SimulatedHost, count: int) -> int:
    """How many of `count` datagrams, sent at once, come back (collected until none has come
    for half a second)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for n in range(count):
            sock.sendto(str(n).encode(), (host.ip, PORT))
        sock.settimeout(0.5)
        answers: set[bytes] = set()
        try:
            while len(answers) < count:
                answers.add(sock.recvfrom(64)[0])
        except TimeoutError:
            pass
        return len(answers & {str(n).encode() for n in range(count)})


def test_tcp_crosses_the_link_stops_when_cut_and_resumes_when_mended(host: SimulatedHost) -> None:
    assert _echo_once(host) == b"ping"
    with socket.create_connection((host.ip, PORT), timeout=2) as held:
        host.link_down()
        try:
            with pytest.raises(OSError):
                _echo_once(host, timeout=1)
            held.sendall(b"across the cut")
            with pytest.raises(TimeoutError):
                held.recv(64)
        finally:
            host.link_up()
        assert _echo_once(host) == b"ping"
        held.settimeout(15)  # TCP retransmits on its own backoff: the routes survived the cut
        assert held.recv(64) == b"across the cut"


def test_netem_adds_the_delay_both_ways_and_goes_away(host: SimulatedHost) -> None:
    reason = impairment_unavailable()
    if reason is not None:
        pytest.skip(reason)
    before = statistics.median(_round_trips(host))
    host.netem(delay_ms=25)
    try:
        delayed = _round_trips(host)
    finally:
        host.netem_off()
    after = statistics.median(_round_trips(host))
    assert min(delayed) >= 0.050, delayed  # 25 ms out and 25 ms back
    assert statistics.median(delayed) - before >= 0.025
    assert statistics.median(delayed) < 0.5, "delay far beyond what was asked"
    assert after < 0.010, f"delay left behind: {after * 1000:.1f} ms"


def test_netem_drops_the_share_asked_for(host: SimulatedHost) -> None:
    reason = impairment_unavailable()
    if reason is not None:
        pytest.skip(reason)
    host.netem(delay_ms=1, loss_pct=30)
    try:
        answered = _udp_answers(host, 300)
    finally:
        host.netem_off()
    # Each round trip survives with 0.7 * 0.7 = 0.49: 147 expected, 8.7 standard deviations.
    assert 90 <= answered <= 210, answered
    assert _udp_answers(host, 50) == 50


def _namespaces() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def _link_exists(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", name], capture_output=True).returncode == 0


def test_teardown_after_a_failure_leaves_no_namespace_link_or_process() -> None:
    _require_namespaces()
    with pytest.raises(RuntimeError, match="the test failed"), SimulatedHost() as opened:
        plan = opened.plan
        assert plan is not None
        sleeper = opened.run(["sleep", "600"])
        assert plan.namespace in _namespaces()
        raise RuntimeError("the test failed")
    assert plan is not None
    assert sleeper.poll() is not None
    listed = _namespaces().split()
    assert plan.namespace not in listed
    assert plan.cable not in listed
    assert not _link_exists(plan.link("o"))


def test_a_dead_runs_namespace_is_swept_by_the_next_host() -> None:
    _require_namespaces()
    finished = subprocess.Popen(["true"])
    finished.wait()  # its pid now names a run that is gone
    stale = f"ccp-{finished.pid}-1"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    try:
        with SimulatedHost():
            assert stale not in _namespaces().split()
    finally:
        subprocess.run(["ip", "netns", "del", stale], capture_output=True, check=False)
