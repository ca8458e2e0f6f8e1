"""The checkpoint signing key: created 0600 on first use, reused after, refused when others may read it."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from envwatch.core.errors import Unavailable
from envwatch.core.settings import Settings
from envwatch.evidence import checkpoint
from envwatch.evidence.keys import key_path, public_pem, public_vkey, signing_key


def test_created_once_with_mode_0600_and_a_log_line(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    path = settings.data_dir / "keys" / "evidence-ed25519.pem"
    assert key_path(settings) == path and not path.exists()
    with caplog.at_level(logging.WARNING, logger="envwatch.evidence"):
        name, key = signing_key(settings)
    assert name == settings.evidence_origin
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert str(path) in caplog.text and "created" in caplog.text
    caplog.clear()
    _, again = signing_key(settings)
    assert again.private_bytes_raw() == key.private_bytes_raw()
    assert caplog.text == ""
    vkey = public_vkey(settings)
    assert checkpoint.parse_vkey(vkey)[2].public_bytes_raw() == key.public_key().public_bytes_raw()
    pem_key = load_pem_public_key(public_pem(settings).encode())
    assert pem_key.public_bytes_raw() == key.public_key().public_bytes_raw()  # type: ignore[union-attr]


def test_a_world_readable_key_is_refused(settings: Settings) -> None:
    signing_key(settings)
    key_path(settings).chmod(0o644)
    with pytest.raises(Unavailable, match="chmod 600"):
        signing_key(settings)


def test_a_configured_key_file_must_exist(tmp_path: Path) -> None:
    configured = Settings(
        data_dir=tmp_path / "var", evidence_signing_key_file=tmp_path / "missing.pem", _env_file=None
    )
    with pytest.raises(Unavailable, match="does not exist"):
        signing_key(configured)


def test_a_key_that_is_not_ed25519_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    bad.chmod(0o600)
    configured = Settings(data_dir=tmp_path / "var", evidence_signing_key_file=bad, _env_file=None)
    with pytest.raises(Unavailable, match="not an unencrypted PEM"):
        signing_key(configured)
