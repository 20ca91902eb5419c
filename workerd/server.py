"""Assemble and run one workerd: Worker service, health, reflection; children die with it."""

from __future__ import annotations

import asyncio
import logging

from common.rpc import StandardServer, install_stop_signals
from protos import worker_pb2, worker_pb2_grpc
from workerd.api.runner import ApiRunner
from workerd.cli.engine import SessionEngine
from workerd.cli.process import ProcessTable
from workerd.cli.reaper import Reaper, become_subreaper
from workerd.cli.version import check_supported, parse_version, probe_version
from workerd.config import GRACE_S, WorkerdConfig
from workerd.servicer import WorkerServicer

logger = logging.getLogger(__name__)


async def serve(config: WorkerdConfig) -> None:
    stop = asyncio.Event()
    install_stop_signals(stop)
    config.ensure_dirs()
    table = ProcessTable()
    engine = SessionEngine(config, table)
    reaper = Reaper(config, table, engine)
    cli_version = ""
    if config.spec.uses_cli:
        if not become_subreaper():
            logger.warning("not a child subreaper: orphaned tool processes go to init")
        await asyncio.to_thread(reaper.sweep_previous)
        cli_version = await probe_version(config.claude_bin, engine.spawner.environment({}))
        check_supported(cli_version, config.claude_bin)  # UnsupportedCli: no start
        engine.spawner.cli_version = parse_version(cli_version)
    name = worker_pb2.DESCRIPTOR.services_by_name["Worker"].full_name
    server = StandardServer(
        None if config.listen else config.paths.worker_socket(config.spec.name),
        [name],
        tcp=config.listen,
        message_limit=config.message_limit,
    )
    api = _api_runner(config)  # one Messages API client (api mode), closed below
    worker_pb2_grpc.add_WorkerServicer_to_server(
        WorkerServicer(config, table, api, reaper, engine, cli_version), server.server
    )
    await server.start()
    if config.spec.uses_cli:
        await engine.start()
    reaping = asyncio.create_task(reaper.run())
    try:
        await stop.wait()
        logger.info("stopping: %d children to stop", len(table.all()))
    finally:
        # Cancelling the runs stops their children; stop_all is the backstop for stragglers.
        await server.stop(GRACE_S)
        await engine.close()  # nothing warm or parked outlives the worker
        await table.stop_all(config.stop_grace_ms / 1000)
        reaping.cancel()
        await asyncio.gather(reaping, return_exceptions=True)
        if api is not None:
            await api.aclose()


def _api_runner(config: WorkerdConfig) -> ApiRunner | None:
    """The Messages API client of an api worker."""
    return ApiRunner(config) if config.spec.mode == "api" else None
