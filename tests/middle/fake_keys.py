"""The key half of the fake controller's Admin service (tests/middle/fake_controller.py): keys
made, listed, changed and revoked in memory, WatchKeys sending the whole list (with hashes) at
once and after every change, and GetKeyUsage answering what a test scripted.

Like the real controller it keeps only each secret's sha256; a test gets the secret from
`add_key` (or the CreateKey answer) and may hold a watch's next list back (`hold_watch`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import time
from typing import Any

import grpc

from protos import keys_pb2

Context = Any  # grpc.aio.ServicerContext


def new_secret() -> str:
    return "sk-ccp-" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


class FakeKeys:
    """CreateKey, ListKeys, UpdateKey, RevokeKey, WatchKeys and GetKeyUsage, in memory."""

    def __init__(self) -> None:
        self.keys: dict[str, keys_pb2.KeyInfo] = {}  # by id, hashes and all
        self.key_version = 0
        self.key_watchers: list[asyncio.Queue[keys_pb2.KeyList]] = []
        self.key_watch_opened = asyncio.Event()
        self.watch_gate: asyncio.Event | None = None
        """Set: a change waits for this before any watch hears of it."""
        self.usage_reports: dict[str, keys_pb2.KeyUsageReport] = {}
        self.key_requests: list[Any] = []

    # -- for tests ---------------------------------------------------------------------------

    def add_key(
        self, name: str, role: str = "client", for_owner: bool = True, **policy: Any
    ) -> tuple[keys_pb2.KeyInfo, str]:
        """A key made as CreateKey would make it (watches told); its info and its secret."""
        secret = new_secret()
        info = keys_pb2.KeyInfo(
            id="key_" + secrets.token_hex(6),
            name=name,
            role=role,
            for_owner=for_owner,
            policy=keys_pb2.KeyPolicy(**policy),
            prefix=secret[:11],
            created_at=time.time(),
            secret_sha256=hashlib.sha256(secret.encode()).hexdigest(),
        )
        self.keys[info.id] = info
        self._changed()
        return info, secret

    def revoke(self, key_id: str) -> None:
        self.keys[key_id].revoked_at = time.time()
        self._changed()

    def _key_list(self, with_hashes: bool, include_revoked: bool = True) -> keys_pb2.KeyList:
        keys = [info for info in self.keys.values() if include_revoked or not info.revoked_at]
        out = keys_pb2.KeyList(keys=keys, version=self.key_version)
        if not with_hashes:
            for info in out.keys:
                info.secret_sha256 = ""
        return out

    def _changed(self) -> None:
        self.key_version += 1
        snapshot = self._key_list(with_hashes=True)
        for queue in self.key_watchers:
            queue.put_nowait(snapshot)

    async def _find(self, ref: keys_pb2.KeyRef, context: Context) -> keys_pb2.KeyInfo:
        for info in self.keys.values():
            if (ref.id and info.id == ref.id) or (
                ref.name and info.name == ref.name and not info.revoked_at
            ):
                return info
        await context.abort(grpc.StatusCode.NOT_FOUND, f"no key {ref.id or ref.name!r}")
        raise AssertionError("abort returned")

    @staticmethod
    def _public(info: keys_pb2.KeyInfo) -> keys_pb2.KeyInfo:
        shown = keys_pb2.KeyInfo()
        shown.CopyFrom(info)
        shown.secret_sha256 = ""
        return shown

    # -- Admin: keys ---------------------------------------------------------------------------

    async def CreateKey(
        self, request: keys_pb2.CreateKeyRequest, context: Context
    ) -> keys_pb2.CreateKeyResult:
        self.key_requests.append(request)
        if any(k.name == request.name and not k.revoked_at for k in self.keys.values()):
            await context.abort(grpc.StatusCode.ALREADY_EXISTS, f"a key {request.name!r} exists")
        if request.for_another_person and "cli" in request.policy.pools:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "a key for another person may not use the cli pool (README, Account terms)",
            )
        policy = {field.name: value for field, value in request.policy.ListFields()}
        info, secret = self.add_key(
            request.name, request.role or "client", not request.for_another_person, **policy
        )
        return keys_pb2.CreateKeyResult(key=self._public(info), secret=secret)

    async def ListKeys(
        self, request: keys_pb2.ListKeysRequest, context: Context
    ) -> keys_pb2.KeyList:
        return self._key_list(with_hashes=False, include_revoked=request.include_revoked)

    async def UpdateKey(
        self, request: keys_pb2.UpdateKeyRequest, context: Context
    ) -> keys_pb2.KeyInfo:
        self.key_requests.append(request)
        info = await self._find(request.key, context)
        for field, value in request.policy.ListFields():
            if field.name in ("models", "pools"):
                getattr(info.policy, field.name)[:] = value
            else:
                setattr(info.policy, field.name, value)
        for name in request.clear:
            info.policy.ClearField(name)
        info.role = request.role or info.role
        info.name = request.new_name or info.name
        self._changed()
        return self._public(info)

    async def RevokeKey(self, request: keys_pb2.KeyRef, context: Context) -> keys_pb2.KeyInfo:
        self.key_requests.append(request)
        info = await self._find(request, context)
        self.revoke(info.id)
        return self._public(info)

    async def WatchKeys(self, request: keys_pb2.WatchKeysRequest, context: Context) -> Any:
        queue: asyncio.Queue[keys_pb2.KeyList] = asyncio.Queue()
        self.key_watchers.append(queue)
        self.key_watch_opened.set()
        try:
            yield self._key_list(with_hashes=True)
            while True:
                key_list = await queue.get()
                if self.watch_gate is not None:
                    await self.watch_gate.wait()
                yield key_list
        finally:
            self.key_watchers.remove(queue)

    async def GetKeyUsage(
        self, request: keys_pb2.KeyRef, context: Context
    ) -> keys_pb2.KeyUsageReport:
        self.key_requests.append(request)
        info = await self._find(request, context)
        report = keys_pb2.KeyUsageReport()
        report.CopyFrom(self.usage_reports.get(info.id, keys_pb2.KeyUsageReport()))
        report.key.CopyFrom(self._public(info))
        return report
