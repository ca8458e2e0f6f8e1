"""GPS sign-in distances (haversine) and the on-site judgement."""

from __future__ import annotations

from decimal import Decimal

import pytest

from envwatch.core.errors import InvalidInput
from envwatch.core.geo import distance_m, on_site

D = Decimal


def test_same_point_is_zero() -> None:
    assert distance_m(D("30.2741"), D("120.1551"), D("30.2741"), D("120.1551")) == 0


def test_one_degree_of_latitude() -> None:
    # 2πR/360 = 111,195.08 m on the mean-radius sphere
    assert distance_m(D(30), D(120), D(31), D(120)) == 111195


def test_known_city_distance() -> None:
    # 杭州 (30.2741 N, 120.1551 E) to 上海 人民广场 (31.2304 N, 121.4737 E): about 164 km
    metres = distance_m(D("30.2741"), D("120.1551"), D("31.2304"), D("121.4737"))
    assert 163_000 < metres < 166_000


def test_a_few_hundred_metres_on_site() -> None:
    # 0.0045° of latitude ≈ 500.4 m
    assert distance_m(D("30.0000"), D("120.0000"), D("30.0045"), D("120.0000")) == 500
    # across the antimeridian, the short way round
    assert distance_m(D(0), D("179.9999"), D(0), D("-179.9999")) == 22


def test_symmetric() -> None:
    a = (D("36.0611"), D("103.8343"))
    b = (D("37.8706"), D("112.5489"))
    assert distance_m(*a, *b) == distance_m(*b, *a)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((D(91), D(0), D(0), D(0)), "latitude 91 is not between -90 and 90 degrees"),
        ((D(0), D(0), D(0), D("180.5")), "longitude 180.5 is not between -180 and 180 degrees"),
        ((D("NaN"), D(0), D(0), D(0)), "latitude NaN is not between -90 and 90 degrees"),
    ],
)
def test_positions_off_earth_are_refused(args: tuple[Decimal, ...], message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        distance_m(*args)
    assert caught.value.message == message


@pytest.mark.parametrize(("distance", "verdict"), [(0, "yes"), (500, "yes"), (501, "no"), (None, "unknown")])
def test_on_site(distance: int | None, verdict: str) -> None:
    assert on_site(distance, 500) == verdict
