"""common/tls.py with certificates from common/certs.py on a real grpc.aio server over TCP: a
client with a certificate from the CA is answered; a plaintext client, a certificate from another
CA, and no certificate at all are refused in the handshake, health and reflection alike, and no
RPC reaches the server; a server whose certificate does not name the address dialled is refused
by the client."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

from common import certs
from common.tls import TlsFiles, tcp_target

pytestmark = pytest.mark.middle
TIMEOUT = 2  # seconds per call: a refusal comes in the handshake, well within it
LOOPBACK = "127.0.0.1"
ELSEWHERE = "elsewhere.lan"


@dataclass(frozen=True)
class Pki:
    """Two deployments' files, made by common/certs.py: ours, and a stranger's CA."""

    ours: Path
    theirs: Path

    def ours_as(self, name: str) -> TlsFiles:
        return TlsFiles(self.ours / f"{name}.crt", self.ours / f"{name}.key", self.ours / "ca.crt")


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    hosts = [f"worker-a={LOOPBACK},localhost", "controller=10.77.0.1", f"misnamed={ELSEWHERE}"]
    certs.issue(ours, [certs.parse_host(h) for h in hosts], False, io.StringIO())
    certs.issue(theirs, [certs.parse_host(f"intruder={LOOPBACK}")], False, io.StringIO())
    return Pki(ours, theirs)


@dataclass
class Served:
    """A running server's TCP target and every method that reached it past the handshake."""

    target: str
    methods: list[str] = field(default_factory=list)


# grpc ships no type information, so its interceptor base is Any to mypy.
class _Recorder(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    def __init__(self, methods: list[str]) -> None:
        self._methods = methods

    async def intercept_service(
        self, continuation: Callable[[Any], Awaitable[Any]], details: Any
    ) -> Any:
        self._methods.append(details.method)
        return await continuation(details)


@asynccontextmanager
async def serving(files: TlsFiles) -> AsyncIterator[Served]:
    """Health and reflection on 127.0.0.1 (a port the kernel picks), mutual TLS required."""
    served = Served(target="")
    server = grpc.aio.server(interceptors=[_Recorder(served.methods)])
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    reflection.enable_server_reflection((health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    port = server.add_secure_port(tcp_target(LOOPBACK, 0), files.server_credentials())
    served.target = tcp_target(LOOPBACK, port)
    await server.start()
    try:
        yield served
    finally:
        await server.stop(0)


def _secure(target: str, creds: grpc.ChannelCredentials, *options: Any) -> grpc.aio.Channel:
    return grpc.aio.secure_channel(target, creds, options=list(options))


async def _health(channel: grpc.aio.Channel) -> int:
    async with channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT)
        return int(reply.status)


async def _services(channel: grpc.aio.Channel) -> list[str]:
    async with channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        ask = reflection_pb2.ServerReflectionRequest(list_services="")
        names: list[str] = []
        async for reply in stub.ServerReflectionInfo(iter([ask]), timeout=TIMEOUT):
            names += [service.name for service in reply.list_services_response.service]
        return names


async def _refused(call: Awaitable[object]) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value.code()


Dialler = Callable[[Pki, str], grpc.aio.Channel]
REFUSED_CLIENTS: dict[str, Dialler] = {
    "plaintext": lambda pki, target: grpc.aio.insecure_channel(target),
    "a certificate from another CA": lambda pki, target: _secure(
        target,
        TlsFiles(
            pki.theirs / "intruder.crt", pki.theirs / "intruder.key", pki.ours / "ca.crt"
        ).channel_credentials(),
    ),
    "no client certificate": lambda pki, target: _secure(
        target, grpc.ssl_channel_credentials(root_certificates=(pki.ours / "ca.crt").read_bytes())
    ),
}


async def test_a_client_with_a_cert_from_the_ca_is_answered(pki: Pki) -> None:
    async with serving(pki.ours_as("worker-a")) as served:
        creds = pki.ours_as("controller").channel_credentials()
        assert (
            await _health(_secure(served.target, creds)) == health_pb2.HealthCheckResponse.SERVING
        )
        services = await _services(_secure(served.target, creds))
    assert set(services) == {health.SERVICE_NAME, reflection.SERVICE_NAME}
    assert served.methods == [
        "/grpc.health.v1.Health/Check",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    ]


@pytest.mark.parametrize("client", REFUSED_CLIENTS)
async def test_health_and_reflection_refuse_a_client_without_a_cert_from_the_ca(
    pki: Pki, client: str
) -> None:
    dial = REFUSED_CLIENTS[client]
    async with serving(pki.ours_as("worker-a")) as served:
        assert await _refused(_health(dial(pki, served.target))) == grpc.StatusCode.UNAVAILABLE
        assert await _refused(_services(dial(pki, served.target))) == grpc.StatusCode.UNAVAILABLE
        # The same server still answers a client from the CA: the refusal was the client's.
        creds = pki.ours_as("controller").channel_credentials()
        assert (
            await _health(_secure(served.target, creds)) == health_pb2.HealthCheckResponse.SERVING
        )
    assert served.methods == ["/grpc.health.v1.Health/Check"]


async def test_a_server_cert_that_does_not_name_the_address_is_refused_by_the_client(
    pki: Pki,
) -> None:
    creds = pki.ours_as("controller").channel_credentials()
    async with serving(pki.ours_as("misnamed")) as served:
        refused = await _refused(_health(_secure(served.target, creds)))
        # The control: told to expect the name the certificate does carry, the same client and
        # server agree, so the address was the only thing wrong.
        named = _secure(served.target, creds, ("grpc.ssl_target_name_override", ELSEWHERE))
        assert await _health(named) == health_pb2.HealthCheckResponse.SERVING
    assert refused == grpc.StatusCode.UNAVAILABLE
    assert served.methods == ["/grpc.health.v1.Health/Check"]
