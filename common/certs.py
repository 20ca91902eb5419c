"""python -m common.certs: a CA and one certificate per host, for mutual TLS in a small deployment.

    python -m common.certs --out certs --host controller=10.77.0.1,ctl.lan \
        --host worker-a=10.77.0.2,localhost

The first run makes `ca.crt` and `ca.key` in the output directory; later runs sign with that CA
and never replace it. Each `--host NAME=SAN,...` gets `NAME.crt` and `NAME.key`, good both as a
server certificate (a workerd or controller listening on TCP) and as a client certificate (the
controller dialling a workerd, grpcurl), and the three TLS_* lines for that host's `.env` are
printed (common/tls.py reads them). IP literals become IP subjectAltNames, anything else DNS names.

The building functions (make_ca, make_host_cert) return PEM bytes and touch no disk; write_ca,
load_ca and write_host do the files; main is the command line.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
HOST_DAYS = 825  # renew by re-running with --replace; the CA stays
CA_NAME = "Claude Code Proxy CA"
# A few minutes back-dated, so that a host whose clock is slightly behind accepts a fresh cert.
CLOCK_SKEW = datetime.timedelta(minutes=5)
HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
DNS_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
DNS_NAME = re.compile(rf"{DNS_LABEL}(\.{DNS_LABEL})*\.?")
PRIVATE = 0o700


class CertError(Exception):
    """A request this helper refuses: printed as one line, exit status 2."""


@dataclass(frozen=True)
class Pem:
    """A certificate and its private key, PEM encoded."""

    cert: bytes
    key: bytes


@dataclass(frozen=True)
class HostSpec:
    """One `--host NAME=SAN,...`: the file name and the addresses the certificate names."""

    name: str
    sans: tuple[str, ...]


def parse_host(text: str) -> HostSpec:
    """`NAME=SAN[,SAN...]`, every SAN an IP literal or a DNS name."""
    name, sep, san_text = text.partition("=")
    name = name.strip()
    sans = tuple(part.strip() for part in san_text.split(",") if part.strip())
    if not sep or not sans:
        raise CertError(f"--host {text!r}: expected NAME=ADDRESS[,ADDRESS...]")
    if not HOST_NAME.fullmatch(name) or name.lower() == "ca":
        raise CertError(f"--host {text!r}: {name!r} cannot name a file (letters, digits, ._-)")
    for san in sans:
        san_name(san)  # refuse a bad one before anything is written
    return HostSpec(name, sans)


def san_name(text: str) -> x509.GeneralName:
    """An IP address SAN for an IP literal (brackets allowed for v6), a DNS SAN otherwise."""
    try:
        return x509.IPAddress(ipaddress.ip_address(text.removeprefix("[").removesuffix("]")))
    except ValueError:
        pass
    if len(text) > 253 or not DNS_NAME.fullmatch(text):
        raise CertError(f"{text!r} is neither an IP address nor a DNS name")
    return x509.DNSName(text.rstrip(".").lower())


def make_ca(now: datetime.datetime | None = None, days: int = CA_DAYS) -> Pem:
    """A self-signed EC P-256 CA that may sign host certificates only (path length 0)."""
    key = ec.generate_private_key(ec.SECP256R1())
    start = (now or _utcnow()) - CLOCK_SKEW
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    usage = _key_usage(digital_signature=False, key_cert_sign=True)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Pem(_cert_pem(cert), _key_pem(key))


def make_host_cert(
    ca: Pem, host: HostSpec, now: datetime.datetime | None = None, days: int = HOST_DAYS
) -> Pem:
    """A leaf for `host`, signed by `ca`: serverAuth and clientAuth, its SANs, never a CA.
    It expires no later than the CA does."""
    ca_cert = x509.load_pem_x509_certificate(ca.cert)
    ca_key = _ec_key(ca.key)
    key = ec.generate_private_key(ec.SECP256R1())
    start = (now or _utcnow()) - CLOCK_SKEW
    end = min(start + datetime.timedelta(days=days), ca_cert.not_valid_after_utc)
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    both_ways = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host.name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True, key_cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(both_ways), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([san_name(s) for s in host.sans]), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return Pem(_cert_pem(cert), _key_pem(key))


def ca_paths(out: Path) -> tuple[Path, Path]:
    return out / "ca.crt", out / "ca.key"


def host_paths(out: Path, name: str) -> tuple[Path, Path]:
    return out / f"{name}.crt", out / f"{name}.key"


def prepare_out_dir(out: Path) -> None:
    """Create `out` mode 0700; refuse an existing one that others can read (keys go there)."""
    if not out.exists():
        out.mkdir(mode=PRIVATE, parents=True)
        out.chmod(PRIVATE)  # mkdir's mode passes through the umask
        return
    if not out.is_dir():
        raise CertError(f"{out} is not a directory")
    mode = out.stat().st_mode & 0o777
    if mode & 0o077:
        raise CertError(f"{out} is open to others (mode {mode:04o}): chmod 700 it or use another")


def write_ca(out: Path, ca: Pem) -> None:
    """Write a new CA; an existing ca.key or ca.crt is never replaced."""
    cert_path, key_path = ca_paths(out)
    for path in (key_path, cert_path):
        if path.exists():
            raise CertError(f"{path} exists: a CA is never overwritten (move it away first)")
    _write_new(key_path, ca.key, 0o600)
    _write_new(cert_path, ca.cert, 0o644)


def load_ca(out: Path) -> Pem | None:
    """The CA in `out`, or None when there is none; half a CA, or a key that does not match
    its certificate, is refused rather than replaced."""
    cert_path, key_path = ca_paths(out)
    if not cert_path.exists() and not key_path.exists():
        return None
    if not (cert_path.exists() and key_path.exists()):
        present, absent = (cert_path, key_path) if cert_path.exists() else (key_path, cert_path)
        raise CertError(f"{present} exists without {absent}: restore it or move {present} away")
    ca = Pem(cert_path.read_bytes(), key_path.read_bytes())
    try:
        cert = x509.load_pem_x509_certificate(ca.cert)
        key = _ec_key(ca.key)
    except (ValueError, TypeError) as exc:
        raise CertError(f"{out}: cannot read the CA ({exc})") from None
    if cert.public_key() != key.public_key():
        raise CertError(f"{key_path} is not the key of {cert_path}")
    if not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
        raise CertError(f"{cert_path} is not a CA certificate")
    return ca


def write_host(out: Path, name: str, pem: Pem, replace: bool) -> None:
    """Write a host's certificate and key (key 0600); existing ones only with `replace`."""
    if not replace:
        _refuse_existing_hosts(out, [name])
    cert_path, key_path = host_paths(out, name)
    _write_replacing(key_path, pem.key, 0o600)
    _write_replacing(cert_path, pem.cert, 0o644)


def env_lines(out: Path, name: str) -> list[str]:
    """The three settings for that host's .env (absolute paths on this machine)."""
    cert_path, key_path = host_paths(out.resolve(), name)
    ca_path, _ = ca_paths(out.resolve())
    return [f"TLS_CERT_FILE={cert_path}", f"TLS_KEY_FILE={key_path}", f"TLS_CA_FILE={ca_path}"]


def issue(out: Path, hosts: Sequence[HostSpec], replace: bool, stdout: TextIO) -> None:
    """Make the CA if `out` has none, then every host's files; print what to copy where.
    Everything is checked before anything is written."""
    prepare_out_dir(out)
    if not replace:
        _refuse_existing_hosts(out, [host.name for host in hosts])
    ca = load_ca(out)
    if ca is None:
        ca = make_ca()
        write_ca(out, ca)
        cert_path, key_path = ca_paths(out)
        print(f"# new CA {cert_path}: keep {key_path} on this machine only", file=stdout)
    for host in hosts:
        write_host(out, host.name, make_host_cert(ca, host), replace)
        print(
            f"\n# {host.name} ({', '.join(host.sans)}): copy ca.crt, {host.name}.crt", file=stdout
        )
        print(f"# and {host.name}.key (mode 0600) to that host; its .env:", file=stdout)
        print("\n".join(env_lines(out, host.name)), file=stdout)


def main(argv: Sequence[str], stdout: TextIO = sys.stdout, stderr: TextIO = sys.stderr) -> int:
    args = _parser().parse_args(argv)
    try:
        hosts = [parse_host(text) for text in args.host]
        _refuse_duplicates(hosts)
        issue(Path(args.out), hosts, args.replace, stdout)
    except (CertError, OSError) as exc:
        print(f"common.certs: {exc}", file=stderr)
        return 2
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m common.certs",
        description="Make a CA (once) and host certificates for mutual TLS between hosts.",
    )
    parser.add_argument("--out", default="certs", help="directory for the files (mode 0700)")
    parser.add_argument(
        "--host",
        action="append",
        default=[],
        metavar="NAME=ADDR[,ADDR...]",
        help="a host certificate NAME.crt naming these IP addresses and DNS names (repeatable)",
    )
    parser.add_argument(
        "--replace", action="store_true", help="issue again a host whose files already exist"
    )
    return parser


def _refuse_duplicates(hosts: Sequence[HostSpec]) -> None:
    names = [host.name for host in hosts]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise CertError(f"--host {repeated[0]} is given more than once")


def _refuse_existing_hosts(out: Path, names: Sequence[str]) -> None:
    existing = [str(path) for name in names for path in host_paths(out, name) if path.exists()]
    if existing:
        raise CertError(f"{existing[0]} exists: pass --replace to issue that host again")


def _key_usage(*, digital_signature: bool, key_cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=key_cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _ec_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertError("the CA key is not an EC key (this helper signs with EC P-256 only)")
    return key


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create `path` with `mode`; fail if it exists (O_EXCL closes the check-then-write gap)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), mode)  # the mode given to open passes through the umask
        handle.write(data)


def _write_replacing(path: Path, data: bytes, mode: int) -> None:
    """Write beside `path`, then rename over it: a reader never sees half a key."""
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    _write_new(partial, data, mode)
    os.replace(partial, path)


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
