"""Assemble and run the controller: gRPC services, health, reflection, background loops."""

from __future__ import annotations

import asyncio
import logging

from common.rpc import StandardServer, install_stop_signals
from controller.config import ControllerConfig
from controller.events import EventBus
from controller.scheduler import Scheduler
from controller.servicer import AdminServicer, ControllerServicer
from controller.worker_pool import WorkerPool
from protos import controller_pb2, controller_pb2_grpc

logger = logging.getLogger(__name__)
GRACE_S = 5.0


async def serve(config: ControllerConfig) -> None:
    stop = asyncio.Event()
    install_stop_signals(stop)
    pool = WorkerPool(config.workers, config.paths)
    scheduler = Scheduler(config, pool, EventBus())

    async def on_health_change() -> None:
        scheduler.dispatch()

    pool.on_change = on_health_change
    names = [
        controller_pb2.DESCRIPTOR.services_by_name[name].full_name
        for name in ("Controller", "Admin")
    ]
    server = StandardServer(config.paths.controller_socket, names)
    controller_pb2_grpc.add_ControllerServicer_to_server(
        ControllerServicer(scheduler), server.server
    )
    controller_pb2_grpc.add_AdminServicer_to_server(AdminServicer(scheduler), server.server)
    await server.start()
    background = [
        asyncio.create_task(pool.watch_health(config.health_interval_ms / 1000)),
        asyncio.create_task(scheduler.run_ticks()),
    ]
    try:
        await stop.wait()
        logger.info("stopping")
    finally:
        for task in background:
            task.cancel()
        await server.stop(GRACE_S)
        await asyncio.gather(*background, return_exceptions=True)
        await pool.close()
