"""RFC 3161 time-stamps (可信时间戳) of the evidence log's signed checkpoints.

A configured time-stamping authority (TSA, ``evidence_tsa_url``) signs the SHA-256 of a checkpoint's *body*
(the C2SP tlog-checkpoint text ``origin\\nsize\\nbase64(root)\\n``, without the signature lines, so adding a
co-signature later does not change what was stamped). The token proves that this tree head — and so every
entry under it — existed no later than the TSA's ``genTime``, by a clock that is not ours.

Flow (:func:`stamp_checkpoint`): build a request with a fresh nonce (``rfc3161-client``), POST it with
urllib, check the answer's status, then verify the token *before* storing it: the message imprint equals the
SHA-256 of the body, the nonce is ours, the policy is the configured one (when set), and the CMS signature
chains to the certificates in ``evidence_tsa_ca_file`` with a TSA certificate whose critical extended key
usage is ``timeStamping``. The token (DER ``TimeStampToken``, what ``openssl ts -verify -token_in`` reads)
goes into ``evidence_timestamps`` and a copy of that row into the evidence log (kind
``checkpoint_timestamp``), so a token cannot later be removed unnoticed either.

Nothing here holds a database transaction open while the TSA is asked. A failure (network, HTTP, status,
verification) stores nothing; the checkpoint stays without a token and :func:`stamp_pending` tries again in
a later round. :func:`verify_stored` re-verifies stored tokens for ``envwatch evidence verify``.
"""

from __future__ import annotations

import hashlib
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from rfc3161_client import (
    HashAlgorithm,
    PKIStatus,
    TimestampRequestBuilder,
    TimeStampResponse,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)
from sqlalchemy import Connection, Engine, RowMapping, exists, insert, select

from envwatch.core.clock import utcnow
from envwatch.core.errors import EnvwatchError, InvalidInput, NotFound, Unavailable
from envwatch.core.evidence import submit_row
from envwatch.core.settings import Settings
from envwatch.evidence.schema import evidence_checkpoints, evidence_timestamps

log = logging.getLogger("envwatch.evidence.timestamps")

ENTRY_KIND = "checkpoint_timestamp"
QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
MAX_REPLY_BYTES = 1024 * 1024  # a token with a certificate chain is a few KiB; refuse anything huge
SHA256_OID = x509.ObjectIdentifier("2.16.840.1.101.3.4.2.1")
# a TSA clock this far from ours is worth a warning: the 72-hour archive check leans on both clocks
CLOCK_SKEW_WARN = timedelta(minutes=5)


class TokenError(InvalidInput):
    """A time-stamp token that does not prove what it should (wrong data, signer, nonce or policy)."""


# --- request, transport, verification (no database) --------------------------------------------------------


def note_body(note: str) -> str:
    """The signed text of a C2SP signed note: everything up to the last blank line, ending in a newline."""
    split = note.rfind("\n\n")
    if split < 0:
        raise InvalidInput("the checkpoint note has no blank line before its signatures: not a signed note")
    return note[: split + 1]


def request_for(data: bytes) -> tuple[bytes, int]:
    """A DER ``TimeStampReq`` over SHA-256(``data``) with a fresh nonce, asking for the TSA's certificate;
    returns the request and its nonce (which the answer must repeat)."""
    request = (
        TimestampRequestBuilder()
        .data(data)
        .hash_algorithm(HashAlgorithm.SHA256)
        .nonce(nonce=True)
        .cert_request(cert_request=True)
        .build()
    )
    if request.nonce is None:  # pragma: no cover - nonce=True always sets one
        raise RuntimeError("rfc3161-client built a request without a nonce")
    return request.as_bytes(), request.nonce


def fetch(url: str, request: bytes, timeout: float) -> bytes:
    """POST ``request`` to the TSA and return its DER ``TimeStampResp`` once it has granted a token.

    Raises :class:`Unavailable` (retry later) for a refused connection, a timeout, an HTTP error, an answer
    that is not an RFC 3161 response, or a status other than ``granted``."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise InvalidInput(f"the TSA URL {url!r} is not http(s): set evidence_tsa_url to the TSA's address")
    http_request = urllib.request.Request(
        url, data=request, method="POST", headers={"Content-Type": QUERY_TYPE, "Accept": REPLY_TYPE}
    )
    try:
        with urllib.request.urlopen(http_request, timeout=timeout) as reply:
            body: bytes = reply.read(MAX_REPLY_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise Unavailable(
            f"the TSA at {url} answered HTTP {exc.code} {exc.reason}; will retry (check the TSA's status "
            "and that evidence_tsa_url is its time-stamp endpoint)"
        ) from exc
    except TimeoutError as exc:
        raise Unavailable(_timeout_message(url, timeout)) from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise Unavailable(_timeout_message(url, timeout)) from exc
        raise Unavailable(f"cannot reach the TSA at {url}: {exc.reason}; will retry") from exc
    except OSError as exc:  # a connection reset half-way through the answer
        raise Unavailable(f"the connection to the TSA at {url} failed: {exc}; will retry") from exc
    if len(body) > MAX_REPLY_BYTES:
        raise Unavailable(f"the TSA at {url} sent more than {MAX_REPLY_BYTES} bytes: not a time-stamp reply")
    response = _decode(body, f"the answer of the TSA at {url}")
    if response.status != PKIStatus.GRANTED:
        texts = "; ".join(response.status_string) or "no text"
        raise Unavailable(
            f"the TSA at {url} did not grant a time-stamp: status {_status_name(response.status)} "
            f"({texts}); will retry"
        )
    return body


def _timeout_message(url: str, timeout: float) -> str:
    return f"the TSA at {url} did not answer within {timeout:g} s (evidence_tsa_timeout_s); will retry"


def _status_name(status: int) -> str:
    try:
        return PKIStatus(status).name.lower()
    except ValueError:
        return str(status)


def _decode(der: bytes, what: str) -> TimeStampResponse:
    try:
        return decode_timestamp_response(der)
    except ValueError as exc:
        raise Unavailable(f"{what} is not an RFC 3161 time-stamp response: {exc}") from exc


def token_of(response: bytes) -> bytes:
    """The DER ``TimeStampToken`` (CMS ContentInfo) inside a granted response: what is stored."""
    return _decode(response, "the TSA's answer").time_stamp_token()


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def _granted_response(token: bytes) -> bytes:
    """``TimeStampResp { status granted, token }``: rfc3161-client verifies responses, we store tokens."""
    content = bytes.fromhex("3003020100") + token  # PKIStatusInfo { status 0 } then the token
    return b"\x30" + _der_length(len(content)) + content


def load_ca_file(path: Path) -> list[x509.Certificate]:
    """The TSA's root and intermediate certificates (PEM) that tokens must chain to."""
    try:
        certificates = x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise InvalidInput(
            f"cannot read TSA certificates from {path} (evidence_tsa_ca_file): {exc}; it must be a PEM file "
            "with the TSA's root and intermediate CA certificates"
        ) from exc
    return certificates


def verify_token(
    token: bytes,
    data: bytes,
    certificates: Sequence[x509.Certificate],
    *,
    nonce: int | None = None,
    policy_oid: str | None = None,
) -> datetime:
    """Check that ``token`` time-stamps SHA-256(``data``) and is signed by a TSA under ``certificates``;
    returns the TSA's ``genTime`` (aware, UTC). Raises :class:`TokenError` saying what does not hold."""
    try:
        response = decode_timestamp_response(_granted_response(token))
        info = response.tst_info
    except ValueError as exc:
        raise TokenError(f"not a readable RFC 3161 time-stamp token: {exc}") from exc
    # the imprint first and by ourselves, so a token for other data is named as such
    imprint = info.message_imprint
    expected = hashlib.sha256(data).digest()
    if imprint.hash_algorithm != SHA256_OID:
        raise TokenError(
            f"the token's message imprint uses {imprint.hash_algorithm.dotted_string}, not SHA-256"
        )
    if imprint.message != expected:
        raise TokenError(
            f"the token's message imprint {imprint.message.hex()} is not the SHA-256 of the checkpoint body "
            f"({expected.hex()}): the token time-stamps other data"
        )
    if nonce is not None and info.nonce != nonce:
        raise TokenError(f"the token's nonce {info.nonce} is not the request's {nonce}: a replayed answer")
    if not certificates:
        raise TokenError("no TSA certificates to check the token's signature against (evidence_tsa_ca_file)")
    # rfc3161-client puts roots and intermediates into one trusted set; every certificate of the configured
    # file is a trust anchor the operator chose, so all go in as roots
    builder = VerifierBuilder(roots=list(certificates), nonce=nonce)
    if policy_oid is not None:
        builder = builder.policy_id(x509.ObjectIdentifier(policy_oid))
    try:
        builder.build().verify(response, expected)
    except (VerificationError, ValueError) as exc:
        detail = str(exc)[:300]  # OpenSSL's error stack can run to kilobytes
        raise TokenError(
            f"the token does not verify against the configured TSA certificates: {detail}"
        ) from exc
    return info.gen_time


# --- checkpoints in the database ----------------------------------------------------------------------------


def _configured(settings: Settings) -> tuple[str, list[x509.Certificate]] | None:
    url = settings.evidence_tsa_url
    if not url:
        return None
    if settings.evidence_tsa_ca_file is None:
        raise InvalidInput(
            "evidence_tsa_url is set but evidence_tsa_ca_file is not: set it to the TSA's root and intermediate "
            "certificates (PEM) so that tokens can be verified before they are stored"
        )
    return url, load_ca_file(settings.evidence_tsa_ca_file)


def _checkpoint(conn: Connection, checkpoint_id: int) -> RowMapping:
    row = (
        conn.execute(select(evidence_checkpoints).where(evidence_checkpoints.c.id == checkpoint_id))
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise NotFound(f"evidence checkpoint {checkpoint_id} does not exist")
    return row


def _token_row_id(conn: Connection, checkpoint_id: int) -> int | None:
    found = conn.execute(
        select(evidence_timestamps.c.id)
        .where(evidence_timestamps.c.checkpoint_id == checkpoint_id)
        .order_by(evidence_timestamps.c.id)
        .limit(1)
    ).scalar_one_or_none()
    return None if found is None else int(found)


def stamp(engine: Engine, settings: Settings, checkpoint_id: int, now: datetime) -> int | None:
    """Time-stamp one checkpoint; returns the ``evidence_timestamps`` id (the existing one when it already
    has a token) or None when no TSA is configured. Raises on any failure, having stored nothing."""
    configured = _configured(settings)
    if configured is None:
        return None
    url, certificates = configured
    with engine.connect() as conn:
        checkpoint = _checkpoint(conn, checkpoint_id)
        existing = _token_row_id(conn, checkpoint_id)
    if existing is not None:
        return existing
    body = note_body(checkpoint["note"]).encode()
    request, nonce = request_for(body)
    token = token_of(fetch(url, request, settings.evidence_tsa_timeout_s))
    gen_time = verify_token(
        token, body, certificates, nonce=nonce, policy_oid=settings.evidence_tsa_policy_oid
    )
    if abs(gen_time - now) > CLOCK_SKEW_WARN:
        log.warning(
            "the TSA at %s says %s but our clock says %s: check the platform's time synchronisation",
            url,
            gen_time.isoformat(),
            now.isoformat(),
        )
    with engine.begin() as conn:
        existing = _token_row_id(conn, checkpoint_id)  # another worker may have stamped it meanwhile
        if existing is not None:
            return existing
        result = conn.execute(
            insert(evidence_timestamps).values(
                checkpoint_id=checkpoint_id, tsa_url=url, token=token, gen_time=gen_time, received_at=now
            )
        )
        (new_id,) = result.inserted_primary_key or (None,)
        if new_id is None:  # pragma: no cover - every backend we support returns the new key
            raise RuntimeError("the database did not return the new time-stamp row's id")
        row_id = int(new_id)
        submit_row(conn, evidence_timestamps, row_id, kind=ENTRY_KIND, now=now)
    log.info(
        "checkpoint %s (tree size %s) time-stamped by %s at %s",
        checkpoint_id,
        checkpoint["tree_size"],
        url,
        gen_time.isoformat(),
    )
    return row_id


def stamp_checkpoint(engine: Engine, settings: Settings, checkpoint_id: int) -> int | None:
    """Time-stamp a checkpoint just made (called by the checkpoint loop): the ``evidence_timestamps`` id, or
    None when no TSA is configured or the stamp failed (logged; :func:`stamp_pending` retries it)."""
    try:
        return stamp(engine, settings, checkpoint_id, utcnow())
    except EnvwatchError as exc:
        log.warning("time-stamp of evidence checkpoint %s failed, will retry: %s", checkpoint_id, exc.message)
        return None


def stamp_pending(engine: Engine, settings: Settings, now: datetime, limit: int | None = None) -> int:
    """Stamp checkpoints that have no token yet, newest first (the newest covers the most entries), at most
    ``limit`` (default ``evidence_tsa_per_round``) per round; returns how many were stamped.

    The round stops at the first failure: when the TSA is down every request would wait for the timeout."""
    if not settings.evidence_tsa_url:
        return 0
    stamped = exists().where(evidence_timestamps.c.checkpoint_id == evidence_checkpoints.c.id)
    with engine.connect() as conn:
        pending = (
            conn.execute(
                select(evidence_checkpoints.c.id)
                .where(~stamped)
                .order_by(evidence_checkpoints.c.id.desc())
                .limit(limit or settings.evidence_tsa_per_round)
            )
            .scalars()
            .all()
        )
    done = 0
    for checkpoint_id in pending:
        try:
            stamp(engine, settings, int(checkpoint_id), now)
        except EnvwatchError as exc:
            log.warning(
                "time-stamp of evidence checkpoint %s failed, will retry: %s", checkpoint_id, exc.message
            )
            break
        done += 1
    return done


def verify_stored(conn: Connection, settings: Settings, checkpoint_id: int) -> list[str]:
    """Re-verify every stored token of a checkpoint against its note and the configured TSA certificates;
    one line per problem (empty when all hold, or when the checkpoint has no token)."""
    rows = (
        conn.execute(
            select(evidence_timestamps)
            .where(evidence_timestamps.c.checkpoint_id == checkpoint_id)
            .order_by(evidence_timestamps.c.id)
        )
        .mappings()
        .all()
    )
    if not rows:
        return []
    checkpoint = (
        conn.execute(select(evidence_checkpoints.c.note).where(evidence_checkpoints.c.id == checkpoint_id))
        .scalars()
        .one_or_none()
    )
    if checkpoint is None:
        return [
            f"evidence_checkpoints/{checkpoint_id}: missing, but {len(rows)} time-stamp token(s) refer to it"
        ]
    if settings.evidence_tsa_ca_file is None:
        return [
            f"evidence_timestamps/{row['id']}: cannot check the token of checkpoint {checkpoint_id}: "
            "evidence_tsa_ca_file is not set"
            for row in rows
        ]
    try:
        certificates = load_ca_file(settings.evidence_tsa_ca_file)
        body = note_body(checkpoint).encode()
    except InvalidInput as exc:
        return [f"evidence_timestamps/{row['id']}: cannot check: {exc.message}" for row in rows]
    problems: list[str] = []
    for row in rows:
        where = f"evidence_timestamps/{row['id']} (checkpoint {checkpoint_id})"
        try:
            gen_time = verify_token(
                bytes(row["token"]), body, certificates, policy_oid=settings.evidence_tsa_policy_oid
            )
        except TokenError as exc:
            problems.append(f"{where}: {exc.message}")
            continue
        if gen_time != row["gen_time"]:
            problems.append(
                f"{where}: column gen_time {row['gen_time'].isoformat()} differs from the token's "
                f"{gen_time.isoformat()}"
            )
    return problems
