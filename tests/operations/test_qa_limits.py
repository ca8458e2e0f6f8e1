"""The QA criteria as data (operations/data/qa_limits.json) and their override by ENVWATCH_OM_QA_LIMITS."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from envwatch.core.errors import InvalidInput
from envwatch.core.settings import Settings
from envwatch.operations.qa_limits import DATA_FILE, limits_of, load_limits, merge

GAS = ("a21026", "a21002", "a19001")
WATER = ("w01018", "w21003", "w21011", "w21001")


def test_the_file_holds_the_reference_values() -> None:
    limits = load_limits()
    for factor in GAS:
        c = limits.calibration[factor]
        assert (c.zero_drift_max, c.span_drift_max) == (Decimal("2.5"), Decimal("2.5"))
        assert (c.zero_out_of_control, c.span_out_of_control) == (Decimal("5.0"), Decimal("10.0"))
    assert limits.calibration["a34013"].zero_drift_max == Decimal("2.0")
    assert limits.calibration["a01011"].zero_drift_max == Decimal("3.0")
    for factor in WATER:
        assert limits.standard_check[factor].relative_error_max == Decimal(10)
        assert limits.comparison[factor].min_pairs == 3
        assert limits.comparison[factor].kind == "water"
    so2 = limits.comparison["a21026"]
    assert so2.unit == "mg/m3" and so2.kind == "gas"
    assert [(b.label(), b.criterion, b.limit) for b in so2.bands] == [
        ("≥ 715", "relative_accuracy", Decimal(15)),
        ("≥ 143", "absolute", Decimal(57)),
        ("≥ 57", "relative", Decimal(30)),
        ("all", "absolute", Decimal(17)),
    ]
    assert [b.label() for b in limits.comparison["a34013"].bands][:2] == ["> 200", "> 100"]
    for code in ("a21002", "a19001", "a01011", "a01012", "a01014", "w01001", "w01010"):
        assert code in limits.comparison


def test_every_entry_names_its_source() -> None:
    raw = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    for table in ("calibration", "standard_check", "comparison"):
        for factor, entry in raw[table].items():
            assert entry["source"].strip(), (table, factor)
            assert "[S" in entry["source"] or "[P]" in entry["source"] or "[V" in entry["source"], factor


@pytest.mark.parametrize(
    ("reference", "band"),
    [
        (Decimal("715"), "≥ 715"),  # an inclusive bound takes its own value
        (Decimal("714.9"), "≥ 143"),
        (Decimal("143"), "≥ 143"),
        (Decimal("57"), "≥ 57"),
        (Decimal("56.99"), "all"),
        (Decimal("0"), "all"),
    ],
)
def test_bands_by_reference_value(reference: Decimal, band: str) -> None:
    assert load_limits().comparison["a21026"].band_for(reference)[1].label() == band


@pytest.mark.parametrize(
    ("reference", "band"), [(Decimal("200"), "> 100"), (Decimal("200.01"), "> 200"), (Decimal("10"), "all")]
)
def test_exclusive_bounds(reference: Decimal, band: str) -> None:
    assert load_limits().comparison["a34013"].band_for(reference)[1].label() == band


def test_override_merges_field_by_field_and_null_removes() -> None:
    over = {
        "calibration": {"a21026": {"zero_drift_max": "2.0"}, "w01018": None},
        "standard_check": {"a21026": {"relative_error_max": 5}},
        "comparison": {
            "w01018": {"min_pairs": 4},
            "a21003": {
                "kind": "gas",
                "unit": "mg/m3",
                "min_pairs": 3,
                "bands": [{"criterion": "relative", "limit": "20"}],
                "source": "[P] a province's own",
            },
        },
    }
    limits = load_limits(json.dumps(over))
    so2 = limits.calibration["a21026"]
    assert so2.zero_drift_max == Decimal("2.0") and so2.span_drift_max == Decimal("2.5")
    assert "w01018" not in limits.calibration
    assert limits.standard_check["a21026"].relative_error_max == Decimal(5)
    assert limits.comparison["w01018"].min_pairs == 4
    assert limits.comparison["w01018"].bands == load_limits().comparison["w01018"].bands
    assert limits.comparison["a21003"].bands[0].limit == Decimal(20)


def test_settings_give_the_override(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        om_qa_limits='{"calibration": {"a34013": {"zero_drift_max": 1.5}}}',
        _env_file=None,  # type: ignore[call-arg]
    )
    assert limits_of(settings).calibration["a34013"].zero_drift_max == Decimal("1.5")
    assert limits_of(Settings(data_dir=tmp_path, _env_file=None)) == load_limits()  # type: ignore[call-arg]


def test_merge_replaces_lists_whole() -> None:
    assert merge({"a": {"b": [1, 2], "c": 1}}, {"a": {"b": [3]}}) == {"a": {"b": [3], "c": 1}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "{calibration: 1}",
            "ENVWATCH_OM_QA_LIMITS is not valid JSON (line 1 column 2: Expecting property name",
        ),
        ("[1, 2]", "ENVWATCH_OM_QA_LIMITS must be a JSON object like the file qa_limits.json"),
        (
            '{"calibration": {"a21026": {"zero_drift_max": "x"}}}',
            "ENVWATCH_OM_QA_LIMITS merged over qa_limits.json does not fit: calibration.a21026.zero_drift_max: "
            "Input should be a valid decimal",
        ),
        (
            '{"calibration": {"a21026": {"zero_out_of_control": "1"}}}',
            "calibration.a21026: Value error, a loss-of-control threshold must not be below its drift criterion",
        ),
        ('{"standard_check": {"w01018": {"relative_error_max": 0}}}', "Input should be greater than 0"),
        (
            '{"comparison": {"w01018": {"bands": []}}}',
            "comparison.w01018.bands: Tuple should have at least 1 item",
        ),
        (
            '{"comparison": {"w01018": {"bands": [{"from": "1", "criterion": "absolute", "limit": "1"}]}}}',
            "the last band must have no lower bound",
        ),
        (
            '{"comparison": {"w01018": {"bands": [{"from": "1", "criterion": "relative", "limit": "1"}, '
            '{"from": "2", "criterion": "relative", "limit": "1"}, {"criterion": "absolute", "limit": "1"}]}}}',
            "bands must be listed from the highest lower bound down",
        ),
        (
            '{"comparison": {"w01018": {"bands": [{"from": "1", "above": "1", "criterion": "relative", '
            '"limit": "1"}, {"criterion": "absolute", "limit": "1"}]}}}',
            "a band has a 'from' (inclusive) or an 'above' (exclusive) bound, not both",
        ),
        (
            '{"comparison": {"w01018": {"bands": [{"criterion": "ratio", "limit": "1"}]}}}',
            "criterion: Input should be",
        ),
        ('{"calibrations": {}}', "calibrations: Extra inputs are not permitted"),
    ],
)
def test_bad_overrides_are_refused_with_the_setting_named(text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_limits(text)
    assert message in caught.value.message
