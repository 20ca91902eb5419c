"""The verdict process of tests/netns.py's `netem`: `python -m tests.nfqueue --delay-ms D
--loss-pct L`, run in a simulated host's cable namespace, binds NFQUEUE `--queue` over a raw
netfilter netlink socket, says "ready", then lets every queued packet through after D ms or
drops it with probability L %. The kernel here has no sch_netem; iptables sends the cable's
forwarded packets to this queue (`--queue-bypass`: with no process bound they pass untouched).
"""

from __future__ import annotations

import argparse
import os
import random
import select
import signal
import socket
import struct
import time
from collections import deque
from collections.abc import Iterator

READY = "ready"
_NETLINK_NETFILTER = 12
_NETLINK_NO_ENOBUFS = 5
_SOL_NETLINK = 270
_SO_RCVBUFFORCE = 33  # Linux; the socket module does not name it
_QUEUE_SUBSYSTEM = 3 << 8  # NFNL_SUBSYS_QUEUE, in the high byte of the message type
_MSG_PACKET, _MSG_VERDICT, _MSG_CONFIG = 0, 1, 2
_NLM_F_REQUEST, _NLM_F_ACK = 1, 4
_NLMSG_ERROR = 2
_CFG_CMD, _CFG_PARAMS, _CFG_QUEUE_MAXLEN, _CFG_MASK, _CFG_FLAGS = 1, 2, 3, 4, 5
_CMD_BIND, _COPY_META = 1, 1
_FLAG_FAIL_OPEN, _FLAG_GSO = 1, 4
_ATTR_PACKET_HDR, _ATTR_VERDICT_HDR = 1, 2
_NF_DROP, _NF_ACCEPT = 0, 1


def _attribute(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


def queue_message(msg_type: int, queue: int, attributes: list[bytes], flags: int) -> bytes:
    """One nfnetlink queue message: netlink header, nfgenmsg (queue big-endian), attributes."""
    body = struct.pack("!BBH", 0, 0, queue) + b"".join(attributes)
    header = struct.pack("=IHHII", 16 + len(body), _QUEUE_SUBSYSTEM | msg_type, flags, 0, 0)
    return header + body


def bind_message(queue: int) -> bytes:
    """Bind `queue`, packet metadata only (the payload stays in the kernel), GSO packets
    whole, and packets let through rather than dropped should the queue ever fill."""
    flags = struct.pack("!I", _FLAG_FAIL_OPEN | _FLAG_GSO)
    attributes = [
        _attribute(_CFG_CMD, struct.pack("!BxH", _CMD_BIND, 0)),
        _attribute(_CFG_PARAMS, struct.pack("!IB", 0, _COPY_META)),
        _attribute(_CFG_QUEUE_MAXLEN, struct.pack("!I", 65536)),
        _attribute(_CFG_MASK, flags),
        _attribute(_CFG_FLAGS, flags),
    ]
    return queue_message(_MSG_CONFIG, queue, attributes, _NLM_F_REQUEST | _NLM_F_ACK)


def verdict_message(queue: int, packet_id: int, accept: bool) -> bytes:
    verdict = struct.pack("!II", _NF_ACCEPT if accept else _NF_DROP, packet_id)
    return queue_message(
        _MSG_VERDICT, queue, [_attribute(_ATTR_VERDICT_HDR, verdict)], _NLM_F_REQUEST
    )


def parse_messages(data: bytes) -> Iterator[tuple[str, int]]:
    """("packet", id) for each queued packet and ("error", errno) for each netlink ack."""
    offset = 0
    while offset + 16 <= len(data):
        length, msg_type = struct.unpack_from("=IH", data, offset)
        if length < 16:
            break
        if msg_type == _NLMSG_ERROR:
            yield "error", -struct.unpack_from("=i", data, offset + 16)[0]
        elif msg_type == _QUEUE_SUBSYSTEM | _MSG_PACKET:
            at, end = offset + 20, offset + length  # past the header and nfgenmsg
            while at + 4 <= end:
                size, kind = struct.unpack_from("=HH", data, at)
                if kind & 0x3FFF == _ATTR_PACKET_HDR:
                    yield "packet", struct.unpack_from("!I", data, at + 4)[0]
                at += max(4, size + (-size % 4))
        offset += length + (-length % 4)


def serve_verdicts(queue: int, delay_s: float, loss: float) -> None:
    """Bind `queue`, print READY, then release each packet `delay_s` after it came (in order:
    the delay is constant) or drop it with probability `loss`, until SIGTERM."""
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_NETFILTER)
    sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, 16 << 20)
    sock.setsockopt(_SOL_NETLINK, _NETLINK_NO_ENOBUFS, 1)
    sock.bind((0, 0))
    sock.send(bind_message(queue))
    for kind, value in parse_messages(sock.recv(65536)):
        if kind == "error" and value:
            raise OSError(value, f"binding NFQUEUE {queue}: {os.strerror(value)}")
    print(READY, flush=True)
    held: deque[tuple[float, int]] = deque()
    try:
        while not stopping:
            wait = held[0][0] - time.monotonic() if held else 0.1
            if select.select([sock], [], [], max(wait, 0))[0]:
                arrived = time.monotonic()
                for kind, packet_id in parse_messages(sock.recv(1 << 20)):
                    if kind != "packet":
                        continue
                    if random.random() < loss:
                        sock.send(verdict_message(queue, packet_id, accept=False))
                    else:
                        held.append((arrived + delay_s, packet_id))
            while held and held[0][0] <= time.monotonic():
                sock.send(verdict_message(queue, held.popleft()[1], accept=True))
    finally:  # packets still held go through: stopping the impairment loses nothing
        for _, packet_id in held:
            sock.send(verdict_message(queue, packet_id, accept=True))
        sock.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.nfqueue")
    parser.add_argument("--queue", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, required=True)
    parser.add_argument("--loss-pct", type=float, default=0.0)
    args = parser.parse_args(argv)
    serve_verdicts(args.queue, args.delay_ms / 1000, args.loss_pct / 100)


if __name__ == "__main__":
    main()
