"""A small region for the supervision plan and spot-test tests (SX-22.3, SX-23), on the real registry.

NOW is 12:00 China time on 2026-11-22 (04:00 UTC). Devices, outlets and enterprises:

- 甲 (330102 杭州 上城): DA001 with device ``a1`` and DA002 with device ``a2`` (both monitored), DA003
  without a device;
- 乙 (330106 杭州 西湖): DA001 with device ``b1``;
- 丙 (330102): DW001 without a device (not monitored: on no plan);
- 丁 (440103 广州): DA001 with device ``d1`` (another city);
- 戊 (330203 宁波): DA001 with device ``e1`` (another city of the province).

So 杭州 (3301) has 2 enterprises to inspect and 3 monitoring points. ``add_enterprise`` adds one more
monitored enterprise (a device registered mid-month). ``add_month`` (tests/reports/month_world.py) gives
a device SO2 hour records for a month, for the platform's daily values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import count

from sqlalchemy import Engine

from envwatch.registry import service as svc
from envwatch.registry.models import EnterpriseIn, OutletIn, credit_code_check_char
from tests.reports.month_world import add_outlet, register

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
MONTH = "2026-11"
CITY = "3301"
_numbers = count(100)


def credit_code(n: int) -> str:
    first17 = f"9133010200022{n:04d}"
    return first17 + credit_code_check_char(first17)


def mn(n: int) -> str:
    return f"010000A8900016F0022{n:05d}"


@dataclass
class SupervisionWorld:
    engine: Engine
    enterprises: dict[str, int] = field(default_factory=dict)
    outlets: dict[str, int] = field(default_factory=dict)
    devices: dict[str, int] = field(default_factory=dict)
    now: datetime = NOW


def _enterprise(w: SupervisionWorld, key: str, name: str, region: str, now: datetime) -> int:
    with w.engine.begin() as conn:
        data = EnterpriseIn(name=name, credit_code=credit_code(next(_numbers)), region_code=region)
        w.enterprises[key] = int(svc.create_enterprise(conn, data, now)["id"])
    return w.enterprises[key]


def add_monitored(
    w: SupervisionWorld, enterprise: str, outlet: str, device: str, code: str, now: datetime
) -> int:
    """An outlet ``code`` of the enterprise with a new registered device on it (SO2 rated)."""
    number = mn(next(_numbers))
    w.devices[device] = register(w.engine, [number], now)[number]
    with w.engine.begin() as conn:
        w.outlets[outlet] = add_outlet(conn, w.enterprises[enterprise], [number], now, code=code)
    return w.outlets[outlet]


def add_bare(w: SupervisionWorld, enterprise: str, outlet: str, code: str, kind: str, now: datetime) -> int:
    with w.engine.begin() as conn:
        row = svc.create_outlet(
            conn, w.enterprises[enterprise], OutletIn(code=code, name="排口", kind=kind), now
        )
    w.outlets[outlet] = int(row["id"])
    return w.outlets[outlet]


def add_enterprise(w: SupervisionWorld, key: str, region: str = "330105", now: datetime = NOW) -> int:
    """One more enterprise with one monitored outlet (``<key>1``, device ``<key>1``)."""
    _enterprise(w, key, f"{key}新增有限公司", region, now)
    add_monitored(w, key, f"{key}1", f"{key}1", "DA001", now)
    return w.enterprises[key]


def build(engine: Engine, now: datetime = NOW) -> SupervisionWorld:
    w = SupervisionWorld(engine, now=now)
    _enterprise(w, "jia", "甲化工有限公司", "330102", now)
    _enterprise(w, "yi", "乙热电有限公司", "330106", now)
    _enterprise(w, "bing", "丙食品有限公司", "330102", now)
    _enterprise(w, "ding", "丁纸业有限公司", "440103", now)
    _enterprise(w, "wu", "戊钢铁有限公司", "330203", now)
    add_monitored(w, "jia", "a1", "a1", "DA001", now)
    add_monitored(w, "jia", "a2", "a2", "DA002", now)
    add_bare(w, "jia", "a3", "DA003", "gas", now)
    add_monitored(w, "yi", "b1", "b1", "DA001", now)
    add_bare(w, "bing", "c1", "DW001", "water", now)
    add_monitored(w, "ding", "d1", "d1", "DA001", now)
    add_monitored(w, "wu", "e1", "e1", "DA001", now)
    return w
