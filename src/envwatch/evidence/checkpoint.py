"""Signed checkpoints (签名检查点): a C2SP tlog-checkpoint body in a C2SP signed note, Ed25519. Pure.

The checkpoint body (c2sp.org/tlog-checkpoint) is three lines, each ending in a newline::

    <origin>
    <tree size, decimal>
    <base64 of the 32-byte root hash>

and the signed note (c2sp.org/signed-note) appends a blank line and one signature line per signer::

    — <key name> <base64(4-byte key id ‖ 64-byte Ed25519 signature over the body)>

The key id is ``SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key)[:4]`` and a verifier is given the key as
the vkey text ``<name>+<key id, 8 hex digits>+<base64(0x01 ‖ public key)>``: the formats Go's
``golang.org/x/mod/sumdb/note``, transparency-dev and Sigstore use, so their tools check our checkpoints.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519 = 0x01
"""The signed-note signature type of Ed25519."""

SIGNATURE_PREFIX = "— "  # em dash (U+2014) and a space
MAX_SIGNATURES = 16


class NoteError(ValueError):
    """A note or checkpoint is malformed, or its signature does not verify; the message says which."""


@dataclass(frozen=True)
class Checkpoint:
    """The tree of ``size`` leaves of the log named ``origin`` has root ``root``."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        """The note text: ``origin\\nsize\\nbase64(root)\\n`` and any extension lines."""
        if not self.origin or "\n" in self.origin:
            raise NoteError(f"checkpoint origin {self.origin!r} must be one non-empty line")
        if self.size < 0:
            raise NoteError(f"checkpoint size {self.size} is negative")
        if len(self.root) != 32:
            raise NoteError(f"checkpoint root has {len(self.root)} bytes, not 32")
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode(), *self.extensions]
        return "".join(f"{line}\n" for line in lines)


def _raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _check_name(name: str) -> None:
    if not name or re.search(r"[\s+]", name):
        raise NoteError(f"key name {name!r} must be non-empty, without spaces or '+' (C2SP signed-note)")


def key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    """The 4-byte key id: ``SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]``."""
    _check_name(name)
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + _raw_public(public_key)).digest()[:4]


def verifier_key(name: str, public_key: Ed25519PublicKey) -> str:
    """The vkey text a third party configures to check our notes: ``name+hex8+base64(0x01 ‖ key)``."""
    encoded = base64.b64encode(bytes([ED25519]) + _raw_public(public_key)).decode()
    return f"{name}+{key_id(name, public_key).hex()}+{encoded}"


def parse_vkey(vkey: str) -> tuple[str, bytes, Ed25519PublicKey]:
    """``(name, key id, public key)`` of a vkey; the key id must match the key (or :class:`NoteError`)."""
    parts = vkey.strip().split("+", 2)  # the base64 key may itself contain '+'
    if len(parts) != 3:
        raise NoteError(f"verifier key {vkey!r} is not name+hex8+base64")
    name, id_hex, encoded = parts
    _check_name(name)
    try:
        raw_id = bytes.fromhex(id_hex)
        raw = base64.b64decode(encoded, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise NoteError(f"verifier key {vkey!r}: bad hex or base64 ({exc})") from None
    if len(raw_id) != 4 or len(raw) != 33 or raw[0] != ED25519:
        raise NoteError(f"verifier key {vkey!r} is not an Ed25519 key (type 0x01, 32 bytes)")
    public_key = Ed25519PublicKey.from_public_bytes(raw[1:])
    if key_id(name, public_key) != raw_id:
        raise NoteError(f"verifier key {vkey!r}: the key id does not match the name and key")
    return name, raw_id, public_key


def sign_note(text: str, private_key: Ed25519PrivateKey, name: str) -> str:
    """Sign any note text (ending in a newline) as ``name``: the text, a blank line, one signature line."""
    if not text.endswith("\n"):
        raise NoteError("note text must end in a newline")
    if any(ord(char) < 0x20 and char != "\n" for char in text):
        raise NoteError("note text must not contain control characters other than newline")
    signature = private_key.sign(text.encode())
    encoded = base64.b64encode(key_id(name, private_key.public_key()) + signature).decode()
    return f"{text}\n{SIGNATURE_PREFIX}{name} {encoded}\n"


def sign(checkpoint: Checkpoint, private_key: Ed25519PrivateKey, name: str) -> str:
    """The checkpoint as a signed note (the text stored in ``evidence_checkpoints.note`` and published)."""
    return sign_note(checkpoint.body(), private_key, name)


def open_signed_note(note: str, vkey: str) -> str:
    """The text of ``note`` once a signature by the key ``vkey`` verifies on it (else :class:`NoteError`).

    Signatures by other keys are ignored, as the spec says; a failing signature by our key rejects the
    note."""
    name, wanted_id, public_key = parse_vkey(vkey)
    if not note.endswith("\n"):
        raise NoteError("a signed note ends in a newline")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise NoteError("no blank line separates the note text from its signatures")
    text, signature_lines = note[: cut + 1], note[cut + 2 : -1].split("\n")
    if len(signature_lines) > MAX_SIGNATURES:
        raise NoteError(f"more than {MAX_SIGNATURES} signatures on a note")
    verified = False
    for line in signature_lines:
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteError(f"signature line {line!r} does not start with an em dash and a space")
        signer, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise NoteError(f"signature of {signer!r} is not base64") from None
        if len(raw) < 5:
            raise NoteError(f"signature of {signer!r} is too short")
        if signer != name or raw[:4] != wanted_id:
            continue  # another key's signature (a witness, say): not ours to judge
        try:
            public_key.verify(raw[4:], text.encode())
        except InvalidSignature:
            raise NoteError(f"the signature of {name} does not verify: the note was changed") from None
        verified = True
    if not verified:
        raise NoteError(f"the note carries no signature of {name}+{wanted_id.hex()}")
    return text


def parse_checkpoint(text: str) -> Checkpoint:
    """The checkpoint in a note text (already verified): origin, size, root and any extension lines."""
    if not text.endswith("\n"):
        raise NoteError("a checkpoint ends in a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError("a checkpoint has at least three lines: origin, size, root")
    origin, size_text, root_text, *extensions = lines
    if not origin:
        raise NoteError("the checkpoint origin line is empty")
    if not re.fullmatch(r"0|[1-9][0-9]*", size_text):
        raise NoteError(f"checkpoint size {size_text!r} is not a decimal number without leading zeros")
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error:
        raise NoteError(f"checkpoint root {root_text!r} is not base64") from None
    if len(root) != 32:
        raise NoteError(f"checkpoint root has {len(root)} bytes, not 32")
    if any(not line for line in extensions):
        raise NoteError("a checkpoint extension line is empty")
    return Checkpoint(origin, int(size_text), root, tuple(extensions))


def open_note(note: str, vkey: str) -> Checkpoint:
    """Verify a signed checkpoint note with ``vkey`` and parse it (raises :class:`NoteError`)."""
    return parse_checkpoint(open_signed_note(note, vkey))
