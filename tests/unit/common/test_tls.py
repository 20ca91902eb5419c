"""common/tls.py (the TLS settings, host:port) and common/certs.py (the CA and host certificates),
without a network: chains are checked with cryptography's own verifier."""

from __future__ import annotations

import datetime
import io
import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import DNSName, IPAddress
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from common import certs
from common.certs import CertError, HostSpec, Pem
from common.config import ConfigError
from common.tls import TlsFiles, parse_host_port, require_tls, tcp_target

NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
LATER = NOW + datetime.timedelta(hours=1)
WORKER = HostSpec("worker-a", ("10.77.0.2", "localhost", "[::1]"))


@pytest.fixture(scope="module")
def ca() -> Pem:
    return certs.make_ca(now=NOW)


@pytest.fixture(scope="module")
def worker(ca: Pem) -> x509.Certificate:
    return x509.load_pem_x509_certificate(certs.make_host_cert(ca, WORKER, now=NOW).cert)


def _files(tmp_path: Path, ca: Pem) -> dict[str, str]:
    (tmp_path / "ca.crt").write_bytes(ca.cert)
    (tmp_path / "ca.key").write_bytes(ca.key)
    return {
        "TLS_CERT_FILE": str(tmp_path / "ca.crt"),
        "TLS_KEY_FILE": str(tmp_path / "ca.key"),
        "TLS_CA_FILE": str(tmp_path / "ca.crt"),
    }


def _verifier(ca: Pem) -> PolicyBuilder:
    return PolicyBuilder().store(Store([x509.load_pem_x509_certificate(ca.cert)])).time(LATER)


# common/tls.py


def test_no_tls_variable_means_no_tcp() -> None:
    assert TlsFiles.from_env({}) is None
    assert TlsFiles.from_env({"TLS_CERT_FILE": " ", "TLS_KEY_FILE": ""}) is None


@pytest.mark.parametrize("missing", ["TLS_CERT_FILE", "TLS_KEY_FILE", "TLS_CA_FILE"])
def test_a_partial_set_names_the_missing_variable(tmp_path: Path, ca: Pem, missing: str) -> None:
    environ = _files(tmp_path, ca)
    del environ[missing]
    with pytest.raises(ConfigError) as caught:
        TlsFiles.from_env(environ)
    assert caught.value.variable == missing


def test_an_unreadable_file_is_refused_by_name(tmp_path: Path, ca: Pem) -> None:
    environ = {**_files(tmp_path, ca), "TLS_KEY_FILE": str(tmp_path / "absent.key")}
    with pytest.raises(ConfigError) as caught:
        TlsFiles.from_env(environ)
    assert caught.value.variable == "TLS_KEY_FILE"
    assert "absent.key" in caught.value.problem


def test_a_file_that_is_not_pem_is_refused_by_name(tmp_path: Path, ca: Pem) -> None:
    der = tmp_path / "ca.der"
    der.write_bytes(
        x509.load_pem_x509_certificate(ca.cert).public_bytes(serialization.Encoding.DER)
    )
    environ = {**_files(tmp_path, ca), "TLS_CA_FILE": str(der)}
    with pytest.raises(ConfigError) as caught:
        TlsFiles.from_env(environ)
    assert caught.value.variable == "TLS_CA_FILE"


def test_a_directory_is_not_a_pem_file(tmp_path: Path, ca: Pem) -> None:
    environ = {**_files(tmp_path, ca), "TLS_CERT_FILE": str(tmp_path)}
    with pytest.raises(ConfigError, match="TLS_CERT_FILE"):
        TlsFiles.from_env(environ)


def test_all_three_readable_give_the_paths(tmp_path: Path, ca: Pem) -> None:
    files = TlsFiles.from_env(_files(tmp_path, ca))
    assert files == TlsFiles(tmp_path / "ca.crt", tmp_path / "ca.key", tmp_path / "ca.crt")


def test_require_tls_names_who_needs_it() -> None:
    with pytest.raises(ConfigError) as caught:
        require_tls({}, "WORKERD_LISTEN")
    assert caught.value.variable == "TLS_CERT_FILE"
    assert "WORKERD_LISTEN needs mutual TLS" in caught.value.problem


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.77.0.2:7001", ("10.77.0.2", 7001)),
        (" ctl.lan:65535 ", ("ctl.lan", 65535)),
        ("[::1]:50051", ("::1", 50051)),
        ("[fd00::2]:1", ("fd00::2", 1)),
    ],
)
def test_parse_host_port(text: str, expected: tuple[str, int]) -> None:
    assert parse_host_port(text, "WORKERD_LISTEN") == expected


@pytest.mark.parametrize(
    "text", ["ctl.lan", "ctl.lan:", ":7001", "ctl.lan:0", "ctl.lan:65536", "ctl.lan:http", "h:-1"]
)
def test_parse_host_port_refuses(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_host_port(text, "CONTROLLER_LISTEN")
    assert caught.value.variable == "CONTROLLER_LISTEN"


def test_tcp_target_brackets_v6_only() -> None:
    assert tcp_target("::1", 50051) == "[::1]:50051"
    assert tcp_target("10.77.0.2", 7001) == "10.77.0.2:7001"
    assert parse_host_port(tcp_target("fd00::2", 9), "X") == ("fd00::2", 9)


# common/certs.py: what the certificates say


def test_host_spec_parses_ip_and_dns_names() -> None:
    spec = certs.parse_host(" controller = 10.77.0.1, ctl.lan ,")
    assert spec == HostSpec("controller", ("10.77.0.1", "ctl.lan"))
    assert certs.san_name("10.77.0.1") == x509.IPAddress(ipaddress.ip_address("10.77.0.1"))
    assert certs.san_name("[::1]") == x509.IPAddress(ipaddress.ip_address("::1"))
    assert certs.san_name("Ctl.LAN.") == x509.DNSName("ctl.lan")


@pytest.mark.parametrize(
    "text", ["controller", "controller=", "=10.0.0.1", "../x=10.0.0.1", "ca=10.0.0.1", "a=b c"]
)
def test_host_spec_refuses(text: str) -> None:
    with pytest.raises(CertError):
        certs.parse_host(text)


def test_the_ca_signs_hosts_only_for_ten_years(ca: Pem) -> None:
    cert = x509.load_pem_x509_certificate(ca.cert)
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    assert usage.key_cert_sign and not usage.digital_signature
    assert (cert.not_valid_after_utc - NOW).days >= 3649
    cert.verify_directly_issued_by(cert)


def test_a_host_cert_names_its_sans_by_kind(worker: x509.Certificate) -> None:
    sans = worker.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("10.77.0.2"),
        ipaddress.ip_address("::1"),
    ]
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]


def test_a_host_cert_is_a_server_and_a_client_never_a_ca(worker: x509.Certificate) -> None:
    extensions = worker.extensions
    assert list(extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
    ]
    assert not extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign


def test_the_host_key_is_the_certs_key(ca: Pem) -> None:
    pem = certs.make_host_cert(ca, WORKER, now=NOW)
    key = serialization.load_pem_private_key(pem.key, password=None)
    assert key.public_key() == x509.load_pem_x509_certificate(pem.cert).public_key()


@pytest.mark.parametrize(
    "subject", [IPAddress(ipaddress.ip_address("10.77.0.2")), DNSName("localhost")]
)
def test_the_chain_verifies_as_a_server_for_each_san(
    ca: Pem, worker: x509.Certificate, subject: IPAddress | DNSName
) -> None:
    chain = _verifier(ca).build_server_verifier(subject).verify(worker, [])
    assert chain[-1] == x509.load_pem_x509_certificate(ca.cert)


def test_the_chain_verifies_as_a_client(ca: Pem, worker: x509.Certificate) -> None:
    verified = _verifier(ca).build_client_verifier().verify(worker, [])
    assert verified.chain[0] == worker


def test_an_unnamed_address_or_another_ca_does_not_verify(
    ca: Pem, worker: x509.Certificate
) -> None:
    with pytest.raises(VerificationError):
        _verifier(ca).build_server_verifier(DNSName("elsewhere.lan")).verify(worker, [])
    with pytest.raises(VerificationError):
        _verifier(certs.make_ca(now=NOW)).build_client_verifier().verify(worker, [])


def test_a_host_cert_ends_no_later_than_its_ca() -> None:
    short_ca = certs.make_ca(now=NOW, days=30)
    host = certs.make_host_cert(short_ca, WORKER, now=NOW)
    assert (
        x509.load_pem_x509_certificate(host.cert).not_valid_after_utc
        == x509.load_pem_x509_certificate(short_ca.cert).not_valid_after_utc
    )


# common/certs.py: the files


def test_the_ca_is_never_overwritten(tmp_path: Path, ca: Pem) -> None:
    certs.write_ca(tmp_path, ca)
    with pytest.raises(CertError, match="never overwritten"):
        certs.write_ca(tmp_path, certs.make_ca(now=NOW))
    assert certs.load_ca(tmp_path) == ca


def test_half_a_ca_or_a_foreign_key_is_refused(tmp_path: Path, ca: Pem) -> None:
    assert certs.load_ca(tmp_path) is None
    (tmp_path / "ca.key").write_bytes(ca.key)
    with pytest.raises(CertError, match="without"):
        certs.load_ca(tmp_path)
    (tmp_path / "ca.crt").write_bytes(certs.make_ca(now=NOW).cert)
    with pytest.raises(CertError, match="is not the key of"):
        certs.load_ca(tmp_path)


def test_a_rerun_adds_hosts_signed_by_the_same_ca(tmp_path: Path) -> None:
    out = tmp_path / "certs"
    assert certs.main(["--out", str(out), "--host", "controller=10.77.0.1"], io.StringIO()) == 0
    first_ca = (out / "ca.key").read_bytes()
    printed = io.StringIO()
    assert certs.main(["--out", str(out), "--host", "worker-a=10.77.0.2"], printed) == 0
    assert (out / "ca.key").read_bytes() == first_ca
    ca_cert = x509.load_pem_x509_certificate((out / "ca.crt").read_bytes())
    for name in ("controller", "worker-a"):
        x509.load_pem_x509_certificate(
            (out / f"{name}.crt").read_bytes()
        ).verify_directly_issued_by(ca_cert)
    assert f"TLS_KEY_FILE={out.resolve() / 'worker-a.key'}" in printed.getvalue().splitlines()
    assert f"TLS_CA_FILE={out.resolve() / 'ca.crt'}" in printed.getvalue().splitlines()


def test_keys_are_private_and_the_directory_too(tmp_path: Path) -> None:
    out = tmp_path / "certs"
    assert certs.main(["--out", str(out), "--host", "w=10.0.0.2"], io.StringIO()) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert stat.S_IMODE((out / "ca.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((out / "w.key").stat().st_mode) == 0o600


def test_an_existing_host_needs_replace_and_nothing_is_half_written(tmp_path: Path) -> None:
    out = tmp_path / "certs"
    assert certs.main(["--out", str(out), "--host", "w=10.0.0.2"], io.StringIO()) == 0
    before = (out / "w.key").read_bytes()
    errors = io.StringIO()
    again = ["--out", str(out), "--host", "new=10.0.0.3", "--host", "w=10.0.0.2"]
    assert certs.main(again, io.StringIO(), errors) == 2
    assert "--replace" in errors.getvalue()
    assert not (out / "new.crt").exists()
    assert certs.main([*again, "--replace"], io.StringIO()) == 0
    assert (out / "w.key").read_bytes() != before
    assert stat.S_IMODE((out / "w.key").stat().st_mode) == 0o600


def test_a_directory_others_can_read_is_refused(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    errors = io.StringIO()
    assert certs.main(["--out", str(tmp_path), "--host", "w=10.0.0.2"], io.StringIO(), errors) == 2
    assert "open to others" in errors.getvalue()
    assert not (tmp_path / "ca.key").exists()


def test_a_host_given_twice_is_refused(tmp_path: Path) -> None:
    errors = io.StringIO()
    twice = ["--out", str(tmp_path / "c"), "--host", "w=10.0.0.2", "--host", "w=10.0.0.3"]
    assert certs.main(twice, io.StringIO(), errors) == 2
    assert "more than once" in errors.getvalue()
