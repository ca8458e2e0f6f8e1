"""The platform's checkpoint signing key (平台签名密钥): Ed25519, one PEM file, named ``evidence_origin``.

``settings.evidence_signing_key_file`` names the key (PKCS #8 PEM, unencrypted, so that the service can
sign unattended); without it the key is ``<data_dir>/keys/evidence-ed25519.pem``, created on first use with
mode 0600 and a log line that says where it is. A key file that other users may read or write is refused:
whoever holds the key can sign a checkpoint of a different tree (split view), so it must be as private as
the database password.

Back the key file up with the database: checkpoints signed by a lost key still verify with the published
vkey, but new ones will carry a new key id, which every party checking the log must be told about.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from envwatch.core.errors import Unavailable
from envwatch.core.settings import Settings
from envwatch.evidence.checkpoint import verifier_key

log = logging.getLogger("envwatch.evidence")

DEFAULT_KEY_NAME = "evidence-ed25519.pem"


def key_path(settings: Settings) -> Path:
    """Where the signing key is (configured, or the default under the data directory)."""
    configured = settings.evidence_signing_key_file
    return configured if configured is not None else settings.data_dir / "keys" / DEFAULT_KEY_NAME


def _create(path: Path) -> None:
    """Write a new key to ``path`` atomically (0600), unless another process got there first."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
            out.flush()
            os.fsync(out.fileno())
        os.link(temporary, path)  # fails if the key appeared meanwhile: then that one is the key
        log.warning(
            "created the evidence signing key %s (Ed25519, mode 0600): back it up; checkpoints are signed "
            "with it and checked with its public vkey (GET /api/v1/evidence/key)",
            path,
        )
    except FileExistsError:
        pass
    finally:
        temporary.unlink(missing_ok=True)


def _check_mode(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & (stat.S_IROTH | stat.S_IWOTH):
        raise Unavailable(
            f"the evidence signing key {path} can be read or written by every user (mode {mode:o}): "
            f"run `chmod 600 {path}` and check who may have copied it"
        )
    if mode & (stat.S_IRGRP | stat.S_IWGRP):
        log.warning(
            "the evidence signing key %s is readable by its group (mode %o): chmod 600 it", path, mode
        )


def signing_key(settings: Settings) -> tuple[str, Ed25519PrivateKey]:
    """``(key name, private key)``: the name is ``settings.evidence_origin`` (the log's origin)."""
    path = key_path(settings)
    if not path.exists():
        if settings.evidence_signing_key_file is not None:
            raise Unavailable(
                f"ENVWATCH_EVIDENCE_SIGNING_KEY_FILE names {path}, which does not exist: restore the key "
                "from its backup, or unset the setting to let envwatch create a new one"
            )
        _create(path)
    _check_mode(path)
    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise Unavailable(f"the evidence signing key {path} is not an unencrypted PEM key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise Unavailable(f"the evidence signing key {path} is a {type(key).__name__}, not Ed25519")
    return settings.evidence_origin, key


def public_vkey(settings: Settings) -> str:
    """The C2SP vkey (``name+hex8+base64``) that checks this platform's checkpoints."""
    name, key = signing_key(settings)
    return verifier_key(name, key.public_key())


def public_pem(settings: Settings) -> str:
    """The signing key's public half as a PEM (SubjectPublicKeyInfo), for tools that want one."""
    _, key = signing_key(settings)
    return key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
