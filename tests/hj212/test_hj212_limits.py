"""Hostile input stays cheap: no quadratic paths a device could trigger (DESIGN: explicit limits).

The inputs are sized so that the quadratic versions these tests caught took many seconds; the
thresholds are generous so a loaded machine does not make them flaky.
"""

import contextlib
import time

import pytest

from envwatch.hj212 import Connection, HJ212Error
from envwatch.hj212.segment import parse_cp
from tests.hj212.hj212_helpers import drain


@pytest.mark.parametrize(
    "region",
    [
        "a=//x," * 11000,  # unclosed //-values: the closing search must not restart at every item
        "x" * 65000,  # no '=' at all
        "a-" * 30000 + "=1",
    ],
    ids=["unclosed-info", "no-equals", "dashes"],
)
def test_parse_cp_is_linear_on_junk(region: str) -> None:
    started = time.perf_counter()
    with contextlib.suppress(HJ212Error):
        parse_cp(region)
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    "stream",
    [b"#" * 16000, b"##9999QN=1;##" + "故".encode() * 5300, b"x" * 16000],
    ids=["hash-run", "inner-hash-chinese-wait", "garbage"],
)
def test_byte_at_a_time_is_not_quadratic(stream: bytes) -> None:
    conn = Connection(max_frame_bytes=16384)
    started = time.perf_counter()
    for index in range(len(stream)):
        conn.receive_data(stream[index : index + 1])
    conn.receive_data(b"")
    assert time.perf_counter() - started < 5.0
    assert drain(conn) and conn.buffered_bytes == 0
