"""HJ 212 code tables (ST, CN, data flags, QnRtn/ExeRtn, pollutant codes, field names).

The tables are data files in ``envwatch/hj212/data/`` (JSON, one per table, each naming its
source); this module only loads and indexes them, once, on first use. Nothing is copied by hand
into code.

A code can mean different things in different versions (CN 1001 was "set alarm time" in 2005 and
is "upload data-logger hardware IDs" in 2025), so entries carry the versions they belong to and the
lookups take an optional version; without one the newest meaning wins.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Protocol, TypeVar

from envwatch.hj212.version import ProtocolVersion

__all__ = [
    "CnCode",
    "DataFlag",
    "FieldName",
    "Pollutant",
    "ReturnCode",
    "StCode",
    "cn",
    "cp_key",
    "data_flag",
    "exe_rtn",
    "field_suffix",
    "must_encrypt",
    "pollutant",
    "pollutant_2017_for",
    "pollutants",
    "qn_rtn",
    "st",
]

_NEWEST_FIRST = ("2025", "2017", "2005")


@dataclass(frozen=True, slots=True)
class StCode:
    code: str
    zh: str
    en: str
    category: str | None
    versions: frozenset[str]


@dataclass(frozen=True, slots=True)
class CnCode:
    code: str
    zh: str
    en: str
    direction: str  # host_to_device | device_to_host | both
    kind: str  # request | upload | notify | reply | heartbeat
    cp: tuple[str, ...]  # typical CP keys ("-Rtd" = a factor field suffix)
    versions: frozenset[str]


@dataclass(frozen=True, slots=True)
class DataFlag:
    flag: str
    zh: str
    en: str
    versions: frozenset[str]


@dataclass(frozen=True, slots=True)
class ReturnCode:
    code: int
    zh: str
    en: str
    versions: frozenset[str]


@dataclass(frozen=True, slots=True)
class Pollutant:
    code: str  # the 2017 (HJ 524/525) code
    codes_2005: tuple[str, ...]
    zh: str
    en: str
    category: str  # water | gas | air | noise
    unit: str | None
    amount_unit: str | None  # unit of -Cou
    data_type: str | None  # e.g. N5.2


@dataclass(frozen=True, slots=True)
class FieldName:
    name: str
    zh: str
    en: str


def _load(name: str) -> dict[str, Any]:
    text = resources.files("envwatch.hj212").joinpath("data", name).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


class _Versioned(Protocol):
    @property
    def versions(self) -> frozenset[str]: ...


_T = TypeVar("_T", bound=_Versioned)


def _pick(entries: list[_T], version: ProtocolVersion | None) -> _T | None:
    """The entry for ``version``, or the newest one when no version is given."""
    if version is not None:
        return next((e for e in entries if version.value in e.versions), None)
    for wanted in _NEWEST_FIRST:
        for entry in entries:
            if wanted in entry.versions:
                return entry
    return entries[0] if entries else None


@cache
def _st() -> tuple[dict[str, StCode], list[tuple[str, str, str]]]:
    data = _load("st.json")
    ranges = [(r["from"], r["to"], r["category"]) for r in data["ranges"]]
    table = {}
    for row in data["codes"]:
        category = next((c for lo, hi, c in ranges if lo <= row["code"] <= hi), None)
        table[row["code"]] = StCode(row["code"], row["zh"], row["en"], category, frozenset(row["versions"]))
    return table, ranges


def st(code: str) -> StCode | None:
    """The system code ``code`` (e.g. "31" atmospheric pollution source), None if not standard."""
    return _st()[0].get(code)


@cache
def _cn() -> tuple[dict[str, list[CnCode]], list[tuple[int, int]], frozenset[str]]:
    data = _load("cn.json")
    table: dict[str, list[CnCode]] = {}
    for row in data["codes"]:
        entry = CnCode(
            row["code"], row["zh"], row["en"], row["direction"], row["kind"], tuple(row["cp"]),
            frozenset(row["versions"]),
        )  # fmt: skip
        table.setdefault(row["code"], []).append(entry)
    rule = data["encrypt_2025"]
    return table, [(lo, hi) for lo, hi in rule["ranges"]], frozenset(rule["codes"])


def cn(code: str, version: ProtocolVersion | None = None) -> CnCode | None:
    """The command code ``code`` as defined by ``version`` (default: the newest definition)."""
    return _pick(_cn()[0].get(code, []), version)


def must_encrypt(code: str) -> bool:
    """HJ 212-2025 §6.4.4: packets with this CN shall be SM4-encrypted (2000-2999, 1014, 3020)."""
    _, ranges, codes = _cn()
    if code in codes:
        return True
    return code.isdigit() and any(lo <= int(code) <= hi for lo, hi in ranges)


@cache
def _flags() -> dict[str, list[DataFlag]]:
    table: dict[str, list[DataFlag]] = {}
    for row in _load("data_flags.json")["flags"]:
        table.setdefault(row["flag"], []).append(
            DataFlag(row["flag"], row["zh"], row["en"], frozenset(row["versions"]))
        )
    return table


def data_flag(flag: str, version: ProtocolVersion | None = None) -> DataFlag | None:
    """The instrument data flag (``-Flag`` value: N F M S D C T B, 2005 also P)."""
    return _pick(_flags().get(flag, []), version)


@cache
def _returns() -> tuple[dict[int, ReturnCode], dict[int, ReturnCode]]:
    data = _load("return_codes.json")

    def index(rows: list[dict[str, Any]]) -> dict[int, ReturnCode]:
        return {r["code"]: ReturnCode(r["code"], r["zh"], r["en"], frozenset(r["versions"])) for r in rows}

    return index(data["qn_rtn"]), index(data["exe_rtn"])


def _code_number(code: int | str) -> int | None:
    if isinstance(code, int):
        return code
    return int(code) if code.isascii() and code.isdigit() else None


def qn_rtn(code: int | str) -> ReturnCode | None:
    """The request-response code (``QnRtn``): 1 ready, 2 rejected, 3 PW error ..."""
    number = _code_number(code)
    return None if number is None else _returns()[0].get(number)


def exe_rtn(code: int | str) -> ReturnCode | None:
    """The execution-result code (``ExeRtn``): 1 success, 2 failed, ..., 100 no data."""
    number = _code_number(code)
    return None if number is None else _returns()[1].get(number)


@cache
def _pollutants() -> tuple[dict[str, Pollutant], dict[str, str]]:
    table: dict[str, Pollutant] = {}
    old_to_new: dict[str, str] = {}
    for row in _load("pollutants.json")["pollutants"]:
        entry = Pollutant(
            row["code"], tuple(row["codes_2005"]), row["zh"], row["en"], row["category"],
            row["unit"], row["amount_unit"], row["data_type"],
        )  # fmt: skip
        table[entry.code] = entry
        for old in entry.codes_2005:
            old_to_new[old] = entry.code
    return table, old_to_new


def pollutant(code: str) -> Pollutant | None:
    """The factor ``code`` (2017 code, or a 2005 code, which returns its 2017 entry)."""
    table, old_to_new = _pollutants()
    return table.get(code) or table.get(old_to_new.get(code, ""))


def pollutant_2017_for(old_code: str) -> str | None:
    """The 2017 code replacing the 2005 code ``old_code`` (e.g. "011" -> "w01018")."""
    return _pollutants()[1].get(old_code)


def pollutants() -> tuple[Pollutant, ...]:
    """Every pollutant in the table."""
    return tuple(_pollutants()[0].values())


@cache
def _fields() -> tuple[dict[str, FieldName], dict[str, FieldName]]:
    data = _load("fields.json")
    suffixes = {r["name"]: FieldName(r["name"], r["zh"], r["en"]) for r in data["suffixes"]}
    keys = {r["name"]: FieldName(r["name"], r["zh"], r["en"]) for r in data["cp_keys"]}
    return suffixes, keys


def field_suffix(name: str) -> FieldName | None:
    """A factor field name (the part after ``-``: Rtd, Avg, Cou, Flag, ZsAvg, Info ...)."""
    return _fields()[0].get(name)


def cp_key(name: str) -> FieldName | None:
    """A top-level CP key (DataTime, QnRtn, ExeRtn, BeginTime, RtdInterval ...)."""
    return _fields()[1].get(name)
