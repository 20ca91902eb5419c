"""The key tool: make, list, show, change and revoke keys through the controller's Admin service.

    python -m controller.keys create NAME [--role client|admin] [--for-another-person] [limits]
    python -m controller.keys list [--all]
    python -m controller.keys show NAME
    python -m controller.keys update NAME [limits] [--clear rpm,models] [--rename NEW] [--role R]
    python -m controller.keys revoke NAME

It talks to the running controller over its unix socket (STATE_DIR/controller.sock, STATE_DIR as
the proxy reads it); NAME is a key's name or its id. A failure is one line on stderr, exit 1.
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import grpc

from common.config import Environ, env_int, env_str
from common.paths import StatePaths
from common.rpc import open_channel
from controller.keys import show
from protos import controller_pb2_grpc, keys_pb2

DEADLINE_S = 10.0
_KEY_ID = re.compile(r"^key_[0-9a-f]{12}$")
_INTEGER_LIMITS = (
    "rpm",
    "tpm",
    "daily_tokens",
    "weekly_tokens",
    "monthly_tokens",
    "max_concurrent",
)


class ToolError(Exception):
    """What the tool says on stderr before it exits with 1."""


@dataclass(frozen=True)
class ToolSettings:
    """Where the controller listens, and the frontdoor's address for the usage hint."""

    socket: Path
    base_url: str

    @classmethod
    def from_env(cls, environ: Environ) -> ToolSettings:
        host = env_str(environ, "PROXY_HOST", "127.0.0.1")
        port = env_int(environ, "CLAUDE_PROXY_PORT", 8403, minimum=1)
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        return cls(StatePaths.from_env(environ).controller_socket, f"http://{shown}:{port}")


class KeyAdmin:
    """The tool's typed wrapper over the Admin service's key methods."""

    def __init__(self, socket: Path) -> None:
        self.socket = socket
        self._channel = open_channel(socket)
        self._admin = controller_pb2_grpc.AdminStub(self._channel)

    async def call(self, method: str, request: Any) -> Any:
        if not self.socket.exists():
            raise ToolError(_not_running(self.socket))
        try:
            return await getattr(self._admin, method)(request, timeout=DEADLINE_S)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise ToolError(_not_running(self.socket)) from None
            raise ToolError(exc.details() or exc.code().name.lower()) from None

    async def close(self) -> None:
        await self._channel.close()


def _not_running(socket: Path) -> str:
    return (
        f"the controller is not running (nothing answers on {socket}); start the proxy with "
        "`make run` (or `supervisorctl start controller`), with the same STATE_DIR"
    )


def parser() -> argparse.ArgumentParser:
    tool = argparse.ArgumentParser(
        prog="python -m controller.keys", description="Keys for every person and tool."
    )
    commands = tool.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="make a key (its secret is shown once)")
    create.add_argument("name")
    create.add_argument("--role", choices=("client", "admin"), default="client")
    create.add_argument(
        "--for-another-person",
        action="store_true",
        help="not the accounts' owner: the api pool only (README, Account terms)",
    )
    _policy_flags(create)
    listing = commands.add_parser("list", help="every key with today's usage")
    listing.add_argument("--all", action="store_true", help="revoked keys too")
    commands.add_parser("show", help="a key's usage, budgets and limits").add_argument("name")
    update = commands.add_parser("update", help="change a key's policy, role or name")
    update.add_argument("name")
    update.add_argument("--role", choices=("client", "admin"))
    update.add_argument("--rename", metavar="NEW_NAME")
    update.add_argument("--clear", metavar="FIELDS", help="remove limits: rpm,models,...")
    _policy_flags(update)
    commands.add_parser("revoke", help="revoke a key (at once)").add_argument("name")
    return tool


def _policy_flags(command: argparse.ArgumentParser) -> None:
    for name in _INTEGER_LIMITS:
        command.add_argument("--" + name.replace("_", "-"), type=int, metavar="N")
    command.add_argument("--monthly-cost-usd", type=float, metavar="USD")
    command.add_argument("--models", metavar="FAMILIES", help="sonnet,haiku,... (default: all)")
    command.add_argument("--pools", metavar="POOLS", help="cli,api (default: both; api for others)")
    command.add_argument("--weight", type=float, metavar="W", help="fair-queue weight (1)")
    command.add_argument("--expires", metavar="WHEN", help="30d, 12h, 2w or 2026-01-31")


def policy_of(args: argparse.Namespace, now: float) -> keys_pb2.KeyPolicy:
    policy = keys_pb2.KeyPolicy()
    for name in (*_INTEGER_LIMITS, "monthly_cost_usd", "weight"):
        value = getattr(args, name)
        if value is not None:
            setattr(policy, name, value)
    for name in ("models", "pools"):
        if getattr(args, name):
            getattr(policy, name).extend(_listed(getattr(args, name)))
    if args.expires:
        policy.expires_at = show.parse_expiry(args.expires, now)
    return policy


def _listed(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def key_ref(name: str) -> keys_pb2.KeyRef:
    return keys_pb2.KeyRef(id=name) if _KEY_ID.fullmatch(name) else keys_pb2.KeyRef(name=name)


async def run(argv: Sequence[str], environ: Mapping[str, str], out: TextIO, err: TextIO) -> int:
    """The tool: 0 when done, 1 after a one-line error on `err` (argparse's usage errors: 2)."""
    args = parser().parse_args(argv)
    try:
        settings = ToolSettings.from_env(environ)
        admin = KeyAdmin(settings.socket)
    except ValueError as exc:
        print(f"error: {exc}", file=err)
        return 1
    try:
        print(await _command(admin, args, settings, time.time()), file=out)
    except (ToolError, show.BadValue) as exc:
        print(f"error: {exc}", file=err)
        return 1
    finally:
        await admin.close()
    return 0


async def _command(
    admin: KeyAdmin, args: argparse.Namespace, settings: ToolSettings, now: float
) -> str:
    if args.command == "create":
        request = keys_pb2.CreateKeyRequest(
            name=args.name,
            role=args.role,
            for_another_person=args.for_another_person,
            policy=policy_of(args, now),
        )
        return show.created_text(await admin.call("CreateKey", request), settings.base_url)
    if args.command == "list":
        found = await admin.call("ListKeys", keys_pb2.ListKeysRequest(include_revoked=args.all))
        return "\n".join(show.key_line(key) for key in found.keys) or "no keys yet"
    if args.command == "show":
        return show.report_text(await admin.call("GetKeyUsage", key_ref(args.name)))
    if args.command == "update":
        update = keys_pb2.UpdateKeyRequest(
            key=key_ref(args.name),
            policy=policy_of(args, now),
            clear=_listed(args.clear or ""),
            role=args.role or "",
            new_name=args.rename or "",
        )
        info = await admin.call("UpdateKey", update)
        return (
            f"Key {info.name!r} ({info.id}) now: role {info.role}; {show.policy_text(info.policy)}"
        )
    info = await admin.call("RevokeKey", key_ref(args.name))
    return f"Key {info.name!r} ({info.id}) is revoked: it is refused from the next request on."
