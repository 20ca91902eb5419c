"""The workerds this controller drives: their clients, health and traffic counters."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from common.paths import StatePaths
from common.workers import WorkerSpec
from controller.workers.client import Reach, WorkerClient
from controller.workers.sessions import PoolState, SessionCounts, new_fallbacks
from protos import controller_pb2, worker_pb2

logger = logging.getLogger(__name__)

REMOTE_DOWN_AFTER = 2
"""Failed health checks in a row before a remote worker counts as down: one lost packet on a
lossy link must not end its streams."""


@dataclass
class WorkerHandle:
    """One workerd as the controller sees it."""

    spec: WorkerSpec
    client: WorkerClient
    up: bool = False
    in_flight: int = 0
    requests: int = 0
    errors: int = 0
    last_error: str = ""
    seen_up: bool = field(default=False)
    failed_checks: int = 0  # health checks failed in a row
    draining: bool = False
    last_used: float = 0.0
    incarnation: float = 0.0  # the workerd's start time, from its Status
    reaps_seen: int = 0
    cli_pool: PoolState = field(default_factory=PoolState)  # from its last Status
    sessions: SessionCounts = field(default_factory=SessionCounts)  # since the controller started
    no_client_tools: bool = False  # from its last Status: it refuses the client's tools
    credential: str = ""  # oauth or api_key, from its last Status (the controller holds none)

    def __post_init__(self) -> None:
        self.credential = self.credential or credential_kind(self.spec)

    @property
    def state(self) -> str:
        if not self.up:  # a remote worker not answering is down; a local one may be starting
            return "down" if self.seen_up or self.unreachable else "starting"
        return "draining" if self.draining else "up"

    @property
    def unreachable(self) -> bool:
        return not self.spec.is_local and self.failed_checks > 0

    def info(self) -> controller_pb2.WorkerInfo:
        return controller_pb2.WorkerInfo(
            name=self.spec.name,
            mode=self.spec.mode,
            state=self.state,
            draining=self.draining,
            in_flight=self.in_flight,
            max_concurrent=self.spec.max_concurrent,
            last_error=self.last_error,
            requests=self.requests,
            errors=self.errors,
            cli_version=self.cli_pool.cli_version,
            warm=self.cli_pool.warm,
            parked=self.cli_pool.parked,
            running_processes=self.cli_pool.running,
            idle_rss_bytes=self.cli_pool.idle_rss_bytes,
            warm_fallbacks=self.cli_pool.warm_fallbacks,
            served=self.sessions.served_json(),
            rebuilds=self.sessions.rebuilds_json(),
            credential=self.credential,
            address=self.spec.address,
            pool=self.cli_pool.sizing,
        )


def credential_kind(spec: WorkerSpec) -> str:
    """What the worker runs on: a CLI worker prefers its token, an api worker its key."""
    if spec.api_key and not (spec.uses_cli and spec.token):
        return "api_key"
    return "oauth"


class WorkerPool:
    """Owns one WorkerClient per configured worker and keeps their health current."""

    def __init__(
        self, specs: tuple[WorkerSpec, ...], paths: StatePaths, reach: Reach | None = None
    ) -> None:
        self.on_change: Callable[[], Awaitable[None]] | None = None
        self.on_reap: Callable[[str, worker_pb2.ReapRecord], None] | None = None
        self.on_warm_fallback: Callable[[str, str], None] | None = None  # worker, signature
        reach = reach or Reach(paths)
        self.handles = {
            spec.name: WorkerHandle(spec, WorkerClient(spec.name, reach.channel(spec)))
            for spec in specs
        }

    def mark_down(self, name: str, reason: str) -> None:
        handle = self.handles[name]
        if handle.up:
            logger.warning("worker %s down: %s", name, reason)
        handle.up = False
        handle.cli_pool = handle.cli_pool.gone()
        if not handle.spec.is_local:  # its other streams are on the same lost link
            handle.client.cut_calls(reason)

    async def watch_health(self, interval: float) -> None:
        """Poll every workerd's health service until cancelled."""
        while True:
            checks = (self._check(h, interval) for h in self.handles.values())
            changed = await asyncio.gather(*checks)
            if any(changed) and self.on_change is not None:
                await self.on_change()
            await asyncio.sleep(interval)

    async def _check(self, handle: WorkerHandle, interval: float) -> bool:
        serving = await handle.client.is_serving(deadline_s=max(interval, 0.5))
        handle.failed_checks = 0 if serving else handle.failed_checks + 1
        if not serving and handle.up:
            if handle.failed_checks < self._down_after(handle):
                return False  # a remote worker gets a second look before it counts as down
            self.mark_down(handle.spec.name, "health check failed")
            return True
        changed = serving != handle.up
        if changed:
            logger.info("worker %s %s", handle.spec.name, "up" if serving else "down")
        handle.up = serving
        handle.seen_up = handle.seen_up or serving
        if serving:
            await self._collect_status(handle)
        else:
            handle.cli_pool = handle.cli_pool.gone()
        return changed

    @staticmethod
    def _down_after(handle: WorkerHandle) -> int:
        return 1 if handle.spec.is_local else REMOTE_DOWN_AFTER

    async def _collect_status(self, handle: WorkerHandle) -> None:
        """Keep the workerd's process figures; report what its reaper stopped since the last
        look and the signatures that newly fell back to cold spawns (both restart per start)."""
        status = await handle.client.status(reaps_after=handle.reaps_seen)
        if status is None:
            return
        fallbacks_before = handle.cli_pool.warm_fallbacks
        if status.started_at != handle.incarnation:
            handle.incarnation, handle.reaps_seen = status.started_at, 0
            fallbacks_before = ()
        handle.cli_pool = PoolState.from_status(status)
        handle.no_client_tools = status.no_client_tools
        handle.credential = status.credential or handle.credential
        for signature in new_fallbacks(fallbacks_before, handle.cli_pool.warm_fallbacks):
            logger.warning(
                "worker %s: warm processes of %s failed, cold spawns", handle.spec.name, signature
            )
            if self.on_warm_fallback is not None:
                self.on_warm_fallback(handle.spec.name, signature)
        for record in status.recent_reaps:
            if record.id > handle.reaps_seen:
                handle.reaps_seen = record.id
                if self.on_reap is not None:
                    self.on_reap(handle.spec.name, record)

    async def close(self) -> None:
        await asyncio.gather(*(h.client.close() for h in self.handles.values()))
