"""Sample codes (样品唯一性标识码): format, parsing, the check character, normalising what a scanner gives."""

from __future__ import annotations

import random
import re
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envwatch.core.errors import InvalidInput
from envwatch.sampling.codes import (
    CHECK_ALPHABET,
    CROCKFORD,
    SampleCode,
    check_character,
    new_code,
    normalise,
    parse,
)
from tests.sampling.conftest import mistyped

SHAPE = re.compile(r"^\d{6}-[A-Z0-9]{2,8}-\d{6}-\d{4,}-[0-9A-HJKMNP-TV-Z]{4,12}-[0-9A-Z]$", re.ASCII)
DAY = date(2026, 11, 23)


def code_with(body: str) -> str:
    """``body`` with its correct check character."""
    return f"{body}-{check_character(body)}"


def example(seq: int = 42, random: str = "7KQ9XM", agency: str = "WZJC") -> str:
    return str(SampleCode("330302", agency, DAY, seq, random))


def test_format_reads_where_when_and_which() -> None:
    code = new_code("330302", "WZJC", DAY, 42, 6)
    text = str(code)
    assert SHAPE.match(text), text
    region, agency, day, seq, random, check = text.split("-")
    assert (region, agency, day, seq) == ("330302", "WZJC", "261123", "0042")
    assert len(random) == 6 and set(random) <= set(CROCKFORD)
    assert check == check_character(code.body) and text == f"{code.body}-{check}"


def test_sequence_past_four_digits_and_random_length() -> None:
    code = new_code("330302", "WZJC", DAY, 12345, 12)
    assert str(code).split("-")[3] == "12345"
    assert len(code.random) == 12
    assert parse(str(code)) == code


def test_known_check_character() -> None:
    # ISO/IEC 7064 MOD 37,36 over "330302WZJC26112300427KQ9XM", worked out with python-stdnum's reference
    assert check_character("330302-WZJC-261123-0042-7KQ9XM") == "T"
    assert check_character("330302WZJC26112300427KQ9XM") == "T"  # dashes do not count
    assert str(SampleCode("330302", "WZJC", DAY, 42, "7KQ9XM")) == "330302-WZJC-261123-0042-7KQ9XM-T"


@pytest.mark.parametrize(
    ("region", "agency", "seq", "reason"),
    [
        ("33030", "WZJC", 1, "6 digits"),
        ("33030A", "WZJC", 1, "6 digits"),
        ("３３０３０２", "WZJC", 1, "6 digits"),  # full-width digits are not the code's digits
        ("330302", "W", 1, "2 to 8"),
        ("330302", "WZJCWZJCW", 1, "2 to 8"),
        ("330302", "wzjc", 1, "2 to 8"),
        ("330302", "WZ-J", 1, "2 to 8"),
        ("330302", "WZJC\n", 1, "2 to 8"),
        ("330302", "WZJC", 0, "at least 1"),
    ],
)
def test_new_code_refuses_bad_parts(region: str, agency: str, seq: int, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        new_code(region, agency, DAY, seq, 6)


codes = st.builds(
    SampleCode,
    region_code=st.from_regex(r"\A[0-9]{6}\Z"),
    agency_code=st.from_regex(r"\A[A-Z0-9]{2,8}\Z"),
    day=st.dates(date(2000, 1, 1), date(2099, 12, 31)),
    seq=st.integers(1, 10**6),
    random=st.text(CROCKFORD, min_size=4, max_size=12),
)


@given(codes)
def test_parse_round_trip(code: SampleCode) -> None:
    assert parse(str(code)) == code
    assert parse(f"  {str(code).lower()}\n") == code


def _every_substitution(text: str) -> list[str]:
    alphabet = CHECK_ALPHABET + "-_ .:/" + "a" + "Ｏ٣"
    out = []
    for i, original in enumerate(text):
        for c in alphabet:
            changed = text[:i] + c + text[i + 1 :]
            if c != original and normalise(changed) != text:
                out.append(changed)
    return out


@given(codes)
def test_every_single_character_substitution_is_caught(code: SampleCode) -> None:
    text = str(code)
    for changed in _every_substitution(text):
        with pytest.raises(InvalidInput):
            parse(changed)


def test_substitutions_are_caught_by_the_check_character_where_the_shape_holds() -> None:
    text = example()
    caught_by_check = 0
    for changed in _every_substitution(text):
        with pytest.raises(InvalidInput) as refused:
            parse(changed)
        if "check character" in refused.value.message:
            caught_by_check += 1
    # 25 body characters: digits 9 others each, letters 35 (Crockford: 31), plus 35 other check characters
    assert caught_by_check > 25 * 9


def _transpositions(text: str) -> list[tuple[int, str]]:
    return [
        (i, text[:i] + text[i + 1] + text[i] + text[i + 2 :])
        for i in range(len(text) - 1)
        if text[i] != text[i + 1]
    ]


def test_nearly_all_adjacent_transpositions_are_caught() -> None:
    """MOD 37,36 is an ISO 7064 hybrid system: every single substitution is caught (above), adjacent
    transpositions nearly always (about 0.2 % slip through, e.g. "000101" typed "001001")."""
    rng = random.Random(7064)
    swaps = slipped = 0
    for _ in range(500):
        code = new_code(
            "".join(rng.choices("0123456789", k=6)),
            "".join(rng.choices(CHECK_ALPHABET, k=rng.randint(2, 8))),
            date(2000, 1, 1) + timedelta(days=rng.randint(0, 36_000)),
            rng.randint(1, 999),
            6,
        )
        for _, swapped in _transpositions(str(code)):
            swaps += 1
            try:
                parse(swapped)
            except InvalidInput:
                continue
            slipped += 1
    assert swaps > 10_000
    assert slipped / swaps < 0.005


@given(codes.filter(lambda c: c.seq < 1000))
def test_a_moved_dash_is_caught_below_a_thousand_codes_a_day(code: SampleCode) -> None:
    """The check character skips dashes; the shape catches a moved one (a sequence written "00427" is not
    how codes are issued). From 1000 codes a day on, "1042-7KQ9XM" typed "10427-KQ9XM" is a well-formed
    other code: the lookup then finds nothing (the random part differs)."""
    text = str(code)
    for i, swapped in _transpositions(text):
        if "-" in text[i : i + 2]:
            with pytest.raises(InvalidInput):
                parse(swapped)


def test_sequence_written_otherwise_is_refused() -> None:
    moved = "330302-WZJC-261123-00427-KQ9XM-T"  # the dash of the example moved one place right
    with pytest.raises(InvalidInput, match="sequence 00427 is not written as in issued codes"):
        parse(moved)
    with pytest.raises(InvalidInput, match="sequence 00042"):
        parse(code_with("330302-WZJC-261123-00042-7KQ9XM"))
    assert parse(code_with("330302-WZJC-261123-10042-7KQ9XM")).seq == 10042


@pytest.mark.parametrize(
    "typed",
    [
        "330302-wzjc-261123-0042-7kq9xm-t",
        "  330302-WZJC-261123-0042-7KQ9XM-T \t",
        "https://envwatch.example.gov.cn/v/330302-WZJC-261123-0042-7KQ9XM-T",
        "http://localhost:8000/v/330302-wzjc-261123-0042-7kq9xm-t/",
        "envwatch.example.gov.cn/v/330302-WZJC-261123-0042-7KQ9XM-T",
    ],
)
def test_normalise_and_parse_what_scanners_and_people_give(typed: str) -> None:
    assert normalise(typed) == "330302-WZJC-261123-0042-7KQ9XM-T"
    assert str(parse(typed)) == "330302-WZJC-261123-0042-7KQ9XM-T"


@pytest.mark.parametrize("day", ["260230", "261301", "261100", "000000", "991232"])
def test_bad_dates_are_refused_even_with_a_right_check_character(day: str) -> None:
    text = code_with(f"330302-WZJC-{day}-0042-7KQ9XM")
    with pytest.raises(InvalidInput, match=f"{day} is not a date"):
        parse(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "330302-WZJC-261123-0042-7KQ9XM",  # no check character
        "330302-WZJC-261123-042-7KQ9XM-T",  # sequence of three digits
        "330302-WZJC-261123-0042-7KQ-T",  # random part too short
        "330302-WZJC-261123-0042-7KQ9XMABCDEFG-T",  # random part too long
        "330302-WZJC-261123-0042-7KQ9XI-T",  # I is not Crockford base32
        "330302_WZJC_261123_0042_7KQ9XM_T",
        "３３０３０２-WZJC-261123-0042-7KQ9XM-T",  # full-width digits
        "330302-WZJC-261123-004٢-7KQ9XM-T",  # an Arabic-Indic digit
        "'; DROP TABLE samples; --",
    ],
)
def test_malformed_codes_say_what_a_code_looks_like(text: str) -> None:
    with pytest.raises(InvalidInput, match="expected RRRRRR-AAAA-YYMMDD-NNNN-XXXXXX-C"):
        parse(text)


def test_the_example_in_the_error_message_is_a_valid_code() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse("nonsense")
    example_code = refused.value.message.split("e.g. ", 1)[1].rstrip(")")
    assert parse(example_code).agency_code == "WZJC"


def test_wrong_check_character_says_so() -> None:
    right = example()
    wrong = mistyped(right)
    with pytest.raises(InvalidInput, match="check character does not match"):
        parse(wrong)


def test_random_part_differs_between_codes() -> None:
    randoms = [new_code("330302", "WZJC", DAY, 1, 6).random for _ in range(64)]
    # 30 bits each: 64 codes collide with probability about 2e-6
    assert len(set(randoms)) == len(randoms)
    assert all(len(r) == 6 and set(r) <= set(CROCKFORD) for r in randoms)
    # every Crockford character turns up (384 draws from 32: all missed one with probability < 1e-3)
    assert set("".join(randoms)) == set(CROCKFORD)
