"""HJ 212-2025 application-layer encryption of the CP data area (SM4-ECB, no padding).

Theory of operation
-------------------
Only the CP data area (the bytes between ``CP=&&`` and the closing ``&&``) is encrypted, with the
device's 128-bit key, in 16-byte ECB blocks. A tail shorter than one block stays in clear (this is
what "NoPadding" means in the standard's examples). Ciphertext bytes are written as text,
``{0xE4,0x3E,…}`` (five characters per byte), followed by the clear tail::

    CP=&&{0xE4,0x3E,…,0x41}g=N&&

The CRC and the length field describe the *plaintext* segment, so a receiver must decrypt before
it can check either, and framing cannot trust the length field of an encrypted packet.

An area shorter than 16 bytes has no block to encrypt and is sent entirely in clear. A received
area counts as encrypted when it starts with ``{0x``.

ECB leaks equal blocks and there is no MAC: the standard buys confidentiality, not integrity.
"""

from __future__ import annotations

import re

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from envwatch.hj212.errors import ErrorKind, HJ212Error

__all__ = ["BLOCK", "decrypt_region", "encrypt_region", "is_encrypted_region"]

BLOCK = 16
_HEX_BYTE = re.compile(rb"\s*0[xX]([0-9A-Fa-f]{2})\s*")


def _cipher(key: bytes) -> Cipher[modes.ECB]:
    if len(key) != BLOCK:
        raise ValueError(f"an SM4 key is 16 bytes, got {len(key)}")
    return Cipher(algorithms.SM4(key), modes.ECB())


def is_encrypted_region(region: bytes) -> bool:
    return region[:3] in (b"{0x", b"{0X")


def encrypt_region(region: bytes, key: bytes) -> bytes:
    """The on-the-wire form of a plaintext CP data area."""
    cipher = _cipher(key)
    full = len(region) - len(region) % BLOCK
    if full == 0:
        return region
    encryptor = cipher.encryptor()
    ciphertext = encryptor.update(region[:full]) + encryptor.finalize()
    return b"{" + b",".join(b"0x%02X" % byte for byte in ciphertext) + b"}" + region[full:]


def _failed(reason: str) -> HJ212Error:
    return HJ212Error(ErrorKind.DECRYPT_FAILED, reason)


def decrypt_region(region: bytes, key: bytes) -> bytes:
    """The plaintext of an encrypted CP data area; raises HJ212Error(DECRYPT_FAILED)."""
    close = region.find(b"}")
    if close == -1:
        raise _failed("encrypted CP has no closing '}'")
    items = region[1:close].split(b",")
    ciphertext = bytearray()
    for index, item in enumerate(items):
        match = _HEX_BYTE.fullmatch(item)
        if match is None:
            raise _failed(f"ciphertext item {index} {item[:12]!r} is not 0xHH")
        ciphertext.append(int(match.group(1), 16))
    if len(ciphertext) % BLOCK:
        raise _failed(f"ciphertext is {len(ciphertext)} bytes, not a multiple of {BLOCK}")
    decryptor = _cipher(key).decryptor()
    return decryptor.update(bytes(ciphertext)) + decryptor.finalize() + region[close + 1 :]
