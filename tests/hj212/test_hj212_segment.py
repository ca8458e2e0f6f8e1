"""Data segment parsing: the field quirks seen in real traffic, and the formatting inverse."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envwatch.hj212 import ErrorKind, HJ212Error, parse_segment
from envwatch.hj212.decode import _cp_start
from envwatch.hj212.segment import (
    _parse_cp_items,
    _parse_cp_plain,
    format_cp,
    format_segment,
    peek_header,
    split_segment,
)

CASES = [
    pytest.param(
        "QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&",
        {
            "QN": "20160801085857223",
            "ST": "32",
            "CN": "1062",
            "PW": "100000",
            "MN": "010000A8900016F000169DC0",
            "Flag": "5",
        },
        {"RtdInterval": "30"},
        {},
        id="standard",
    ),
    pytest.param(
        "ST=32;CN=2011;QN=20240101000000001;MN=ABC;PW=123456;Flag=4;CP=&&DataTime=20240101000000&&",
        {"ST": "32", "CN": "2011", "QN": "20240101000000001", "MN": "ABC", "PW": "123456", "Flag": "4"},
        {"DataTime": "20240101000000"},
        {},
        id="reordered-ST-CN-QN-MN-before-PW",
    ),
    pytest.param(
        "ST=32;CN=2011;PW=123456;MN=88888880000001;CP=&&DataTime=20040516010101;011-Rtd=100.00,011-Flag=N&&",
        {"ST": "32", "CN": "2011", "PW": "123456", "MN": "88888880000001"},
        {"DataTime": "20040516010101"},
        {"011": {"Rtd": "100.00", "Flag": "N"}},
        id="2005-style-no-QN-no-Flag",
    ),
    pytest.param(
        "ST=32;CN=2011;PNO=1;PNUM=2;PW=123456;MN=X;CP=&&DataTime=20240101000000&&",
        {"ST": "32", "CN": "2011", "PNO": "1", "PNUM": "2", "PW": "123456", "MN": "X"},
        {"DataTime": "20240101000000"},
        {},
        id="PNO-before-PNUM-no-Flag",
    ),
    pytest.param(
        "QN=1;ST=31;CN=2011;PW=1;MN=X;Flag=4;Vendor=abc;CP=&&DataTime=20240101000000123;a21026-Rtd=1&&",
        {"QN": "1", "ST": "31", "CN": "2011", "PW": "1", "MN": "X", "Flag": "4", "Vendor": "abc"},
        {"DataTime": "20240101000000123"},
        {"a21026": {"Rtd": "1"}},
        id="unknown-header-field-and-17-digit-DataTime",
    ),
    pytest.param(
        "CN=2011;CP=&&DataTime=20240101000000;a21026-ValidNum=3,a21026-TotalNum=4,a21026-Rtd=-0.12;SB1-RS=1;lng=113.1&&",
        {"CN": "2011"},
        {"DataTime": "20240101000000", "lng": "113.1"},
        {"a21026": {"ValidNum": "3", "TotalNum": "4", "Rtd": "-0.12"}, "SB1": {"RS": "1"}},
        id="vendor-suffixes-negative-values",
    ),
    pytest.param(
        "CN=3020;CP=&&DataTime=20240101000000;PolId=w01018;i11001-Info=//2024-01-01 00:00 故障; code=3, retry//;i12001-Info=0&&",
        {"CN": "3020"},
        {"DataTime": "20240101000000", "PolId": "w01018"},
        {"i11001": {"Info": "//2024-01-01 00:00 故障; code=3, retry//"}, "i12001": {"Info": "0"}},
        id="Info-log-with-delimiters",
    ),
    pytest.param(
        "CN=3020;CP=&&i21001-Info=//see http://x/y//&&",
        {"CN": "3020"},
        {},
        {"i21001": {"Info": "//see http://x/y//"}},
        id="Info-containing-double-slash",
    ),
    pytest.param(
        "CN=2011;MN=站点一;CP=&&DataTime=20240101000000;a21026-Info=二氧化硫正常;;&&",
        {"CN": "2011", "MN": "站点一"},
        {"DataTime": "20240101000000"},
        {"a21026": {"Info": "二氧化硫正常"}},
        id="chinese-text-and-empty-items",
    ),
    pytest.param(
        "QN=1;CN=9014;Flag=4;CP=&&&&", {"QN": "1", "CN": "9014", "Flag": "4"}, {}, {}, id="empty-cp"
    ),
    pytest.param("QN=1;CN=9014", {"QN": "1", "CN": "9014"}, {}, {}, id="no-cp-tolerated"),
    pytest.param(
        "CP=&&QnRtn=1&&;QN=1;CN=9011", {"QN": "1", "CN": "9011"}, {"QnRtn": "1"}, {}, id="cp-not-last"
    ),
    pytest.param(
        "QN=1;CN=2011;;CP=&&a-b-Rtd=1,x-Flag=&&;",
        {"QN": "1", "CN": "2011"},
        {},
        {"a-b": {"Rtd": "1"}, "x": {"Flag": ""}},
        id="code-with-dash-empty-value-trailing-semicolon",
    ),
    pytest.param(
        "CN=2011;CP=&&DataTime=1;a-Rtd=1;DataTime=1&&",
        {"CN": "2011"},
        {"DataTime": "1"},
        {"a": {"Rtd": "1"}},
        id="identical-duplicate-accepted",
    ),
]


@pytest.mark.parametrize(("segment", "header", "cp", "factors"), CASES)
def test_parse_segment(
    segment: str, header: dict[str, str], cp: dict[str, str], factors: dict[str, dict[str, str]]
) -> None:
    assert parse_segment(segment) == (header, cp, factors)


@pytest.mark.parametrize(
    ("segment", "fragment"),
    [
        ("QN=1;CN;CP=&&&&", "not key=value"),
        ("QN=1;CN=1;CN=2;CP=&&&&", "appears twice"),
        ("CN=2011;CP=&&DataTime=1;DataTime=2&&", "appears twice with different values"),
        ("CN=2011;CP=&&a-Rtd=1,a-Rtd=2&&", "appears twice with different values"),
        ("CN=2011;CP=&&Rtd&&", "not key=value"),
        ("CN=2011;CP=&&-Rtd=1&&", "not code-Field"),
        ("CN=2011;CP=&&a-=1&&", "not code-Field"),
        ("CN=2011;CP=DataTime=1", "not wrapped"),
        ("CN=2011;CP=&&DataTime=1", "not closed"),
        ("CN=2011;CP=&&DataTime=1&&junk", "after the closing"),
    ],
)
def test_malformed_segments(segment: str, fragment: str) -> None:
    with pytest.raises(HJ212Error) as info:
        parse_segment(segment)
    assert fragment in info.value.reason
    assert info.value.kind.value == "malformed"


def test_split_segment_keeps_info_containing_cp_marker() -> None:
    head, region = split_segment("CN=3020;CP=&&i1-Info=//QN=1;CP=&&x&&;y//&&")
    assert head == "CN=3020" and region == "i1-Info=//QN=1;CP=&&x&&;y//"


def test_peek_header_never_raises() -> None:
    assert peek_header("QN=1;MN=A;junk;CP=&&broken") == {"QN": "1", "MN": "A"}
    assert peek_header("\x00\xff;;==;") == {}


def test_format_roundtrip_and_order() -> None:
    header = {"Flag": "5", "MN": "M", "QN": "1", "X": "y", "CN": "2011", "RF": "1", "PNO": "1", "PNUM": "2"}
    region = format_cp({"DataTime": "20240101000000"}, {"a21026": {"Rtd": "1.0", "Info": "//a;b,c=d//"}})
    segment = format_segment(header, region)
    assert segment.startswith("QN=1;CN=2011;MN=M;Flag=5;PNUM=2;PNO=1;RF=1;X=y;CP=&&DataTime=")
    assert parse_segment(segment) == (
        {"QN": "1", "CN": "2011", "MN": "M", "Flag": "5", "PNUM": "2", "PNO": "1", "RF": "1", "X": "y"},
        {"DataTime": "20240101000000"},
        {"a21026": {"Rtd": "1.0", "Info": "//a;b,c=d//"}},
    )


@pytest.mark.parametrize(
    ("cp", "factors"),
    [
        ({"a-Rtd": "1"}, {}),
        ({"Data;Time": "1"}, {}),
        ({"DataTime": "1;2"}, {}),
        ({"DataTime": "a\r\n"}, {}),
        ({}, {"a": {"Rtd": "1,2"}}),
        ({}, {"a": {"R-td": "1"}}),
        ({}, {"": {"Rtd": "1"}}),
        ({}, {"a": {"Info": "//x//;y"}}),
    ],
)
def test_format_cp_rejects_unwritable(cp: dict[str, str], factors: dict[str, dict[str, str]]) -> None:
    with pytest.raises(ValueError):
        format_cp(cp, factors)


@pytest.mark.parametrize("header", [{"CP": "x"}, {"QN": "1;2"}, {"Q=N": "1"}, {"MN": "a&&b"}, {"PW": "a\n"}])
def test_format_segment_rejects_unwritable(header: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        format_segment(header, "")


# --- the fast path of parse_cp agrees with the general one ------------------------------------------


def _outcome(fn, region: str):  # type: ignore[no-untyped-def]
    try:
        return fn(region)
    except HJ212Error as exc:
        return ("error", exc.kind)


@given(
    st.lists(
        st.sampled_from(["a21026", "-", "Rtd", "=", ";", ",", "1.5", "DataTime", "x", "", "==", "-Flag"]),
        max_size=25,
    )
)
def test_plain_and_item_parsers_agree(parts: list[str]) -> None:
    region = "".join(parts)
    assert _outcome(_parse_cp_plain, region) == _outcome(_parse_cp_items, region)


# How the CP area used to be found (a regex); the find-based versions must find it at the same place.
_CP_START = re.compile(r"(?:^|;)CP=&&")


def _split_segment_by_regex(segment: str) -> tuple[str, str | None]:
    match = _CP_START.search(segment)
    if match is None:
        if re.search(r"(?:^|;)CP=", segment):
            raise HJ212Error(ErrorKind.MALFORMED, "not wrapped")
        return segment, None
    region_end = segment.rfind("&&")
    if region_end < match.end():
        raise HJ212Error(ErrorKind.MALFORMED, "not closed")
    rest = segment[region_end + 2 :]
    if rest and not rest.startswith(";"):
        raise HJ212Error(ErrorKind.MALFORMED, "text after")
    head = segment[: match.start()]
    return (f"{head}{rest}" if head else rest.lstrip(";")), segment[match.end() : region_end]


@given(
    st.lists(
        st.sampled_from(["CP=&&", ";", "CP=", "&&", "&", "a=1", "CP", "=&&", ";CP=&&", "C"]), max_size=12
    )
)
def test_the_cp_area_is_found_where_the_regex_found_it(parts: list[str]) -> None:
    segment = "".join(parts)
    match = _CP_START.search(segment)
    assert _cp_start(segment.encode()) == (-1 if match is None else match.end())
    assert _outcome(split_segment, segment) == _outcome(_split_segment_by_regex, segment)
