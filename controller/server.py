"""Assemble and run the controller: gRPC services, health, reflection, background loops."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from common import __version__
from common.rpc import StandardServer, install_stop_signals
from controller.config import GRACE_S, ControllerConfig
from controller.events import kinds
from controller.events.bus import EVENT_LOG_SIZE, EventBus, ProxyEvent
from controller.events.recovery import interrupted_requests
from controller.scheduling.scheduler import Scheduler
from controller.services.admin import AdminServicer
from controller.services.controller import ControllerServicer
from controller.services.conversations import ConversationsServicer
from controller.services.keys import KeyService
from controller.services.stats import LiveStats
from controller.storage.accounting import Accounting
from controller.storage.quota_store import QuotaStore
from controller.workers.client import Reach
from controller.workers.pool import WorkerHandle, WorkerPool
from protos import controller_pb2, controller_pb2_grpc, worker_pb2

logger = logging.getLogger(__name__)


async def open_event_log(
    config: ControllerConfig,
) -> tuple[EventBus, Accounting, LiveStats, list[ProxyEvent]]:
    """The event log, restored from the database, and its sinks: the database (accounting) and
    the live figures. Also what bench/controller_cpu.py measures the controller with."""
    events = EventBus()
    accounting = Accounting(
        config.paths.database, config.retention_days, backlog_max=config.storage_backlog_max
    )
    restored, counts, last_id = await accounting.open(EVENT_LOG_SIZE)
    events.restore(restored, counts, last_id)
    live = LiveStats()
    events.sinks += [accounting.observe, live.observe]
    return events, accounting, live, restored


def announce_start(events: EventBus, restored: list[ProxyEvent], now: float) -> None:
    """The `startup` event, then an `error` for each request the restored log shows was cut off
    by a crash (recovery): it still ends as one accounting row."""
    events.emit(kinds.Startup(version=__version__, restored=len(restored)))
    for interrupted in interrupted_requests(restored, now):
        events.emit(interrupted)


async def serve(config: ControllerConfig) -> None:
    stop = asyncio.Event()
    install_stop_signals(stop)
    events, accounting, live, restored = await open_event_log(config)
    announce_start(events, restored, time.time())
    reach = Reach(config.paths, config.tls, config.remote_keepalive_ms, config.message_limit)
    pool = WorkerPool(config.workers, config.paths, reach)
    scheduler = Scheduler(config, pool, events)
    quota_store = QuotaStore(accounting)
    scheduler.restore_quota(await quota_store.load())
    scheduler.on_quota = quota_store.note
    keys = KeyService(scheduler.keys, accounting, events)
    await keys.load()
    pool.on_change = _health_watcher(scheduler)
    pool.on_reap = _reap_reporter(events)
    pool.on_warm_fallback = _fallback_reporter(events)
    admin = AdminServicer(scheduler, accounting, live, time.time(), keys)
    server = _build_server(config, scheduler, admin, ConversationsServicer(accounting))
    await server.start()
    remote_admin = _remote_admin_server(config, admin)
    if remote_admin is not None:
        await remote_admin.start()
    background = [
        asyncio.create_task(pool.watch_health(config.health_interval_ms / 1000)),
        asyncio.create_task(scheduler.run_ticks()),
        asyncio.create_task(accounting.run()),
        asyncio.create_task(quota_store.run()),
    ]
    try:
        await stop.wait()
        logger.info("stopping")
    finally:
        for task in background:
            task.cancel()
        if remote_admin is not None:
            await remote_admin.stop(GRACE_S)
        await server.stop(GRACE_S)
        await asyncio.gather(*background, return_exceptions=True)
        await pool.close()
        await quota_store.flush()
        await accounting.close()  # last: the events of the shutdown itself are kept too


def _build_server(
    config: ControllerConfig,
    scheduler: Scheduler,
    admin: AdminServicer,
    conversations: ConversationsServicer,
) -> StandardServer:
    names = [
        controller_pb2.DESCRIPTOR.services_by_name[name].full_name
        for name in ("Controller", "Admin", "Conversations")
    ]
    server = StandardServer(
        config.paths.controller_socket, names, message_limit=config.message_limit
    )
    controller_pb2_grpc.add_ControllerServicer_to_server(
        ControllerServicer(scheduler), server.server
    )
    controller_pb2_grpc.add_AdminServicer_to_server(admin, server.server)
    controller_pb2_grpc.add_ConversationsServicer_to_server(conversations, server.server)
    return server


def _remote_admin_server(config: ControllerConfig, admin: AdminServicer) -> StandardServer | None:
    """CONTROLLER_LISTEN: Admin (with health and reflection) on TCP with mutual TLS, for grpcurl
    from another host. Only Admin: completions and stored conversations stay on the unix socket,
    behind the frontdoor's keys, so a host's certificate is never a way around them."""
    if config.listen is None:
        return None
    name = controller_pb2.DESCRIPTOR.services_by_name["Admin"].full_name
    server = StandardServer(None, [name], tcp=config.listen, message_limit=config.message_limit)
    controller_pb2_grpc.add_AdminServicer_to_server(admin, server.server)
    return server


def _health_state(handle: WorkerHandle) -> str:
    return "up" if handle.up else handle.state


def _health_watcher(scheduler: Scheduler) -> Callable[[], Awaitable[None]]:
    """Re-dispatch on every health change, and log each worker's up/down transitions."""
    seen = {name: _health_state(h) for name, h in scheduler.pool.handles.items()}

    async def on_change() -> None:
        for name, handle in scheduler.pool.handles.items():
            state = _health_state(handle)
            if state != seen[name]:
                changed = kinds.WorkerStateChanged(worker=name, state=state, previous=seen[name])
                scheduler.events.emit(changed)
                seen[name] = state
        scheduler.dispatch()

    return on_change


def _reap_reporter(events: EventBus) -> Callable[[str, worker_pb2.ReapRecord], None]:
    """A workerd's reaper stopped something: it goes into the event log (and the live feed)."""

    def report(worker: str, record: worker_pb2.ReapRecord) -> None:
        events.emit(
            kinds.Reaped(
                worker=worker,
                pid=record.pid,
                request_id=record.request_id,
                model=record.model,
                reason=record.reason,
                age_s=round(record.age_s, 1),
                idle_s=round(record.idle_s, 1),
            )
        )

    return report


def _fallback_reporter(events: EventBus) -> Callable[[str, str], None]:
    """A workerd's warm processes of one signature failed: it spawns that signature cold now."""

    def report(worker: str, signature: str) -> None:
        events.emit(kinds.WarmFallback(worker=worker, signature=signature))

    return report
