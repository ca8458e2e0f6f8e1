"""Code tables: loaded from the data files, versions respected, files consistent."""

import json
from importlib import resources

import pytest

from envwatch.hj212 import ProtocolVersion, codes


def test_st() -> None:
    entry = codes.st("31")
    assert entry is not None and entry.category == "pollution_source" and "2005" in entry.versions
    assert codes.st("91").category == "system"  # type: ignore[union-attr]
    assert codes.st("39").versions == frozenset({"2017", "2025"})  # type: ignore[union-attr]
    assert codes.st("80") is None


def test_cn_by_version() -> None:
    assert codes.cn("2011").kind == "upload"  # type: ignore[union-attr]
    assert codes.cn("9015").kind == "heartbeat"  # type: ignore[union-attr]
    assert codes.cn("9015", ProtocolVersion.V2017) is None
    assert codes.cn("1001").en == "upload data-logger hardware identifiers"  # type: ignore[union-attr]
    assert codes.cn("1001", ProtocolVersion.V2005).cp == ("WarnTime",)  # type: ignore[union-attr]
    assert codes.cn("3014", ProtocolVersion.V2017).zh == "比对采样"  # type: ignore[union-attr]
    assert codes.cn("8013") is None


@pytest.mark.parametrize(
    ("cn", "expected"),
    [
        ("2011", True),
        ("2999", True),
        ("1014", True),
        ("3020", True),
        ("9014", False),
        ("1011", False),
        ("x", False),
    ],
)
def test_must_encrypt(cn: str, expected: bool) -> None:
    assert codes.must_encrypt(cn) is expected


def test_data_flags() -> None:
    assert codes.data_flag("N").en == "normal"  # type: ignore[union-attr]
    assert codes.data_flag("B").versions == frozenset({"2017", "2025"})  # type: ignore[union-attr]
    assert codes.data_flag("B", ProtocolVersion.V2005) is None
    assert codes.data_flag("P", ProtocolVersion.V2005).en == "power failure"  # type: ignore[union-attr]
    assert codes.data_flag("F", ProtocolVersion.V2005).en == "emission source stopped"  # type: ignore[union-attr]
    assert codes.data_flag("F").en == "instrument stopped"  # type: ignore[union-attr]


def test_return_codes() -> None:
    assert codes.qn_rtn(1).en == "ready to execute"  # type: ignore[union-attr]
    assert codes.qn_rtn("9").en == "CRC error"  # type: ignore[union-attr]
    assert codes.exe_rtn(100).en == "no data"  # type: ignore[union-attr]
    assert codes.exe_rtn("x") is None and codes.qn_rtn(42) is None


def test_pollutants_2005_equivalents() -> None:
    cod = codes.pollutant("w01018")
    assert cod is not None and cod.zh == "化学需氧量" and cod.unit == "mg/L" and "011" in cod.codes_2005
    assert codes.pollutant("011") == cod
    assert codes.pollutant_2017_for("011") == "w01018"
    assert codes.pollutant_2017_for("02") == "a21026"
    assert codes.pollutant_2017_for("B02") == "a00000"
    assert codes.pollutant("zzz") is None and codes.pollutant_2017_for("w01018") is None
    assert len(codes.pollutants()) >= 50


def test_field_names() -> None:
    assert codes.field_suffix("ZsAvg").en == "converted mean"  # type: ignore[union-attr]
    assert codes.cp_key("DataTime") is not None and codes.cp_key("Rtd") is None


def _data(name: str) -> dict[str, object]:
    text = resources.files("envwatch.hj212").joinpath("data", name).read_text(encoding="utf-8")
    data: dict[str, object] = json.loads(text)
    return data


@pytest.mark.parametrize(
    "name", ["st.json", "cn.json", "data_flags.json", "return_codes.json", "pollutants.json", "fields.json"]
)
def test_data_files_name_their_source(name: str) -> None:
    assert "source" in _data(name)


def test_data_files_have_no_conflicting_entries() -> None:
    versions = {"2005", "2017", "2025"}
    for table, key in (("cn.json", "codes"), ("data_flags.json", "flags")):
        seen: set[tuple[str, str]] = set()
        for row in _data(table)[key]:  # type: ignore[attr-defined]
            code = row.get("code") or row["flag"]
            assert set(row["versions"]) <= versions
            for version in row["versions"]:
                assert (code, version) not in seen, (table, code, version)
                seen.add((code, version))
    old_codes = [old for row in _data("pollutants.json")["pollutants"] for old in row["codes_2005"]]  # type: ignore[index, union-attr]
    assert len(old_codes) == len(set(old_codes))
