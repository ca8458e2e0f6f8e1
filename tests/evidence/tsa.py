"""A real RFC 3161 time-stamping authority (可信时间戳服务) for tests: no mocks.

:func:`start_tsa` makes a small PKI in a directory with ``cryptography`` (a root CA, an intermediate CA and a
TSA certificate with the critical extendedKeyUsage ``timeStamping`` that RFC 3161 §2.3 requires), writes an
``openssl.cnf`` with a ``[tsa]`` section, and serves HTTP on loopback. Each POSTed query is answered by
Debian's ``openssl ts -reply`` — the same code many real TSAs run — so what the tests verify is a token
made by an independent implementation.

Use the :func:`tsa` fixture (import it into a test module: ``from tests.evidence.tsa import tsa``) or the
context manager directly. ``LocalTsa.url`` goes to ``evidence_tsa_url``, ``LocalTsa.ca_file`` (root and
intermediate, PEM) to ``evidence_tsa_ca_file``. Set ``LocalTsa.mode`` to make it misbehave:

- ``ok``: a proper token over the query;
- ``wrong_imprint``: a proper token, but over other data (the query's digest swapped before signing);
- ``untrusted``: a proper token signed by a TSA whose CA is not in ``ca_file``;
- ``http_500``: HTTP 500 and no body;
- ``slow``: waits ``delay_s`` before answering (longer than a short client timeout);
- ``rejection``: an RFC 3161 response with status ``rejection`` and no token;
- ``garbage``: HTTP 200 with bytes that are not a response.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

POLICY_OID = "1.3.6.1.4.1.99999.3161.1"
MODES = ("ok", "wrong_imprint", "untrusted", "http_500", "slow", "rejection", "garbage")
# DER of the SHA-256 OID inside a query's MessageImprint; the 32-byte digest follows it as 04 20 <digest>
_SHA256_OID = bytes.fromhex("0609608648016503040201")
# TimeStampResp { status PKIStatusInfo { rejection(2) } } with no token
_REJECTION = bytes.fromhex("30053003020102")


@dataclass
class LocalTsa:
    url: str
    ca_file: Path
    directory: Path
    policy_oid: str = POLICY_OID
    mode: str = "ok"
    delay_s: float = 3.0
    queries: list[bytes] = field(default_factory=list)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "envwatch test PKI"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _certificate(
    subject: str,
    key: rsa.RSAPrivateKey,
    issuer: tuple[x509.Certificate, rsa.RSAPrivateKey] | None,
    *,
    ca: bool,
) -> x509.Certificate:
    now = datetime.now(UTC)
    issuer_name = issuer[0].subject if issuer else _name(subject)
    signing_key = issuer[1] if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        # RFC 3161 §2.3: the TSA certificate has exactly one extendedKeyUsage, timeStamping, critical
        builder = builder.add_extension(
            x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
    if issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer[1].public_key()), critical=False
        )
    return builder.sign(signing_key, hashes.SHA256())


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


def _pem(*certificates: x509.Certificate) -> bytes:
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certificates)


def _tsa_section(name: str, directory: Path, prefix: str) -> str:
    return f"""
[ {name} ]
dir = {directory}
serial = $dir/{prefix}serial
crypto_device = builtin
signer_cert = $dir/{prefix}tsa.pem
signer_key = $dir/{prefix}tsa.key
signer_digest = sha256
default_policy = {POLICY_OID}
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def make_pki(directory: Path) -> Path:
    """Root → intermediate → TSA (and an unrelated "rogue" TSA); returns the CA file (root + intermediate)."""
    directory.mkdir(parents=True, exist_ok=True)
    keys = {
        name: rsa.generate_private_key(public_exponent=65537, key_size=2048)
        for name in ("root", "sub", "tsa")
    }
    root = _certificate("envwatch test root CA", keys["root"], None, ca=True)
    sub = _certificate("envwatch test TSA CA", keys["sub"], (root, keys["root"]), ca=True)
    tsa = _certificate("envwatch test TSA", keys["tsa"], (sub, keys["sub"]), ca=False)
    rogue_keys = {
        name: rsa.generate_private_key(public_exponent=65537, key_size=2048) for name in ("ca", "tsa")
    }
    rogue_ca = _certificate("rogue root CA", rogue_keys["ca"], None, ca=True)
    rogue = _certificate("envwatch test TSA", rogue_keys["tsa"], (rogue_ca, rogue_keys["ca"]), ca=False)

    _write_key(directory / "tsa.key", keys["tsa"])
    (directory / "tsa.pem").write_bytes(_pem(tsa))
    _write_key(directory / "rogue-tsa.key", rogue_keys["tsa"])
    (directory / "rogue-tsa.pem").write_bytes(_pem(rogue))
    (directory / "rogue-ca.pem").write_bytes(_pem(rogue_ca))
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(_pem(root, sub))
    for prefix in ("", "rogue-"):
        (directory / f"{prefix}serial").write_text("01\n")
    (directory / "openssl.cnf").write_text(
        "[ tsa ]\ndefault_tsa = tsa_main\n"
        + _tsa_section("tsa_main", directory, "")
        + _tsa_section("tsa_rogue", directory, "rogue-")
    )
    return ca_file


def _swap_imprint(query: bytes) -> bytes:
    """The same query, but for the SHA-256 of other data (the nonce and everything else kept)."""
    at = query.find(_SHA256_OID)
    digest_at = query.find(b"\x04\x20", at) + 2
    if at < 0 or digest_at < 2:
        raise ValueError("not a SHA-256 time-stamp query")
    other = hashlib.sha256(b"other data than was asked for").digest()
    return query[:digest_at] + other + query[digest_at + 32 :]


def _reply(state: LocalTsa, query: bytes, lock: threading.Lock) -> bytes:
    section = "tsa_rogue" if state.mode == "untrusted" else "tsa_main"
    if state.mode == "wrong_imprint":
        query = _swap_imprint(query)
    with lock, tempfile.TemporaryDirectory(dir=state.directory) as work:  # the serial file is shared
        query_file = Path(work) / "query.tsq"
        reply_file = Path(work) / "reply.tsr"
        query_file.write_bytes(query)
        subprocess.run(
            [
                *("openssl", "ts", "-reply", "-config", str(state.directory / "openssl.cnf")),
                *("-section", section, "-queryfile", str(query_file), "-out", str(reply_file)),
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
        return reply_file.read_bytes()


def _handler(state: LocalTsa, lock: threading.Lock) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            query = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.queries.append(query)
            if self.headers.get("Content-Type") != "application/timestamp-query":
                self._answer(415, b"", "text/plain")
            elif state.mode == "http_500":
                self._answer(500, b"", "text/plain")
            elif state.mode == "rejection":
                self._answer(200, _REJECTION)
            elif state.mode == "garbage":
                self._answer(200, b"<html>not a time-stamp</html>")
            else:
                if state.mode == "slow":
                    time.sleep(state.delay_s)
                try:
                    reply = _reply(state, query, lock)
                except (subprocess.CalledProcessError, ValueError):
                    self._answer(400, b"", "text/plain")
                    return
                self._answer(200, reply)

        def _answer(self, status: int, body: bytes, media_type: str = "application/timestamp-reply") -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", media_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (the slow mode)
                pass

        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            pass

    return Handler


@contextmanager
def start_tsa(directory: Path) -> Iterator[LocalTsa]:
    """A TSA serving on 127.0.0.1 (a free port) until the block ends."""
    ca_file = make_pki(directory)
    state = LocalTsa(url="", ca_file=ca_file, directory=directory)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state, threading.Lock()))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/tsa"
    thread = threading.Thread(target=server.serve_forever, name="test-tsa", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalTsa]:
    """A running test TSA (see the module docstring); ``tsa.url`` and ``tsa.ca_file`` go to the settings."""
    with start_tsa(tmp_path_factory.mktemp("tsa")) as state:
        yield state
