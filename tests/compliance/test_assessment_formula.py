"""The assessment's formula and ranking as pure functions (SX-26): sub-scores, weights re-distributed over the
components with data, Decimal rounding, refused weights, shared ranks and the last place."""

from __future__ import annotations

from decimal import Decimal

import pytest

from envwatch.compliance.assessment import Formula, rank, score, sub_score
from envwatch.compliance.assessment_inputs import inspection_windows
from envwatch.core.errors import InvalidInput
from envwatch.core.settings import Settings

D = Decimal
DEFAULT = Formula.from_settings(Settings(_env_file=None))


def test_default_formula_is_the_settings() -> None:
    assert DEFAULT.weights == {
        "effective_rate": D(40),
        "response": D(20),
        "inspection": D(15),
        "findings": D(15),
        "satisfaction": D(10),
    }
    assert (DEFAULT.findings_per_point, DEFAULT.pass_score) == (D(2), D(60))


def test_every_component_weighted() -> None:
    values = {
        "effective_rate": D(95),
        "response": D(80),
        "inspection": D(100),
        "findings": D("1.5"),  # violations per device: 100 − 2 × 1.5 = 97
        "satisfaction": D(90),
    }
    got = score(values, DEFAULT)
    # (40·95 + 20·80 + 15·100 + 15·97 + 10·90) / 100 = 92.55
    assert got.score == D("92.55")
    assert got.parts["findings"].sub_score == D(97)
    assert got.left_out == ()
    assert all(p.counted for p in got.parts.values())


def test_a_component_without_data_is_left_out_and_its_weight_shared() -> None:
    values = {"effective_rate": D(90), "response": None, "inspection": D(60), "findings": D(0)}
    got = score(values, DEFAULT)
    # (40·90 + 15·60 + 15·100) / 70 = 85.714… → 85.71
    assert got.score == D("85.71")
    assert got.left_out == ("response", "satisfaction")
    assert not got.parts["response"].counted and got.parts["response"].sub_score is None


def test_rounding_is_half_up_to_two_places() -> None:
    formula = Formula.of({"effective_rate": 1, "inspection": 1}, 2, 60)
    # (90.005 + 90) / 2 = 90.0025 → 90.00; (90.01 + 90) / 2 = 90.005 → 90.01 (half-up, not to even)
    assert score({"effective_rate": D("90.005"), "inspection": D(90)}, formula).score == D("90.00")
    assert score({"effective_rate": D("90.01"), "inspection": D(90)}, formula).score == D("90.01")
    assert score({"effective_rate": D("90.01"), "inspection": D(90)}, formula).score.as_tuple().exponent == -2  # type: ignore[union-attr]


def test_findings_sub_score_floors_at_zero_and_follows_the_setting() -> None:
    assert sub_score("findings", D(60), D(2)) == D(0)
    assert sub_score("findings", D(10), D(2)) == D(80)
    assert sub_score("findings", D(10), D(5)) == D(50)
    assert sub_score("effective_rate", D("100.5"), D(2)) == D(100)
    per5 = Formula.of({"findings": 1}, 5, 60)
    assert score({"findings": D(3)}, per5).score == D(85)
    assert score({"findings": D(3)}, DEFAULT).score == D(94)


def test_no_data_no_score() -> None:
    got = score({"effective_rate": None}, DEFAULT)
    assert got.score is None and len(got.left_out) == 5


def test_a_zero_weight_does_not_count() -> None:
    formula = Formula.of({"effective_rate": 1, "response": 0}, 2, 60)
    got = score({"effective_rate": D(50), "response": D(100)}, formula)
    assert got.score == D(50) and not got.parts["response"].counted and got.left_out == ()


def test_unknown_component_or_bad_weight_refused() -> None:
    with pytest.raises(InvalidInput, match=r"unknown component 'effective'.*effective_rate, response"):
        Formula.of({"effective": 40}, 2, 60)
    with pytest.raises(InvalidInput, match="weight of response is negative"):
        Formula.of({"response": -1}, 2, 60)
    with pytest.raises(InvalidInput, match="no component a weight above 0"):
        Formula.of({"response": 0}, 2, 60)
    with pytest.raises(InvalidInput, match="not a number"):
        Formula.of({"response": "much"}, 2, 60)
    with pytest.raises(InvalidInput, match="unknown assessment component"):
        score({"speed": D(1)}, DEFAULT)
    with pytest.raises(InvalidInput, match="unknown component 'x'"):
        Formula.from_settings(Settings(_env_file=None, assessment_weights={"x": 1}))


def test_ties_share_a_rank_and_the_order_is_by_name() -> None:
    places, ranked = rank(
        [(1, "丙", D(80)), (2, "甲", D(90)), (3, "乙", D(80)), (4, "丁", None), (5, "戊", D(70))]
    )
    assert ranked == 4
    assert {op: (p.rank, p.last_place) for op, p in places.items()} == {
        2: (1, False),
        1: (2, False),
        3: (2, False),
        5: (4, True),
        4: (None, False),
    }


def test_every_operator_with_the_lowest_score_is_last() -> None:
    places, _ = rank([(1, "a", D(90)), (2, "b", D(60)), (3, "c", D(60))])
    assert [places[i].last_place for i in (1, 2, 3)] == [False, True, True]
    assert (places[2].rank, places[3].rank) == (2, 2)


def test_no_last_place_alone_or_when_all_tie() -> None:
    places, ranked = rank([(1, "a", D(50)), (2, "b", None)])
    assert ranked == 1 and not places[1].last_place
    places, _ = rank([(1, "a", D(50)), (2, "b", D(50))])
    assert not places[1].last_place and not places[2].last_place
    assert rank([]) == ({}, 0)


def test_inspection_windows() -> None:
    from datetime import date

    q3 = (date(2026, 7, 1), date(2026, 9, 30))
    windows = inspection_windows(*q3, 7, date(2026, 11, 22))
    assert len(windows) == 13 and windows[0] == (date(2026, 7, 1), date(2026, 7, 7))
    assert windows[-1] == (date(2026, 9, 23), date(2026, 9, 29))  # Sep 30 alone is not judged
    # a quarter under way: only the windows already over
    assert len(inspection_windows(*q3, 7, date(2026, 7, 15))) == 2
    assert len(inspection_windows(*q3, 10, date(2026, 11, 22))) == 9
