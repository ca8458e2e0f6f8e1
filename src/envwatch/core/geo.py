"""Where a field entry was made (GPS 签到): the great-circle distance from the outlet or sampling point.

WGS-84 latitude and longitude in decimal degrees (what a phone's geolocation gives); the distance by the
haversine formula on a sphere of the mean Earth radius (IUGG, 6,371,008.8 m). Over the few hundred metres
that matter here the spherical model is off by less than 0.5 %, far below a phone's GPS error.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Literal

from envwatch.core.errors import InvalidInput

EARTH_RADIUS_M = 6_371_008.8
OnSite = Literal["yes", "no", "unknown"]


def check_position(latitude: Decimal, longitude: Decimal) -> None:
    """InvalidInput unless the pair is a position on Earth (latitude −90..90, longitude −180..180)."""
    if not latitude.is_finite() or not -90 <= latitude <= 90:
        raise InvalidInput(f"latitude {latitude} is not between -90 and 90 degrees")
    if not longitude.is_finite() or not -180 <= longitude <= 180:
        raise InvalidInput(f"longitude {longitude} is not between -180 and 180 degrees")


def distance_m(lat1: Decimal, lon1: Decimal, lat2: Decimal, lon2: Decimal) -> int:
    """The great-circle distance between two WGS-84 points, in whole metres (rounded half up)."""
    for lat, lon in ((lat1, lon1), (lat2, lon2)):
        check_position(lat, lon)
    p1, p2 = math.radians(float(lat1)), math.radians(float(lat2))
    dp = p2 - p1
    dl = math.radians(float(lon2) - float(lon1))
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    metres = 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))
    return int(Decimal(repr(metres)).to_integral_value(rounding="ROUND_HALF_UP"))


def on_site(distance: int | None, max_distance: int) -> OnSite:
    """``yes`` within ``max_distance`` metres (the limit itself included), ``no`` farther, ``unknown``
    without a distance (no position given, or the outlet has none registered)."""
    if distance is None:
        return "unknown"
    return "yes" if distance <= max_distance else "no"
