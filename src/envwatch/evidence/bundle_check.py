"""Offline check of an evidence bundle (证据包离线核验): ``envwatch evidence check BUNDLE``.

A bundle (``evidence.bundle``) is a zip of ``manifest.json`` and ``files/<sha256>``. This module proves, with
nothing but the bundle (and, to trust it, the platform's verifier key obtained elsewhere), that:

1. each file hashes to the SHA-256, SM3 (国密) and size the manifest gives, and an entry body in the bundle
   names that SHA-256 (so the file is covered by the log, not merely listed);
2. each entry body hashes to its Merkle leaf (RFC 9162: SHA-256(0x00 ‖ body)), and the inclusion proof
   leads from that leaf to the checkpoint's root (包含证明);
3. the checkpoint (C2SP signed note) is signed by the key in the bundle, and whether that key is the one
   the user pinned (``trusted_key``); without a pinned key the result says so: a bundle made by anyone
   carries a key that verifies its own signature;
4. RFC 3161 time-stamp tokens of the checkpoint, if any, stamp SHA-256 of the checkpoint body (the note
   without its signature lines) and are signed under the TSA certificates the bundle carries (checked with
   ``rfc3161-client`` when it is installed, else reported as skipped).

Imports only the standard library, ``cryptography`` (through ``evidence.checkpoint``) and the two pure modules
``evidence.merkle`` and ``evidence.checkpoint``: no settings, no database, so a court or a third party can run
it on a machine that has never seen the platform (a test imports it with SQLAlchemy blocked).
"""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from envwatch.evidence import checkpoint as notes
from envwatch.evidence import merkle

FORMAT = "envwatch-evidence-bundle"
VERSION = 1
MANIFEST = "manifest.json"
FILES_DIR = "files/"
CHUNK = 1024 * 1024

OK, FAIL, WARN, SKIP = "ok", "fail", "warn", "skip"
_MARKS = {OK: "✓", FAIL: "✗", WARN: "!", SKIP: "–"}


@dataclass(frozen=True, slots=True)
class Finding:
    """One line of the report: ``status`` is ok / fail / warn / skip; ``what`` names the thing checked."""

    status: str
    what: str
    detail: str

    def line(self) -> str:
        return f"{_MARKS[self.status]} {self.what}: {self.detail}"


@dataclass(slots=True)
class CheckResult:
    """The outcome of :func:`check_bundle`: every finding, and whether the key was pinned and matched."""

    bundle: str
    item: str = ""
    findings: list[Finding] = field(default_factory=list)
    key_pinned: bool = False
    key_trusted: bool = False

    @property
    def ok(self) -> bool:
        return not any(f.status == FAIL for f in self.findings)

    @property
    def exit_code(self) -> int:
        """0 everything holds; 1 something failed (the report says what)."""
        return 0 if self.ok else 1

    def add(self, status: str, what: str, detail: str) -> None:
        self.findings.append(Finding(status, what, detail))

    def report(self) -> str:
        """The human report (中英文术语), one finding a line, with the verdict last."""
        lines = [f"证据包 evidence bundle: {self.bundle}", f"item: {self.item or '?'}"]
        lines += [f.line() for f in self.findings]
        if not self.ok:
            failed = sum(f.status == FAIL for f in self.findings)
            lines.append(f"RESULT 结论: FAILED 核验不通过 — {failed} check(s) failed (marked ✗)")
        elif self.key_trusted:
            lines.append("RESULT 结论: OK 核验通过 — signed by the pinned platform key")
        else:
            lines.append(
                "RESULT 结论: OK for the key in the bundle 包内公钥核验通过 — pin the platform key with --key "
                "to trust it"
            )
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {
            "bundle": self.bundle,
            "item": self.item,
            "ok": self.ok,
            "key_pinned": self.key_pinned,
            "key_trusted": self.key_trusted,
            "findings": [{"status": f.status, "what": f.what, "detail": f.detail} for f in self.findings],
        }


class BundleError(ValueError):
    """The file is not a readable bundle at all (not a zip, no manifest, unknown format)."""


def file_digests(stream: IO[bytes]) -> tuple[str, str, int]:
    """SHA-256, SM3 and size of a stream, read in 1 MiB chunks (a multi-GB video never sits in memory)."""
    sha, sm3, size = hashlib.sha256(), hashlib.new("sm3"), 0
    while chunk := stream.read(CHUNK):
        sha.update(chunk)
        sm3.update(chunk)
        size += len(chunk)
    return sha.hexdigest(), sm3.hexdigest(), size


def _dicts_naming(value: Any, digest: str) -> Iterator[Mapping[str, Any]]:
    """Every JSON object inside ``value`` that has ``digest`` as one of its values."""
    if isinstance(value, Mapping):
        if digest in value.values():
            yield value
        for item in value.values():
            yield from _dicts_naming(item, digest)
    elif isinstance(value, list):
        for item in value:
            yield from _dicts_naming(item, digest)


def _hex(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise BundleError(f"{what} is not a hex string")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise BundleError(f"{what} is not hex: {value!r}") from None
    return raw


def read_manifest(archive: zipfile.ZipFile) -> dict[str, Any]:
    try:
        manifest = json.loads(archive.read(MANIFEST))
    except KeyError:
        raise BundleError(f"the bundle has no {MANIFEST}") from None
    except ValueError as exc:
        raise BundleError(f"{MANIFEST} is not JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{MANIFEST} is not an {FORMAT} manifest")
    if manifest.get("version") != VERSION:
        raise BundleError(
            f"bundle format version {manifest.get('version')!r}; this checker reads version {VERSION}"
        )
    return manifest


def _open_checkpoint(result: CheckResult, log: Mapping[str, Any], trusted_key: str | None) -> Any:
    """The signed checkpoint, opened with the bundle's key (and the pinned one); None if it does not open."""
    note, vkey = str(log.get("checkpoint", {}).get("note", "")), str(log.get("verifier_key", ""))
    try:
        opened = notes.open_note(note, vkey)
    except Exception as exc:  # any refusal of the note (format, key, signature) is a failed check
        result.add(FAIL, "checkpoint signature 检查点签名", f"does not verify with the bundle's key: {exc}")
        return None
    result.add(
        OK, "checkpoint signature 检查点签名", f"valid for the key in the bundle ({vkey.split('+')[0]})"
    )
    if trusted_key is None:
        result.add(
            WARN,
            "platform key 平台公钥",
            "signature valid for the key in the bundle; pin the platform key with --key to trust it",
        )
        return opened
    result.key_pinned = True
    try:
        notes.open_note(note, trusted_key.strip())
    except Exception as exc:
        result.add(FAIL, "platform key 平台公钥", f"the checkpoint is NOT signed by the pinned key: {exc}")
        return opened
    result.key_trusted = True
    same = trusted_key.strip() == vkey.strip()
    result.add(
        OK,
        "platform key 平台公钥",
        "signed by the pinned key" + ("" if same else " (the bundle carries a different key text)"),
    )
    return opened


def _check_tree_head(result: CheckResult, log: Mapping[str, Any], opened: Any) -> tuple[int, bytes] | None:
    stated = log.get("checkpoint", {})
    size, root = int(opened.size), bytes(opened.root)
    if stated.get("tree_size") != size or stated.get("root_hash") != root.hex():
        result.add(
            FAIL,
            "checkpoint 检查点",
            f"manifest says size {stated.get('tree_size')} root {stated.get('root_hash')}, the signed note "
            f"says size {size} root {root.hex()}",
        )
    else:
        result.add(OK, "checkpoint 检查点", f"origin {opened.origin}, tree size {size}, root {root.hex()}")
    return size, root


def _check_entries(result: CheckResult, entries: list[Any], head: tuple[int, bytes] | None) -> None:
    for entry in entries:
        what = f"entry 条目 {entry.get('entry_id')} ({entry.get('kind')} {entry.get('ref')})"
        body = entry.get("body")
        if not isinstance(body, str):
            result.add(FAIL, what, "has no body text")
            continue
        try:
            parsed = json.loads(body)
        except ValueError:
            result.add(FAIL, what, "body is not JSON")
            continue
        if parsed.get("kind") != entry.get("kind") or parsed.get("ref") != entry.get("ref"):
            result.add(FAIL, what, f"body says {parsed.get('kind')} {parsed.get('ref')}")
            continue
        leaf = merkle.leaf_hash(body.encode())
        if entry.get("leaf_hash") != leaf.hex():
            result.add(FAIL, what, f"body hashes to leaf {leaf.hex()}, not {entry.get('leaf_hash')}")
            continue
        if head is None:
            result.add(SKIP, what, "inclusion not checked: the checkpoint did not verify")
            continue
        size, root = head
        try:
            proof = [_hex(h, "proof hash") for h in entry.get("inclusion_proof", [])]
            merkle.verify_inclusion(leaf, int(entry.get("leaf_index", -1)), size, proof, root)
        except (BundleError, merkle.ProofError, TypeError, ValueError) as exc:
            result.add(FAIL, what, f"inclusion proof 包含证明 fails: {exc}")
            continue
        result.add(
            OK, what, f"leaf 叶 {entry['leaf_index']} is in the tree of {size} (inclusion proof valid)"
        )


def _check_files(result: CheckResult, archive: zipfile.ZipFile, manifest: Mapping[str, Any]) -> None:
    bodies = [json.loads(e["body"]) for e in manifest.get("entries", []) if _parses(e.get("body"))]
    listed = set()
    for item in manifest.get("files", []):
        sha = str(item.get("sha256", ""))
        what = f"file 文件 {sha[:16]}…"
        path = f"{FILES_DIR}{sha}"
        listed.add(path)
        try:
            with archive.open(path) as stream:
                got_sha, got_sm3, got_size = file_digests(stream)
        except KeyError:
            result.add(FAIL, what, f"{path} is missing from the bundle")
            continue
        if (got_sha, got_sm3, got_size) != (sha, item.get("sm3"), item.get("size")):
            result.add(
                FAIL,
                what,
                f"content changed: SHA-256 {got_sha}, SM3 {got_sm3}, {got_size} bytes; the manifest says "
                f"SHA-256 {sha}, SM3 {item.get('sm3')}, {item.get('size')} bytes",
            )
            continue
        naming = [d for body in bodies for d in _dicts_naming(body, sha)]
        if not naming:
            result.add(FAIL, what, "no entry in the bundle names this file: the log does not cover it")
            continue
        wrong = [
            d
            for d in naming
            if ("sm3" in d and d["sm3"] != got_sm3)
            or (isinstance(d.get("size"), int) and d["size"] != got_size)
        ]
        if wrong:
            result.add(FAIL, what, "an entry names this SHA-256 with another SM3 or size")
            continue
        result.add(
            OK, what, f"SHA-256 and SM3 match, {got_size} bytes, named by {len(naming)} logged record(s)"
        )
    extra = [n for n in archive.namelist() if n.startswith(FILES_DIR) and n not in listed]
    for name in extra:
        result.add(WARN, f"file 文件 {name}", "in the zip but not in the manifest: not checked")


def _parses(body: Any) -> bool:
    if not isinstance(body, str):
        return False
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


def _tst_response(token: bytes) -> bytes:
    """Wrap a stored TimeStampToken as a granted TimeStampResponse (DER), the form rfc3161-client decodes."""
    status = b"\x30\x03\x02\x01\x00"  # PKIStatusInfo { status granted(0) }
    content = status + token
    return b"\x30" + _der_length(len(content)) + content


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def note_body(note: str) -> str:
    """The signed text of a C2SP signed note (up to the last blank line): what an RFC 3161 token stamps."""
    split = note.rfind("\n\n")
    return note if split < 0 else note[: split + 1]


def _tsa_roots(log: Mapping[str, Any]) -> list[Any]:
    pem = str(log.get("tsa_certificates") or "")
    if not pem:
        return []
    from cryptography import x509

    try:
        return list(x509.load_pem_x509_certificates(pem.encode()))
    except ValueError:
        return []


def _check_timestamps(result: CheckResult, log: Mapping[str, Any]) -> None:
    """Each token stamps SHA-256 of the checkpoint body; its CMS signature is checked against the TSA
    certificates the bundle carries (as trustworthy as the TSA root the reader compares them with)."""
    stamps = log.get("timestamps") or []
    if not stamps:
        return
    try:
        import rfc3161_client
    except ImportError:
        result.add(
            SKIP, "time-stamps 可信时间戳", f"{len(stamps)} token(s) not checked: rfc3161-client missing"
        )
        return
    body = note_body(str(log.get("checkpoint", {}).get("note", ""))).encode()
    expected = hashlib.sha256(body).digest()
    roots = _tsa_roots(log)
    for stamp in stamps:
        what = f"time-stamp 时间戳 from {stamp.get('tsa_url')}"
        try:
            token = base64.b64decode(str(stamp.get("token", "")), validate=True)
            response = rfc3161_client.decode_timestamp_response(_tst_response(token))
            info = response.tst_info
        except Exception as exc:  # a token that does not decode is a failed check, whatever the parser raised
            result.add(FAIL, what, f"token does not decode: {exc}")
            continue
        if bytes(info.message_imprint.message) != expected:
            result.add(FAIL, what, "the token's message imprint is not SHA-256 of the checkpoint body")
            continue
        chain = "the TSA's signature was not checked (no TSA certificates in the bundle)"
        if roots:
            try:
                rfc3161_client.VerifierBuilder(roots=roots).build().verify(response, expected)
            except Exception as exc:  # VerificationError or a malformed chain: either way it does not verify
                result.add(
                    FAIL,
                    what,
                    f"the token's signature does not verify with the bundle's TSA certificates: {exc}",
                )
                continue
            chain = "signature valid for the TSA certificates in the bundle (compare them with the TSA's published root)"
        result.add(OK, what, f"stamps the checkpoint at {info.gen_time.isoformat()}; {chain}")


def check_bundle(path: Path | str, *, trusted_key: str | None = None) -> CheckResult:
    """Check the bundle at ``path`` (see the module docstring); never raises for a bad bundle, it reports."""
    result = CheckResult(bundle=str(path))
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = read_manifest(archive)
            result.item = str(manifest.get("item", ""))
            log = manifest.get("log") or {}
            opened = _open_checkpoint(result, log, trusted_key)
            head = _check_tree_head(result, log, opened) if opened is not None else None
            _check_entries(result, list(manifest.get("entries") or []), head)
            if not manifest.get("entries"):
                result.add(FAIL, "entries 条目", "the bundle holds no entries: nothing is proven")
            _check_files(result, archive, manifest)
            _check_timestamps(result, log)
    except (zipfile.BadZipFile, BundleError, OSError) as exc:
        result.add(FAIL, "bundle 证据包", f"cannot be read: {exc}")
    return result
