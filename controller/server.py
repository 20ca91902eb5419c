"""Assemble and run the controller: gRPC services, health, reflection, worker health loop."""

from __future__ import annotations

import asyncio
import logging

from common.rpc import StandardServer, install_stop_signals
from controller.config import ControllerConfig
from controller.dispatch import Dispatcher
from controller.servicer import AdminServicer, ControllerServicer
from controller.worker_pool import WorkerPool
from protos import controller_pb2, controller_pb2_grpc

logger = logging.getLogger(__name__)
GRACE_S = 5.0


async def serve(config: ControllerConfig) -> None:
    stop = asyncio.Event()
    install_stop_signals(stop)
    pool = WorkerPool(config.workers, config.paths)
    dispatcher = Dispatcher(config, pool)
    pool.on_change = dispatcher.notify
    names = [
        controller_pb2.DESCRIPTOR.services_by_name[name].full_name
        for name in ("Controller", "Admin")
    ]
    server = StandardServer(config.paths.controller_socket, names)
    controller_pb2_grpc.add_ControllerServicer_to_server(
        ControllerServicer(dispatcher), server.server
    )
    admin = AdminServicer(dispatcher, pool, config.max_concurrent)
    controller_pb2_grpc.add_AdminServicer_to_server(admin, server.server)
    await server.start()
    health_task = asyncio.create_task(pool.watch_health(config.health_interval_ms / 1000))
    try:
        await stop.wait()
        logger.info("stopping")
    finally:
        health_task.cancel()
        await server.stop(GRACE_S)
        await asyncio.gather(health_task, return_exceptions=True)
        await pool.close()
