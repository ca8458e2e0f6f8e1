"""evidence.checkpoint against published signed notes and keys, and its refusals."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from envwatch.evidence import checkpoint as cp
from envwatch.evidence.checkpoint import Checkpoint, NoteError

# golang.org/x/mod/sumdb/note, note.go package doc ("Here is a well-formed signed note") and note_test.go:
# the private key, its vkey, the text and the exact signed note Go produces (Ed25519 is deterministic).
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_TEXT = (
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
)
PETER_NOTE = (
    PETER_TEXT
    + "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)

# transparency-dev/formats log/note_test.go TestSumDBNoteParsing: a real checkpoint of the Go checksum
# database (sum.golang.org) with its published vkey (the key contains '+' in its base64).
SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_NOTE = (
    "go.sum database tree\n6476701\nmb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n\n"
    "— sum.golang.org Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEPWL+o3GeoWwOoAw=\n"
)


def peter_key() -> Ed25519PrivateKey:
    raw = base64.b64decode(PETER_SKEY.split("+", 4)[4])  # the base64 part contains "+"
    assert raw[0] == 0x01
    return Ed25519PrivateKey.from_private_bytes(raw[1:])


def test_signing_reproduces_gos_published_note_and_vkey() -> None:
    key = peter_key()
    assert cp.verifier_key("PeterNeumann", key.public_key()) == PETER_VKEY
    assert cp.key_id("PeterNeumann", key.public_key()).hex() == "c74f20a3"
    assert cp.sign_note(PETER_TEXT, key, "PeterNeumann") == PETER_NOTE
    assert cp.open_signed_note(PETER_NOTE, PETER_VKEY) == PETER_TEXT


def test_a_changed_note_is_refused() -> None:
    with pytest.raises(NoteError, match="does not verify"):
        cp.open_signed_note(PETER_NOTE.replace("cryptography", "cryptographY"), PETER_VKEY)


def test_the_sum_golang_org_checkpoint_opens_with_its_published_key() -> None:
    opened = cp.open_note(SUMDB_NOTE, SUMDB_VKEY)
    assert opened.origin == "go.sum database tree"
    assert opened.size == 6476701
    assert opened.root == base64.b64decode("mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=")
    assert opened.body() == SUMDB_NOTE.split("\n\n")[0] + "\n"
    with pytest.raises(NoteError):
        cp.open_note(SUMDB_NOTE.replace("6476701", "6476702"), SUMDB_VKEY)


def test_checkpoint_round_trip_and_exact_body() -> None:
    key = Ed25519PrivateKey.generate()
    point = Checkpoint("example.org/log", 12, bytes(range(32)))
    assert point.body() == f"example.org/log\n12\n{base64.b64encode(bytes(range(32))).decode()}\n"
    note = cp.sign(point, key, "example.org/log")
    assert note.startswith(point.body() + "\n— example.org/log ")
    assert cp.open_note(note, cp.verifier_key("example.org/log", key.public_key())) == point


def test_other_signers_are_ignored_and_ours_is_required() -> None:
    ours, witness = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    note = cp.sign(Checkpoint("example.org/log", 3, bytes(32)), ours, "example.org/log")
    cosigned = note + cp.sign_note(note.split("\n\n")[0] + "\n", witness, "witness.example").split("\n\n")[1]
    vkey = cp.verifier_key("example.org/log", ours.public_key())
    assert cp.open_note(cosigned, vkey).size == 3
    with pytest.raises(NoteError, match="no signature"):
        cp.open_note(note, cp.verifier_key("example.org/log", witness.public_key()))
    with pytest.raises(NoteError, match="no signature"):
        cp.open_note(note, cp.verifier_key("other.example/log", ours.public_key()))


@pytest.mark.parametrize(
    "vkey",
    [
        "PeterNeumann+c74f20a3",  # no key
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # id does not match
        "PeterNeumann+c74f20a3+AhpV2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong type byte
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # space in the name
    ],
)
def test_bad_vkeys_are_refused(vkey: str) -> None:
    with pytest.raises(NoteError):
        cp.open_signed_note(PETER_NOTE, vkey)


@pytest.mark.parametrize(
    "text",
    [
        "example.org/log\n12\n",  # no root
        "example.org/log\n012\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",  # leading zero
        "example.org/log\n-1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        "example.org/log\n1\nAAAA\n",  # root too short
        "example.org/log\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",  # no final newline
        "\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",  # empty origin
    ],
)
def test_malformed_checkpoints_are_refused(text: str) -> None:
    with pytest.raises(NoteError):
        cp.parse_checkpoint(text)


def test_malformed_notes_are_refused() -> None:
    key = peter_key()
    with pytest.raises(NoteError):
        cp.sign_note("no final newline", key, "PeterNeumann")
    with pytest.raises(NoteError):
        cp.sign_note("a\ttab\n", key, "PeterNeumann")
    with pytest.raises(NoteError):
        cp.open_signed_note(PETER_TEXT, PETER_VKEY)  # no signatures at all
    with pytest.raises(NoteError):
        cp.open_signed_note(PETER_NOTE.replace("— ", "- "), PETER_VKEY)
