"""Typed wrapper over the controller's Admin service: errors as ApiError; the small answers
as JSON-ready data, the stats snapshot typed (frontdoor/monitoring/metrics_json.py shapes it)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc

from common.rpc import open_channel
from frontdoor.core.errors import ApiError, rpc_call
from protos import controller_pb2, controller_pb2_grpc, keys_pb2

logger = logging.getLogger(__name__)
DEADLINE_S = 5.0
KILL_DEADLINE_S = 35.0  # the controller gives the workerd 30 s to interrupt, TERM and KILL


def event_json(event: controller_pb2.ProxyEvent) -> dict[str, Any]:
    return {"id": event.id, "type": event.type, "ts": event.ts, "data": json.loads(event.data_json)}


def process_json(process: controller_pb2.CliProcess) -> dict[str, Any]:
    return {
        "pid": process.pid,
        "worker": process.worker,
        "requestId": process.request_id,
        "model": process.model,
        "state": process.state,
        "ageS": round(process.age_s, 3),
        "idleS": round(process.idle_s, 3),
        "stale": process.stale,
        "staleReason": process.stale_reason,
        "rssBytes": process.rss_bytes,
        "conversation": process.conversation,
    }


def _point_json(point: controller_pb2.HistoryPoint) -> dict[str, Any]:
    return {
        "ts": int(point.ts),  # bucket bounds are whole seconds
        "requests": point.requests,
        "errors": point.errors,
        "input": point.input_tokens,
        "output": point.output_tokens,
        "total": point.input_tokens + point.output_tokens,
        "avgTtftMs": point.avg_ttft_ms if point.HasField("avg_ttft_ms") else None,
        "avgDurationMs": point.avg_duration_ms if point.HasField("avg_duration_ms") else None,
    }


class KeyWatchFailed(Exception):
    """The key watch could not start or broke off; its gRPC status name is the message."""


class AdminClient:
    """The frontdoor's view of the Admin service; every answer is plain JSON data."""

    def __init__(self, socket_path: Path) -> None:
        self._channel = open_channel(socket_path)
        self._admin = controller_pb2_grpc.AdminStub(self._channel)

    async def stats(self) -> controller_pb2.StatsSnapshot:
        """The controller's figures, typed (frontdoor/monitoring/metrics_json.py shapes them)."""
        reply: controller_pb2.StatsSnapshot = await rpc_call(
            self._admin.GetStats, controller_pb2.GetStatsRequest(), DEADLINE_S
        )
        return reply

    async def history(self, window: str) -> dict[str, Any]:
        request = controller_pb2.GetHistoryRequest(window=window)
        reply: controller_pb2.History = await rpc_call(self._admin.GetHistory, request, DEADLINE_S)
        return {
            "window": reply.window,
            "bucketSeconds": reply.bucket_seconds,
            "from": int(reply.from_ts),
            "to": int(reply.to_ts),
            "count": len(reply.points),
            "points": [_point_json(point) for point in reply.points],
        }

    async def events(self, since_id: int, limit: int, kind: str) -> dict[str, Any]:
        request = controller_pb2.ListEventsRequest(since_id=since_id, limit=limit, type=kind)
        reply: controller_pb2.EventList = await rpc_call(
            self._admin.ListEvents, request, DEADLINE_S
        )
        return {
            "events": [event_json(event) for event in reply.events],
            "counts": dict(reply.counts),
            "lastId": reply.last_id,
        }

    async def workers(self, deadline_s: float = DEADLINE_S) -> controller_pb2.WorkerList:
        reply: controller_pb2.WorkerList = await rpc_call(
            self._admin.ListWorkers, controller_pb2.ListWorkersRequest(), deadline_s
        )
        return reply

    async def processes(self) -> dict[str, Any]:
        request = controller_pb2.ListProcessesAdminRequest()
        reply: controller_pb2.ProcessReport = await rpc_call(
            self._admin.ListProcesses, request, DEADLINE_S
        )
        processes = [process_json(process) for process in reply.processes]
        by_state: dict[str, int] = {}
        for process in processes:
            by_state[process["state"]] = by_state.get(process["state"], 0) + 1
        return {
            "processes": processes,
            "zombies": [process for process in processes if process["stale"]],
            "byState": by_state,
            "rssBytes": sum(process["rssBytes"] for process in processes),
            "maxProcessAgeMs": reply.max_process_age_ms,
            "maxIdleMs": reply.max_idle_ms,
            "unreachableWorkers": list(reply.unreachable_workers),
        }

    async def set_draining(self, name: str, draining: bool) -> None:
        """Drain (no new requests) or resume one worker; 404 for an unknown name."""
        call = self._admin.DrainWorker if draining else self._admin.ResumeWorker
        try:
            await rpc_call(call, controller_pb2.WorkerRef(name=name), DEADLINE_S)
        except ApiError as error:
            if error.status == 404:
                error.param, error.code = "name", "worker_not_found"
            raise

    async def kill(self, pid: int) -> controller_pb2.KillProcessResult:
        request = controller_pb2.KillProcessAdminRequest(pid=pid)
        reply: controller_pb2.KillProcessResult = await rpc_call(
            self._admin.KillProcess, request, KILL_DEADLINE_S
        )
        return reply

    async def watch(
        self, since_id: int, replay: int, kind: str, chunks: bool
    ) -> AsyncIterator[dict[str, Any]]:
        """Recent events, then live ones; ends when the controller goes away."""
        request = controller_pb2.WatchEventsRequest(
            since_id=since_id, replay=replay, type=kind, include_chunks=chunks
        )
        call = self._admin.WatchEvents(request)
        try:
            async for event in call:
                yield event_json(event)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                logger.info("event watch ended: %s", exc.code().name)
        finally:
            call.cancel()

    # -- keys (protos/keys.proto) ---------------------------------------------------------------

    async def create_key(self, request: keys_pb2.CreateKeyRequest) -> keys_pb2.CreateKeyResult:
        reply: keys_pb2.CreateKeyResult = await rpc_call(self._admin.CreateKey, request, DEADLINE_S)
        return reply

    async def list_keys(self, include_revoked: bool = False) -> keys_pb2.KeyList:
        request = keys_pb2.ListKeysRequest(include_revoked=include_revoked)
        reply: keys_pb2.KeyList = await rpc_call(self._admin.ListKeys, request, DEADLINE_S)
        return reply

    async def update_key(self, request: keys_pb2.UpdateKeyRequest) -> keys_pb2.KeyInfo:
        reply: keys_pb2.KeyInfo = await _key_call(self._admin.UpdateKey, request)
        return reply

    async def revoke_key(self, ref: keys_pb2.KeyRef) -> keys_pb2.KeyInfo:
        reply: keys_pb2.KeyInfo = await _key_call(self._admin.RevokeKey, ref)
        return reply

    async def key_usage(self, ref: keys_pb2.KeyRef) -> keys_pb2.KeyUsageReport:
        reply: keys_pb2.KeyUsageReport = await _key_call(self._admin.GetKeyUsage, ref)
        return reply

    async def watch_keys(self) -> AsyncIterator[keys_pb2.KeyList]:
        """The whole key list now and after every change, until the controller goes away
        (KeyWatchFailed names how: its caller decides what to log)."""
        call = self._admin.WatchKeys(keys_pb2.WatchKeysRequest())
        try:
            async for key_list in call:
                yield key_list
        except grpc.aio.AioRpcError as exc:
            raise KeyWatchFailed(exc.code().name) from None
        finally:
            call.cancel()

    async def close(self) -> None:
        await self._channel.close()


async def _key_call(method: Any, request: Any) -> Any:
    """A call about one key; an unknown key is a 404 with code key_not_found."""
    try:
        return await rpc_call(method, request, DEADLINE_S)
    except ApiError as error:
        if error.status == 404:
            error.code = "key_not_found"
        raise
