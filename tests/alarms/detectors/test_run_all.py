"""run_all: every enabled detector over one device's day; switches; never raising on odd data."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from pydantic import ValidationError

from envwatch.alarms.detectors import (
    KINDS,
    DetectorThresholds,
    DeviceInputs,
    FactorLimits,
    FactorSeries,
    ParameterReading,
    run_all,
)
from envwatch.alarms.detectors.series import DeviceKind
from tests.alarms.detectors.build import MINUTE, T0, at, device_inputs, distinct, series

SO2, O2, FLOW = "a21026", "a19001", "a00000"


def busy_day() -> DeviceInputs:
    so2_hours = distinct(24, base=20.0)
    so2_hours[2:5] = [50.0, 60.0, 55.0]
    marked: list[str | None] = [None] * 24
    marked[10] = "maintenance"
    so2_hours[10] = 90.0
    o2 = distinct(24, base=9.0, spread=0.5)
    o2[15] = 20.5
    flow = distinct(24, base=100.0, spread=5.0)
    return device_inputs(
        series_=[series(SO2, distinct(24, base=20.0)), series(O2, o2), series(FLOW, flow)],
        averages=[series(SO2, so2_hours, marked=marked, valid=[m is None for m in marked])],
        limits={SO2: FactorLimits(hour_limit=35.0)},
        registered={SO2: {"i13008": 1.0}},
        reported=[ParameterReading(at(1), SO2, "i13008", 0.5)],
    )


def test_every_detector_runs_and_results_come_in_time_order() -> None:
    found = run_all(busy_day())
    assert [(d.kind, d.start) for d in found] == [
        ("parameter_changed", at(1)),
        ("exceedance", at(2)),
        ("marked_exceedance", at(10)),
        ("jump", at(14)),
        ("o2_dilution", at(15)),
    ]
    assert all(d.device_id == 1 and d.start < d.end and d.source for d in found)


def test_disabled_kinds_are_not_produced() -> None:
    no_exceedance = DetectorThresholds(enabled=frozenset(KINDS) - {"exceedance"})
    kinds = [d.kind for d in run_all(busy_day(), no_exceedance)]
    assert "exceedance" not in kinds and "marked_exceedance" in kinds
    only_o2 = DetectorThresholds(enabled=frozenset({"o2_dilution"}))
    assert [d.kind for d in run_all(busy_day(), only_o2)] == ["o2_dilution"]
    assert run_all(busy_day(), DetectorThresholds(enabled=frozenset())) == []


def test_thresholds_refuse_unknown_kinds_and_fields_and_read_json_lists() -> None:
    with pytest.raises(ValidationError, match="unknown detection kinds"):
        DetectorThresholds(enabled=frozenset({"exceedence"}))
    with pytest.raises(ValidationError):
        DetectorThresholds.model_validate({"constant_hours": 3})
    with pytest.raises(ValidationError):
        DetectorThresholds(jump_k=0)
    t = DetectorThresholds.model_validate({"enabled": ["jump"], "jump_k": "4"})
    assert t.enabled == frozenset({"jump"}) and t.jump_k == 4.0
    assert all(field.description for field in DetectorThresholds.model_fields.values())


FACTORS = ("a21026", "a19001", "a00000", "a01013", "w01001", "i33200")
odd_floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, -1.0, 1e308, -1e308, 19.5, 100.0]),
)


@st.composite
def odd_inputs(draw: st.DrawFn) -> DeviceInputs:
    step = draw(st.sampled_from([MINUTE, timedelta(minutes=5), timedelta(hours=1), timedelta(days=1)]))
    n = draw(st.one_of(st.sampled_from([60, 120]), st.integers(min_value=0, max_value=90)))
    offset = draw(st.one_of(st.just(0), st.integers(min_value=-120, max_value=120)))  # 0: the batch path
    start = T0 + timedelta(minutes=offset)
    made = []
    for factor in draw(st.lists(st.sampled_from(FACTORS), unique=True, max_size=4)):
        values = draw(hnp.arrays(np.float64, n, elements=odd_floats))
        valid = draw(hnp.arrays(np.bool_, n))
        flags = tuple(draw(st.lists(st.sampled_from(["N", "T", "F", "C", None]), min_size=n, max_size=n)))
        marked = tuple(
            draw(st.lists(st.sampled_from([None, "shutdown", "maintenance"]), min_size=n, max_size=n))
        )
        made.append(FactorSeries(1, factor, "gas", start, step, values, valid, flags, marked))
    limit = draw(odd_floats)
    limits = {
        f: FactorLimits(limit, limit, limit, limit, limit, limit) for f in FACTORS if draw(st.booleans())
    }
    value = draw(st.one_of(odd_floats, st.text(max_size=5)))
    return device_inputs(
        series_=made,
        averages=made,
        power=[s for s in made if s.factor == "i33200"],
        limits=limits,
        hours=draw(st.integers(min_value=1, max_value=30)),
        design_flow=draw(st.one_of(st.none(), odd_floats)),
        registered={"a21026": {"i13008": draw(st.one_of(odd_floats, st.text(max_size=3)))}},
        reported=[ParameterReading(T0, "a21026", "i13008", value)],
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(odd_inputs(), st.sampled_from(["gas", "water"]))
def test_random_arrays_never_raise(inputs: DeviceInputs, kind: DeviceKind) -> None:
    found = run_all(replace(inputs, kind=kind))
    for d in found:
        assert d.kind in KINDS and d.start < d.end
        assert len(d.points) <= DetectorThresholds().points_cap
