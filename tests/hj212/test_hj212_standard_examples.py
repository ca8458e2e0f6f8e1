"""Every worked packet of the standards (2017 Appendix A, 2025 A.1 and A.2 incl. SM4)."""

import re

import pytest

from envwatch.hj212 import (
    DevicePolicy,
    ErrorKind,
    Packet,
    ProtocolError,
    ProtocolVersion,
    decode_frame,
    encode,
)
from envwatch.hj212.decode import decode_details
from tests.hj212.hj212_helpers import KEY, load_examples

EXAMPLES = load_examples()
PLAIN = [e for e in EXAMPLES if "encrypted" not in e["tags"]]
ENCRYPTED = [e for e in EXAMPLES if "encrypted" in e["tags"]]
POLICY = DevicePolicy(sm4_key=KEY)


def _plaintext_of(encrypted: dict[str, object]) -> dict[str, object]:
    # Each encrypted example directly follows its plaintext form in the file.
    return EXAMPLES[EXAMPLES.index(encrypted) - 1]


def test_corpus_shape() -> None:
    assert len(EXAMPLES) == 6 and len(ENCRYPTED) == 2


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e["packet"][:40])
def test_decode_every_example(example: dict[str, object]) -> None:
    raw = str(example["packet"]).encode() + b"\r\n"
    packet = decode_frame(raw, POLICY)
    assert isinstance(packet, Packet), packet
    assert packet.raw == raw
    assert packet.crc_ok and packet.crc_variant is not None
    assert packet.declared_length == example["declared_length"]
    assert packet.encrypted == ("encrypted" in example["tags"])  # type: ignore[operator]
    assert packet.mn == "010000A8900016F000169DC0"
    assert packet.needs_ack and not packet.is_split
    expected_version = ProtocolVersion.V2017 if "2017" in example["tags"] else ProtocolVersion.V2025  # type: ignore[operator]
    assert packet.version is expected_version
    assert len(packet.segment) == example.get("decrypted_segment_length", example["actual_segment_length"])


def test_2017_example_fields() -> None:
    packet = decode_frame(str(EXAMPLES[0]["packet"]).encode())
    assert isinstance(packet, Packet)
    assert dict(packet.header) == {
        "QN": "20160801085857223", "ST": "32", "CN": "1062", "PW": "100000",
        "MN": "010000A8900016F000169DC0", "Flag": "5",
    }  # fmt: skip
    assert dict(packet.cp) == {"RtdInterval": "30"} and dict(packet.factors) == {}
    assert (packet.qn, packet.st, packet.cn, packet.pw, packet.flag) == (
        "20160801085857223",
        "32",
        "1062",
        "100000",
        5,
    )


def test_2025_minute_example_fields() -> None:
    packet = decode_frame(str(EXAMPLES[2]["packet"]).encode())
    assert isinstance(packet, Packet)
    assert packet.data_time == "20240520210600"
    assert dict(packet.factors["a01014"]) == {"Min": "3.20", "Avg": "3.211", "Max": "3.212", "Flag": "N"}
    assert packet.factors["a01012"]["Avg"] == "9.3"  # exact strings, never floats


@pytest.mark.parametrize("encrypted", ENCRYPTED, ids=["13-blocks", "9-blocks-plus-tail"])
def test_sm4_decrypt_reproduces_plaintext_example(encrypted: dict[str, object]) -> None:
    plain = str(_plaintext_of(encrypted)["packet"])
    packet = decode_frame(str(encrypted["packet"]).encode(), POLICY)
    assert isinstance(packet, Packet)
    assert packet.segment == plain[6:-4]
    reference = decode_frame(plain.encode())
    assert isinstance(reference, Packet)
    assert (packet.header, packet.cp, packet.factors) == (reference.header, reference.cp, reference.factors)


@pytest.mark.parametrize("encrypted", ENCRYPTED, ids=["13-blocks", "9-blocks-plus-tail"])
def test_sm4_encode_reproduces_published_ciphertext(encrypted: dict[str, object]) -> None:
    plain = str(_plaintext_of(encrypted)["packet"])
    segment = plain[6:-4]
    head, region = segment.split(";CP=&&")
    header = dict(item.split("=", 1) for item in head.split(";"))
    assert encode(header, region[:-2], sm4_key=KEY) == str(encrypted["packet"]).encode() + b"\r\n"


@pytest.mark.parametrize("example", PLAIN, ids=lambda e: e["packet"][:40])
def test_encode_plaintext_examples_byte_for_byte(example: dict[str, object]) -> None:
    raw = str(example["packet"]).encode()
    packet = decode_frame(raw)
    assert isinstance(packet, Packet)
    assert encode(packet.header, packet.cp, packet.factors) == raw + b"\r\n"


def test_encrypted_tail_in_clear_and_length_is_plaintext_length() -> None:
    text = str(ENCRYPTED[1]["packet"])
    assert re.search(r"\}g=N&&B541$", text)
    assert text.startswith("##0234")


@pytest.mark.parametrize("encrypted", ENCRYPTED, ids=["13-blocks", "9-blocks-plus-tail"])
def test_encrypted_without_or_with_wrong_key(encrypted: dict[str, object]) -> None:
    raw = str(encrypted["packet"]).encode()
    no_key = decode_frame(raw)
    assert isinstance(no_key, ProtocolError) and no_key.kind is ErrorKind.DECRYPT_FAILED
    assert no_key.mn == "010000A8900016F000169DC0"  # the header is in clear
    wrong = decode_frame(raw, DevicePolicy(sm4_key=b"1" * 16))
    assert isinstance(wrong, ProtocolError) and wrong.kind is ErrorKind.DECRYPT_FAILED
    # CRC over the ciphertext text would be this (the notes' value): proves we check the plaintext.
    details = decode_details(raw, lambda _mn: POLICY)
    assert details.error is None and details.crc_ok
