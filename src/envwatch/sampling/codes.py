"""Sample codes (样品唯一性标识码): readable, unique, unguessable, self-checking.

Format ``RRRRRR-AAAA-YYMMDD-NNNN-XXXXXX-C``:

- ``RRRRRR`` the agency's region code (行政区划, 6 digits), ``AAAA`` the agency's short code (2–8 of A–Z 0–9),
  ``YYMMDD`` the China day of issue: a person reads where and when the sample comes from;
- ``NNNN`` the sequence of that agency that day, from 0001 (more digits past 9999): counts samples;
- ``XXXXXX`` random Crockford base32 characters (``secrets``; setting ``sampling_code_random_chars``, 30 bits
  at six): the code cannot be guessed from a neighbour's, so a forged label is not found by the verification
  page;
- ``C`` an ISO/IEC 7064 MOD 37,36 check character over all the other characters (python-stdnum): a mistyped
  or misread code is refused before any lookup (every single wrong character; nearly all swaps of two
  neighbours, about 0.2 % slip through; a dash moved one place is caught by the shape while the sequence has
  four digits with a leading zero).

Uniqueness rests on the database: ``(agency_id, issue_day, seq)`` and ``code`` are unique, and the sequence
comes from a counter row bumped in the issuing transaction (see ``sampling.issue``).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import date

from stdnum.iso7064 import mod_37_36

from envwatch.core.errors import InvalidInput

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # no I, L, O, U: nothing to misread
CHECK_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
AGENCY_CODE = re.compile(r"\A[A-Z0-9]{2,8}\Z")  # \Z: "$" would let a trailing newline through
# re.ASCII: a bare \d also matches other scripts' digits (全角 "３", Arabic-Indic "٣"), which the check
# character's alphabet does not know; such text is not a code.
_CODE = re.compile(
    r"^(?P<region>\d{6})-(?P<agency>[A-Z0-9]{2,8})-(?P<day>\d{6})-(?P<seq>\d{4,})-"
    rf"(?P<random>[{CROCKFORD}]{{4,12}})-(?P<check>[0-9A-Z])$",
    re.ASCII,
)


@dataclass(frozen=True, slots=True)
class SampleCode:
    region_code: str
    agency_code: str
    day: date
    seq: int
    random: str

    @property
    def body(self) -> str:
        return f"{self.region_code}-{self.agency_code}-{self.day:%y%m%d}-{self.seq:04d}-{self.random}"

    def __str__(self) -> str:
        return f"{self.body}-{check_character(self.body)}"


def check_character(body: str) -> str:
    """The MOD 37,36 check character of a code body (dashes ignored)."""
    return str(mod_37_36.calc_check_digit(body.replace("-", ""), alphabet=CHECK_ALPHABET))


def random_part(length: int) -> str:
    return "".join(secrets.choice(CROCKFORD) for _ in range(length))


def new_code(region_code: str, agency_code: str, day: date, seq: int, random_chars: int) -> SampleCode:
    if not re.fullmatch(r"[0-9]{6}", region_code):
        raise InvalidInput(f"region code {region_code!r} must be 6 digits (GB/T 2260)")
    if not AGENCY_CODE.match(agency_code):
        raise InvalidInput(f"agency code {agency_code!r} must be 2 to 8 of A-Z and 0-9")
    if seq < 1:
        raise InvalidInput(f"sequence {seq} must be at least 1")
    return SampleCode(region_code, agency_code, day, seq, random_part(random_chars))


def normalise(text: str) -> str:
    """What a scanner or a person typed, as a code: trimmed, upper case; a verification URL gives its code."""
    text = text.strip()
    if "/" in text:  # a QR code read by a general scanner app gives the whole URL
        text = text.rstrip("/").rsplit("/", 1)[-1]
    return text.upper()


def parse(text: str) -> SampleCode:
    """The code in ``text``; InvalidInput saying what is wrong (shape, date, check character)."""
    code = normalise(text)
    match = _CODE.match(code)
    if match is None:
        raise InvalidInput(
            f"{code!r} is not a sample code (expected RRRRRR-AAAA-YYMMDD-NNNN-XXXXXX-C, e.g. "
            "330302-WZJC-261123-0042-7KQ9XM-T)"
        )
    body = code.rsplit("-", 1)[0]
    expected = check_character(body)
    if match["check"] != expected:
        raise InvalidInput(f"{code!r}: the check character does not match (mistyped or misread code)")
    seq = int(match["seq"])
    if match["seq"] != f"{seq:04d}":
        # the check character skips the dashes, so a dash moved one place ("0042-7KQ9XM" typed as
        # "00427-KQ9XM") keeps it; issued codes write the sequence in 4 digits, more only past 9999
        raise InvalidInput(
            f"{code!r}: the sequence {match['seq']} is not written as in issued codes (mistyped)"
        )
    day = match["day"]
    try:
        issued = date(2000 + int(day[:2]), int(day[2:4]), int(day[4:]))
    except ValueError:
        raise InvalidInput(f"{code!r}: {day} is not a date (YYMMDD)") from None
    return SampleCode(match["region"], match["agency"], issued, seq, match["random"])
