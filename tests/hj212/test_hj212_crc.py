import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envwatch.hj212 import CrcVariant, crc16, crc16_modbus, crc_hex
from envwatch.hj212.crc import crc16_bytewise, crc_value, match_crc
from tests.hj212.hj212_helpers import load_examples


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"123456789", 0x2F80),  # check value from the protocol notes (MODBUS gives 0x4B37)
        (b"", 0xFFFF),
        (
            b"QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&",
            0x1C80,
        ),
    ],
)
def test_standard_crc(data: bytes, expected: int) -> None:
    assert crc16(data) == expected


def test_modbus_is_different() -> None:
    assert crc16_modbus(b"123456789") == 0x4B37
    assert crc_value(CrcVariant.MODBUS_SWAPPED, b"123456789") == 0x374B


def test_crc_hex_is_upper_case_four_digits() -> None:
    assert crc_hex(b"123456789") == "2F80"
    assert len(crc_hex(b"x")) == 4


def test_only_256_values_can_occur() -> None:
    # The documented weakness: only 8 bits of state survive between bytes.
    values = {
        crc16(bytes([a, b, c])) for a in range(0, 256, 7) for b in range(0, 256, 11) for c in range(256)
    }
    assert len(values) <= 256


@pytest.mark.parametrize("example", load_examples(), ids=lambda e: e["packet"][:24])
def test_examples_crc_over_plaintext(example: dict[str, object]) -> None:
    packet = str(example["packet"])
    segment = packet[6:-4]
    if "{0x" in segment:
        assert crc_hex(segment.encode()) == example["crc_over_ciphertext_text"]
    else:
        assert crc_hex(segment.encode()) == example["crc_computed"] == packet[-4:]


def test_match_crc_prefers_standard_and_respects_accepted_set() -> None:
    data = b"QN=1;CN=2011;CP=&&&&"
    everything = frozenset(CrcVariant)
    assert match_crc(data, crc16(data), everything) is CrcVariant.STANDARD
    modbus = crc16_modbus(data)
    assert match_crc(data, modbus, frozenset({CrcVariant.STANDARD})) is None
    assert match_crc(data, modbus, everything) is CrcVariant.MODBUS
    swapped = crc_value(CrcVariant.MODBUS_SWAPPED, data)
    assert match_crc(data, swapped, frozenset({CrcVariant.MODBUS_SWAPPED})) is CrcVariant.MODBUS_SWAPPED


@settings(max_examples=2000)
@given(st.binary(max_size=2100))
def test_folded_crc_equals_the_bytewise_loop(data: bytes) -> None:
    assert crc16(data) == crc16_bytewise(data)


def test_folded_crc_at_every_length_around_the_fold_boundaries() -> None:
    for n in range(0, 140):
        data = bytes((i * 37 + n) & 0xFF for i in range(n))
        assert crc16(data) == crc16_bytewise(data), n
