"""The demo world of ``envwatch demo`` (演示数据): a registry of six enterprises in three counties of Shanxi,
one operating company, emission limits, a user for each role, and a history request that fills the past
days through the gateway.

Everything goes through the product's own paths, so the demo also shows them working: the registry is
written as an import workbook (``<data_dir>/demo-registry.xlsx``, a worked example of the format) and
loaded with :func:`~envwatch.registry.transfer.import_registry`; users are made with the accounts store;
the past days arrive as answers to CN 2061/2051 history requests (补传, SX-20.7) that the demo
queues for each simulated data logger, exactly as an operator would from the device page.

Names, codes and coordinates are invented; limits are plausible but labelled as demo values.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from envwatch.core.clock import CHINA_TZ
from envwatch.ingest.commands import create_command
from envwatch.ingest.simulator import SimDevice
from envwatch.registry.models import credit_code_check_char
from envwatch.registry.schema import enterprises, operators
from envwatch.registry.transfer import ImportReport, import_registry
from envwatch.registry.transfer_files import write_registry
from envwatch.web.accounts.store import create_user, user_for_login

DEMO_SOURCE = "演示数据 (demo values, not a legal limit)"
# How much history the demo asks back. The simulated loggers compute each answered period from their
# real-time samples, in the demo's own event loop (about 15 ms per hour at a 10 s interval), so a week of
# hours and days for 12 loggers would keep the whole demo busy for minutes: three days of hours is enough
# for the hour and day tables and the rates, and the platform computes the days from the hours.
HISTORY_DAYS = 3
MINUTE_HISTORY_HOURS = 1


@dataclass(frozen=True)
class DemoEnterprise:
    name: str
    region_code: str  # GB/T 2260 county
    industry: str
    address: str
    longitude: str
    latitude: str


# Two enterprises in each of three counties: 太原市小店区, 太原市迎泽区, 大同市平城区.
ENTERPRISES: tuple[DemoEnterprise, ...] = (
    DemoEnterprise(
        "太原示范热电有限公司", "140105", "火力发电", "太原市小店区示范路1号", "112.5650", "37.7360"
    ),
    DemoEnterprise("山西示范焦化有限公司", "140105", "炼焦", "太原市小店区示范路8号", "112.6120", "37.7010"),
    DemoEnterprise("太原示范钢铁有限公司", "140106", "炼钢", "太原市迎泽区示范街3号", "112.5890", "37.8580"),
    DemoEnterprise(
        "太原示范水务有限公司", "140106", "污水处理", "太原市迎泽区示范街9号", "112.6210", "37.8420"
    ),
    DemoEnterprise(
        "大同示范电力有限公司", "140213", "火力发电", "大同市平城区示范大道2号", "113.3120", "40.0960"
    ),
    DemoEnterprise(
        "大同示范化工有限公司", "140213", "化学原料", "大同市平城区示范大道6号", "113.2740", "40.0610"
    ),
)
OPERATOR_NAME = "山西示范环境运维有限公司"
OPERATED = 4  # the operator's contracts cover the first four enterprises

# (factor, unit, range low, range high, rated) per kind: the pollutants count for the rates (not O2, flow).
FACTORS: dict[str, tuple[tuple[str, str, str, str, bool], ...]] = {
    "gas": (
        ("a21026", "mg/m3", "0", "200", True),  # SO2
        ("a21002", "mg/m3", "0", "300", True),  # NOx
        ("a34013", "mg/m3", "0", "50", True),  # particulate
        ("a19001", "%", "0", "25", False),  # O2
        ("a00000", "m3/s", "0", "200", False),  # flow
    ),
    "water": (
        ("w01018", "mg/L", "0", "200", True),  # COD
        ("w21003", "mg/L", "0", "20", True),  # NH3-N
        ("w01001", "", "0", "14", True),  # pH
        ("w00000", "L/s", "0", "100", False),  # flow
    ),
}
# Hour limits (gas, converted to 9 % O2 like the simulated boilers) and day limits (water); pH a range.
LIMITS: dict[str, tuple[dict[str, str], ...]] = {
    "gas": (
        {"factor": "a21026", "hour_limit": "50", "unit": "mg/m3", "reference_o2": "9"},
        {"factor": "a21002", "hour_limit": "100", "unit": "mg/m3", "reference_o2": "9"},
        {"factor": "a34013", "hour_limit": "10", "unit": "mg/m3", "reference_o2": "9"},
    ),
    "water": (
        {"factor": "w01018", "day_limit": "50", "unit": "mg/L"},
        {"factor": "w21003", "day_limit": "5", "unit": "mg/L"},
        {"factor": "w01001", "ph_low": "6", "ph_high": "9"},
    ),
}


def credit_code(region: str, n: int) -> str:
    """A well-formed 统一社会信用代码 (GB 32100 check character) for demo record ``n``."""
    first17 = f"91{region}MA0{n:06d}"
    return first17 + credit_code_check_char(first17)


def _enterprise_of(index: int) -> int:
    """Devices come in gas/water pairs: device 0 and 1 belong to enterprise 0, and so on (wrapping)."""
    return (index // 2) % len(ENTERPRISES)


def registry_sheets(sims: Sequence[SimDevice], today: Any) -> dict[str, list[dict[str, Any]]]:
    """The demo registry as import-file rows (sheet → rows), for ``sims`` (gas/water alternating)."""
    codes = [credit_code(e.region_code, n) for n, e in enumerate(ENTERPRISES, start=1)]
    sheets: dict[str, list[dict[str, Any]]] = {
        "enterprises": [
            {
                "credit_code": codes[n],
                "name": e.name,
                "region_code": e.region_code,
                "industry": e.industry,
                "attention_level": "provincial" if e.industry == "火力发电" else "city",  # 重点排污单位级别
                "address": e.address,
                "longitude": e.longitude,
                "latitude": e.latitude,
            }
            for n, e in enumerate(ENTERPRISES)
        ],
        "outlets": [],
        "devices": [],
        "device_factors": [],
        "emission_limits": [],
    }
    outlets_made: set[tuple[int, str]] = set()
    for i, sim in enumerate(sims):
        e = _enterprise_of(i)
        ent = ENTERPRISES[e]
        code = "DA001" if sim.kind == "gas" else "DW001"
        # a few hundred metres apart, so the map shows two points per enterprise
        lng = f"{float(ent.longitude) + (0.004 if sim.kind == 'gas' else -0.004):.4f}"
        if (e, code) not in outlets_made:
            outlets_made.add((e, code))
            sheets["outlets"].append(
                {
                    "enterprise_credit_code": codes[e],
                    "code": code,
                    "name": "1号锅炉烟囱排放口" if sim.kind == "gas" else "废水总排放口",
                    "kind": sim.kind,
                    "longitude": lng,
                    "latitude": ent.latitude,
                    "permit_number": f"{codes[e]}001P",
                }
            )
            for limit in LIMITS[sim.kind]:
                sheets["emission_limits"].append(
                    {
                        "enterprise_credit_code": codes[e],
                        "outlet_code": code,
                        "valid_from": today.replace(month=1, day=1) - timedelta(days=365),
                        "legal_source": DEMO_SOURCE,
                        **limit,
                    }
                )
        sheets["devices"].append(
            {
                "mn": sim.mn,
                "pw": sim.pw,
                "name": f"{'废气' if sim.kind == 'gas' else '废水'}数采仪{i + 1}",
                "kind": sim.kind,
                "protocol": sim.protocol,
                "sm4_key": sim.sm4_key.hex().upper() if sim.sm4_key else "",
                "model": "EW-DL200" if sim.protocol == "2017" else "EW-DL300",
                "serial": f"SN{i + 1:06d}",
                "enterprise_credit_code": codes[e],
                "outlet_code": code,
            }
        )
        for factor, unit, low, high, rated in FACTORS[sim.kind]:
            sheets["device_factors"].append(
                {
                    "mn": sim.mn,
                    "factor": factor,
                    "unit": unit,
                    "range_low": low,
                    "range_high": high,
                    "rated": rated,
                    "basis": "standard_dry",  # what the simulated CEMS send (标干)
                }
            )
    operator_code = credit_code("140100", 900)
    sheets["operators"] = [
        {"credit_code": operator_code, "name": OPERATOR_NAME, "contact": "李工", "phone": "0351-0000000"}
    ]
    sheets["contracts"] = [
        {
            "operator_credit_code": operator_code,
            "contract_no": f"YW-DEMO-{n + 1:03d}",
            "enterprise_credit_code": codes[n],
            "valid_from": today - timedelta(days=365),
        }
        for n in range(OPERATED)
    ]
    return sheets


def install_registry(
    engine: Engine, data_dir: Path, sims: Sequence[SimDevice], now: datetime
) -> ImportReport:
    """Write ``demo-registry.xlsx`` and import it (idempotent: a second run changes nothing)."""
    path = data_dir / "demo-registry.xlsx"
    write_registry(path, registry_sheets(sims, now.astimezone(CHINA_TZ).date()))
    return import_registry(engine, path, now)


@dataclass(frozen=True)
class DemoUser:
    username: str
    display_name: str
    role: str
    scope: dict[str, Any]


def demo_users(engine: Engine, today: Any) -> list[DemoUser]:
    """One login per role, tied to the demo registry (the first enterprise, the operator, Shanxi…)."""
    with engine.connect() as conn:
        first = conn.execute(
            select(enterprises.c.id).where(enterprises.c.credit_code == credit_code("140105", 1))
        ).scalar_one()
        operator = conn.execute(
            select(operators.c.id).where(operators.c.credit_code == credit_code("140100", 900))
        ).scalar_one()
    year = today.replace(month=1, day=1)
    return [
        DemoUser("admin", "演示管理员", "admin", {}),
        DemoUser("sx_regulator", "山西省生态环境厅", "regulator", {"region_code": "14"}),
        DemoUser("ty_regulator", "太原市生态环境局", "regulator", {"region_code": "1401"}),
        DemoUser("enterprise1", "太原示范热电 环保专员", "enterprise", {"enterprise_id": first}),
        DemoUser("operator1", "示范运维 项目经理", "operator", {"operator_id": operator}),
        DemoUser("field1", "示范运维 现场工程师", "field_staff", {"operator_id": operator}),
        DemoUser(
            "auditor1",
            "示范认证 审核员",
            "auditor",
            {"operator_id": operator, "period_from": year, "period_to": today},
        ),
    ]


def install_users(
    engine: Engine, data_dir: Path, now: datetime, min_password_length: int
) -> list[tuple[str, str, str]]:
    """Create the demo users missing from the store, each with a random password; returns (username,
    role, password) for every demo user, passwords kept (mode 0600) in ``<data_dir>/demo-passwords``."""
    path = data_dir / "demo-passwords"
    known: dict[str, str] = {}
    earlier = data_dir / "demo-admin-password"  # what demos before the per-role users kept
    if earlier.exists():
        known["admin"] = earlier.read_text().strip()
    if path.exists():
        for line in path.read_text().splitlines():
            name, _, password = line.partition(" ")
            known[name] = password
    out = []
    for user in demo_users(engine, now.astimezone(CHINA_TZ).date()):
        with engine.begin() as conn:
            if user_for_login(conn, user.username) is None:
                password = secrets.token_urlsafe(12)
                create_user(
                    conn,
                    user.username,
                    password,
                    {"role": user.role, "display_name": user.display_name, **user.scope},
                    now,
                    min_password_length=min_password_length,
                )
                known[user.username] = password
        out.append((user.username, user.role, known.get(user.username, "(set before; see envwatch users)")))
    path.write_text("".join(f"{name} {password}\n" for name, password in known.items()))
    path.chmod(0o600)
    return out


def request_history(engine: Engine, sims: Sequence[SimDevice], now: datetime) -> int:
    """Queue history requests (补传) for the past days' hours and the last hour's minutes of
    every simulated logger; the gateway sends them once the logger is connected. Returns how many."""

    def device_time(moment: datetime) -> str:
        return moment.astimezone(CHINA_TZ).strftime("%Y%m%d%H%M%S")

    days = {"BeginTime": device_time(now - timedelta(days=HISTORY_DAYS)), "EndTime": device_time(now)}
    minutes = {
        "BeginTime": device_time(now - timedelta(hours=MINUTE_HISTORY_HOURS)),
        "EndTime": device_time(now),
    }
    queued = 0
    for sim in sims:
        for cn, params in (("2061", days), ("2051", minutes)):
            create_command(engine, mn=sim.mn, cn=cn, params=params, requested_by="demo", now=now)
            queued += 1
    return queued
