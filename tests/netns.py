"""Simulated hosts for tests: one network namespace per host, reached from this one by veth.

`SimulatedHost` makes two namespaces named for this process: the host (`ccp-<pid>-<n>`) and
a cable (`ccp-<pid>-<n>c`) routing between it and this (the root) namespace:

    root 10.77.<n>.1 --veth-- .2 cable .5 --veth-- .6 host

and tears them down again, killing what it started there, even after a failure. A run killed
before its teardown leaves namespaces named for a dead pid; the next `SimulatedHost` removes
them. `link_down` takes both of the cable's ends down: packets either way then vanish without
an answer, as when a host loses power, and the routes on both sides stay for `link_up`.

Delay and loss (`netem`) are made in the cable. The kernel of the machines we run on has no
sch_netem (`tc qdisc add ... netem` answers "Specified qdisc kind is unknown"), so iptables
(Debian package `iptables`) hands every packet the cable forwards to an NFQUEUE, and a verdict
process (`python -m tests.nfqueue`, tests/nfqueue.py) lets each through after the
delay, or drops it with the loss probability. The cable delays both directions, so a round
trip grows by twice the delay, as netem on both ends of a veth would make it. It is in a
namespace of its own because a packet held before it leaves its sender's namespace still
counts against the sender's TCP small-queue budget, which throttles a stream to a few packets
per delay; a forwarded packet no longer does.
"""

from __future__ import annotations

import fcntl
import ipaddress
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Any

from tests import nfqueue

SUBNET_BASE = "10.77"
QUEUE = 0
_LOCK = Path("/tmp/ccp-netns.lock")
_NAMESPACE = re.compile(r"^ccp-(\d+)-(\d+)c?$")
_OUTER_LINK = re.compile(r"^ccpo([0-9a-f]+)x[0-9a-f]+$")
_serials = itertools.count(1)
_OCTETS = {"o": 1, "a": 2, "b": 5, "i": 6}
"""The last octet of each veth end's address: two /30s, root-cable and cable-host."""
_PEERS = {"o": "a", "a": "o", "b": "i", "i": "b"}


class NetnsError(RuntimeError):
    """An `ip`/`iptables` command failed; the message carries the command and its stderr."""


# --- pure: names, addresses, argv -------------------------------------------------------------


@dataclass(frozen=True)
class HostPlan:
    """The names and addresses of one simulated host (interface names fit IFNAMSIZ, 15)."""

    pid: int
    serial: int
    subnet: int

    @property
    def namespace(self) -> str:
        return f"ccp-{self.pid}-{self.serial}"

    @property
    def cable(self) -> str:
        return f"{self.namespace}c"

    def link(self, end: str) -> str:
        """The veth ends: `o` here (outer), `a` and `b` in the cable, `i` in the host (the
        pairs are o-a and b-i)."""
        return f"ccp{end}{self.pid:x}x{self.serial:x}"

    def address(self, last: int) -> str:
        return f"{SUBNET_BASE}.{self.subnet}.{last}"

    def cidr(self, end: str) -> str:
        return f"{self.address(_OCTETS[end])}/30"

    def mac(self, end: str) -> str:
        return f"02:77:{self.subnet:02x}:00:00:{_OCTETS[end]:02x}"

    @property
    def outer_ip(self) -> str:
        """This (the root) namespace's address on the link: the host's peer."""
        return self.address(_OCTETS["o"])

    @property
    def inner_ip(self) -> str:
        """The simulated host's address."""
        return self.address(_OCTETS["i"])


def free_subnet(addresses: Iterable[str]) -> int:
    """The lowest third octet n in 1..254 whose 10.77.n.0/24 holds none of `addresses`."""
    network = ipaddress.ip_network(f"{SUBNET_BASE}.0.0/16")
    used = {
        int(str(address).split(".")[2])
        for address in addresses
        if ipaddress.ip_address(address) in network
    }
    free = next((n for n in range(1, 255) if n not in used), None)
    if free is None:
        raise NetnsError(f"no free /24 left in {network}")
    return free


def ipv4_addresses(ip_output: str) -> list[str]:
    """The addresses in `ip -o -4 addr show` output."""
    return re.findall(r"\binet (\d+\.\d+\.\d+\.\d+)/", ip_output)


def _ip(plan: HostPlan, end: str) -> list[str]:
    """`ip` in the namespace holding veth end `end`."""
    namespace = {"o": None, "a": plan.cable, "b": plan.cable, "i": plan.namespace}[end]
    return ["ip", "-n", namespace] if namespace else ["ip"]


def _neighbour(plan: HostPlan, end: str) -> list[str]:
    """`end` knows its peer's MAC for good: no ARP to fail while the cable is out, nothing
    to relearn when it is back."""
    peer = _PEERS[end]
    lladdr = ["lladdr", plan.mac(peer), "dev", plan.link(end), "nud", "permanent"]
    return [*_ip(plan, end), "neigh", "replace", plan.address(_OCTETS[peer]), *lladdr]


def _via(plan: HostPlan, end: str) -> str:
    return plan.address(_OCTETS[end])


def setup_commands(plan: HostPlan) -> list[list[str]]:
    """The commands that make the host and its cable, in order."""
    link = {end: [plan.link(end), "address", plan.mac(end)] for end in "oabi"}
    pair = ["type", "veth", "peer"]
    return [
        ["ip", "netns", "add", plan.namespace],
        ["ip", "netns", "add", plan.cable],
        ["ip", "link", "add", *link["o"], *pair, *link["a"], "netns", plan.cable],
        [*_ip(plan, "b"), "link", "add", *link["b"], *pair, *link["i"], "netns", plan.namespace],
        *(
            [*_ip(plan, end), "addr", "add", plan.cidr(end), "dev", plan.link(end)]
            for end in "oabi"
        ),
        ["ip", "netns", "exec", plan.cable, "sysctl", "-qw", "net.ipv4.ip_forward=1"],
        [*_ip(plan, "a"), "link", "set", "lo", "up"],
        [*_ip(plan, "i"), "link", "set", "lo", "up"],
        *cable_commands(plan, up=True),
        *([*_ip(plan, end), "link", "set", plan.link(end), "up"] for end in "oi"),
        _neighbour(plan, "o"),
        _neighbour(plan, "i"),
        ["ip", "route", "add", f"{SUBNET_BASE}.{plan.subnet}.0/24", "via", _via(plan, "a")],
        [*_ip(plan, "i"), "route", "add", "default", "via", _via(plan, "b")],
    ]


def cable_commands(plan: HostPlan, up: bool) -> list[list[str]]:
    """Cable in or out: both of the cable's ends up or down. The outer and inner ends then
    lose their carrier and keep their routes and neighbours; the cable's own ends lose their
    neighbours, given back when they come up."""
    state = [
        [*_ip(plan, end), "link", "set", plan.link(end), "up" if up else "down"] for end in "ab"
    ]
    return state + [_neighbour(plan, end) for end in "ab"] if up else state


def impair_rule(plan: HostPlan, add: bool) -> list[str]:
    """The cable's rule sending what it forwards, both ways, to the NFQUEUE; `--queue-bypass`
    lets packets through whenever no verdict process is bound."""
    exec_in = ["ip", "netns", "exec", plan.cable, "iptables", "-w"]
    target = ["-j", "NFQUEUE", "--queue-num", str(QUEUE), "--queue-bypass"]
    return [*exec_in, "-A" if add else "-D", "FORWARD", *target]


def stale_namespaces(names: Iterable[str], alive: Callable[[int], bool]) -> list[str]:
    """Our namespaces whose creating process is gone."""
    return [n for n in names if (m := _NAMESPACE.match(n)) and not alive(int(m.group(1)))]


def stale_links(names: Iterable[str], alive: Callable[[int], bool]) -> list[str]:
    """Our outer veth ends whose creating process is gone."""
    return [n for n in names if (m := _OUTER_LINK.match(n)) and not alive(int(m.group(1), 16))]


# --- I/O ----------------------------------------------------------------------------------------


def _run(argv: list[str], check: bool = True) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if check and result.returncode != 0:
        raise NetnsError(f"`{' '.join(argv)}` failed: {result.stderr.strip() or result.returncode}")
    return result.stdout


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _namespace_names() -> list[str]:
    return [line.split()[0] for line in _run(["ip", "netns", "list"]).splitlines() if line]


def _kill_namespace_pids(namespace: str) -> None:
    for pid in _run(["ip", "netns", "pids", namespace], check=False).split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass


def sweep_stale() -> None:
    """Remove namespaces and links that runs killed before their teardown left behind."""
    for namespace in stale_namespaces(_namespace_names(), _alive):
        _kill_namespace_pids(namespace)
        _run(["ip", "netns", "del", namespace], check=False)
    links = re.findall(r"^\d+: ([^:@]+)", _run(["ip", "-o", "link", "show"]), re.MULTILINE)
    for link in stale_links(links, _alive):
        _run(["ip", "link", "del", link], check=False)


@cache
def namespaces_unavailable() -> str | None:
    """None when namespaces and veth pairs can be made here; else why not (the error text)."""
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed"
    plan = HostPlan(os.getpid(), 0, 0)
    try:
        _run(["ip", "netns", "add", plan.namespace])
        try:
            _run(["ip", "-n", plan.namespace, "link", "add", "p0", "type", "veth", "peer", "p1"])
        finally:
            _run(["ip", "netns", "del", plan.namespace], check=False)
    except (NetnsError, OSError) as exc:
        return f"network namespaces unavailable: {exc}"
    return None


def impairment_unavailable() -> str | None:
    """None when `netem` can work (iptables and the kernel's NFQUEUE); else why not."""
    if shutil.which("iptables") is None:
        return "iptables is not installed (Debian package iptables): netem needs its NFQUEUE"
    return None


class SimulatedHost:
    """One simulated host: `with SimulatedHost() as host: host.run([...])`."""

    def __init__(self) -> None:
        self.plan: HostPlan | None = None
        self._started: list[subprocess.Popen[bytes]] = []
        self._verdicts: subprocess.Popen[bytes] | None = None

    @property
    def ip(self) -> str:
        return self._plan.inner_ip

    @property
    def peer_ip(self) -> str:
        return self._plan.outer_ip

    @property
    def namespace(self) -> str:
        return self._plan.namespace

    @property
    def _plan(self) -> HostPlan:
        if self.plan is None:
            raise NetnsError("the host is not open")
        return self.plan

    def open(self) -> SimulatedHost:
        if self.plan is not None:
            raise NetnsError(f"{self.plan.namespace} is open already")
        sweep_stale()
        _LOCK.touch(exist_ok=True)
        with _LOCK.open() as lock:  # subnets are chosen and taken under one lock
            fcntl.flock(lock, fcntl.LOCK_EX)
            used = ipv4_addresses(_run(["ip", "-o", "-4", "addr", "show"]))
            self.plan = HostPlan(os.getpid(), next(_serials), free_subnet(used))
            try:
                for argv in setup_commands(self.plan):
                    _run(argv)
            except BaseException:
                self.close()
                raise
        return self

    def run(self, argv: list[str], **popen: Any) -> subprocess.Popen[bytes]:
        """Start `argv` inside the host, in a session of its own; killed by `close`."""
        process = _spawn(self.namespace, argv, **popen)
        self._started.append(process)
        return process

    def link_down(self) -> None:
        for argv in cable_commands(self._plan, up=False):
            _run(argv)

    def link_up(self) -> None:
        for argv in cable_commands(self._plan, up=True):
            _run(argv)

    def netem(self, delay_ms: float, loss_pct: float = 0.0) -> None:
        """Delay every packet the cable carries by `delay_ms` and drop `loss_pct` percent of
        them, both ways (a round trip grows by 2 x delay_ms). Replaces any earlier setting."""
        reason = impairment_unavailable()
        if reason:
            raise NetnsError(reason)
        self.netem_off()
        argv = [sys.executable, "-m", "tests.nfqueue", "--queue", str(QUEUE)]
        argv += ["--delay-ms", str(delay_ms), "--loss-pct", str(loss_pct)]
        repo = Path(__file__).resolve().parent.parent
        verdicts = _spawn(self._plan.cable, argv, stdout=subprocess.PIPE, cwd=repo)
        self._verdicts = verdicts
        assert verdicts.stdout is not None
        ready = verdicts.stdout.readline()  # the process binds the queue before it says so
        if ready.strip() != nfqueue.READY.encode():
            raise NetnsError(f"verdict process did not start (exit {verdicts.wait(10)})")
        _run(impair_rule(self._plan, add=True))

    def netem_off(self) -> None:
        if self._verdicts is None:
            return
        _run(impair_rule(self._plan, add=False), check=False)
        _stop(self._verdicts)
        self._verdicts = None

    def close(self) -> None:
        """Kill what was started here, then remove both namespaces and the veths. Idempotent."""
        if self.plan is None:
            return
        self.netem_off()
        for process in self._started:
            _stop(process)
        self._started.clear()
        for namespace in (self.plan.namespace, self.plan.cable):
            _kill_namespace_pids(namespace)
        _run(["ip", "link", "del", self.plan.link("o")], check=False)
        for namespace in (self.plan.namespace, self.plan.cable):
            _run(["ip", "netns", "del", namespace], check=False)
        self.plan = None

    def __enter__(self) -> SimulatedHost:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _spawn(namespace: str, argv: list[str], **popen: Any) -> subprocess.Popen[bytes]:
    popen.setdefault("start_new_session", True)
    return subprocess.Popen(["ip", "netns", "exec", namespace, *argv], **popen)


def _stop(process: subprocess.Popen[bytes], grace_s: float = 10) -> None:
    """TERM the process's group, wait, then KILL it; already gone is fine."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        if process.poll() is not None:
            break
        try:
            os.killpg(process.pid, sig)
            process.wait(wait_s)
        except ProcessLookupError:
            break
        except subprocess.TimeoutExpired:
            continue
    for stream in (process.stdout, process.stderr, process.stdin):
        if stream is not None:
            stream.close()
