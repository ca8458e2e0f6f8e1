"""decode_line: the pure function behind ``envwatch hj212 decode``."""

from envwatch.hj212 import decode_line
from tests.hj212.hj212_helpers import KEY, frame, load_examples, seg

KEYS = {"ok", "crc_ok", "error", "version", "header", "cp", "factors"}


def test_ok_line() -> None:
    out = decode_line(load_examples()[0]["packet"].encode() + b"\r\n", None)
    assert set(out) == KEYS
    assert out["ok"] and out["crc_ok"] and out["error"] is None and out["version"] == "2017"
    assert out["header"] == {
        "QN": "20160801085857223", "ST": "32", "CN": "1062", "PW": "100000", "MN": "010000A8900016F000169DC0", "Flag": "5",
    }  # fmt: skip
    assert out["cp"] == {"RtdInterval": "30"} and out["factors"] == {}


def test_only_standard_header_fields_in_standard_order() -> None:
    out = decode_line(frame(seg(Vendor="x", RF="1", PNO="1", PNUM="2", Flag="11")), None)
    assert list(out["header"]) == ["QN", "ST", "CN", "PW", "MN", "Flag", "PNUM", "PNO", "RF"]


def test_encrypted_with_and_without_key() -> None:
    line = load_examples()[3]["packet"].encode()
    good = decode_line(line, KEY)
    assert good["ok"] and good["version"] == "2025" and good["factors"]["a01014"]["Avg"] == "3.211"
    bad = decode_line(line, None)
    assert not bad["ok"] and bad["error"].startswith("decrypt_failed: ")
    assert bad["header"]["MN"] == "010000A8900016F000169DC0" and bad["cp"] == {}


def test_bad_crc_still_shows_the_content() -> None:
    line = frame(seg(), crc="FFFF")
    out = decode_line(line, None)
    assert not out["ok"] and not out["crc_ok"] and out["error"].startswith("bad_crc: CRC FFFF does not match")
    assert out["factors"] == {"a21026": {"Rtd": "12.3", "Flag": "N"}} and out["version"] == "2017"


def test_garbage_line() -> None:
    out = decode_line(b"hello world\n", None)
    assert set(out) == KEYS and not out["ok"] and out["error"].startswith("malformed: ")
    assert out["version"] is None and out["header"] == {}
    assert decode_line(b"", None)["ok"] is False
