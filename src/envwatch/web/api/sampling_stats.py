"""Regulator statistics per testing agency (WZ-A2-14): REST API, and the credit-evaluation workbook.

``GET /api/v1/sampling/stats?from=YYYY-MM-DD&to=YYYY-MM-DD`` answers the figures of ``sampling.stats`` for
the samples registered in ``[from, to)`` (China days, ``to`` excluded; default: this month), one row per
agency the caller sees and the totals; ``&format=xlsx`` answers the same as an Excel workbook (the file a
regulator attaches to the agency's environmental credit evaluation, 环境信用评价).

Who: admin (every agency), a regulator (the agencies seated in its region, ``Scope.agency_ids``), an agency
account (its own agency); every other role 403. Rates travel as strings (exact decimals), like every
measured value of the API.
"""

from __future__ import annotations

import io
from datetime import date
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from openpyxl import Workbook
from openpyxl.styles import Font

from envwatch.core.clock import to_china, utcnow
from envwatch.core.errors import InvalidInput
from envwatch.sampling.stats import AgencyFigures, Period, Statistics, agency_statistics, month_of, period
from envwatch.web.api.common import engine_of, value_out
from envwatch.web.scope import CurrentScope, Scope

router = APIRouter(prefix="/api/v1/sampling", tags=["sampling"])

READERS: Final = frozenset({"admin", "regulator", "agency"})
XLSX: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# (header, field or rate) of the workbook, Chinese first as the regulators' tables are
COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("检测机构 agency", "agency"),
    ("机构代码 code", "code"),
    ("区域 region", "region_code"),
    ("登记样品 registered", "registered"),
    ("现场录入 on site", "on_site"),
    ("自送样品 self-delivered", "self_delivered"),
    ("非现场实时录入 late entries", "late_entries"),
    ("其中离线 offline", "offline_entries"),
    ("其中时钟偏差 clock skew", "clock_skew_entries"),
    ("每百现场录入 late per 100", "rate:late_entries"),
    ("审核存疑 questioned", "questioned"),
    ("待审核 pending review", "pending_review"),
    ("补打 reprints", "reprints"),
    ("每百样 reprints per 100", "rate:reprints"),
    ("交接/开封异常 anomalies", "anomalies"),
    ("每百样 anomalies per 100", "rate:anomalies"),
    ("拒收 rejections", "rejections"),
    ("每百样 rejections per 100", "rate:rejections"),
    ("已交接 handed over", "handed_over"),
    ("在岗采样员 samplers", "samplers"),
    ("培训有效 trained", "samplers_trained"),
    ("培训覆盖率 % training coverage", "rate:training_coverage"),
)


def require_reader(scope: Scope) -> None:
    if scope.role not in READERS:
        raise HTTPException(
            403, f"role {scope.role} may not read the sampling statistics (admin, regulator, agency)"
        )


def _day(name: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{name}={text!r} is not a day YYYY-MM-DD") from None


def chosen_period(from_: str | None, to: str | None, today: date) -> Period:
    """Both days given: [from, to); neither: the month of ``today``; one alone: InvalidInput."""
    if not from_ and not to:
        return month_of(today)
    if not from_ or not to:
        raise InvalidInput("give both from and to (to excluded), or neither (this month)")
    return period(_day("from", from_), _day("to", to))


def china_today() -> date:
    return to_china(utcnow()).date()


def statistics_for(request: Request, scope: Scope, p: Period, today: date) -> Statistics:
    require_reader(scope)
    with engine_of(request).connect() as conn:
        return agency_statistics(conn, p, today, agency_ids=scope.agency_ids)


def figures_out(f: AgencyFigures) -> dict[str, Any]:
    row = f.as_dict()
    row["rates"] = {name: value_out(value) for name, value in f.rates.items()}
    return row


def statistics_out(stats: Statistics) -> dict[str, Any]:
    return {
        "from": stats.period.first.isoformat(),
        "to": stats.period.end.isoformat(),
        "last_day": stats.period.last.isoformat(),
        "training_on": stats.today.isoformat(),
        "agencies": [figures_out(f) for f in stats.agencies],
        "totals": figures_out(stats.totals) | {"agency_id": None},
    }


def _cell(f: AgencyFigures, key: str) -> Any:
    if key.startswith("rate:"):
        rate = f.rates[key.removeprefix("rate:")]
        return None if rate is None else float(rate)
    return getattr(f, key)


def stats_workbook(stats: Statistics) -> bytes:
    """The figures as an xlsx workbook: a title row, the header, one row per agency, the totals."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "statistics"
    p = stats.period
    sheet.append(
        [
            f"识别标识系统使用情况 sampling label statistics {p.first.isoformat()}..{p.last.isoformat()} "
            f"(样品登记日 registered samples; 培训覆盖 training as of {stats.today.isoformat()})"
        ]
    )
    sheet["A1"].font = Font(bold=True)
    sheet.append([header for header, _ in COLUMNS])
    for cell in sheet[2]:
        cell.font = Font(bold=True)
    for f in stats.agencies:
        sheet.append([_cell(f, key) for _, key in COLUMNS])
    totals = [_cell(stats.totals, key) for _, key in COLUMNS]
    totals[0] = "合计 total"
    sheet.append(totals)
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "B3"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def workbook_name(p: Period) -> str:
    return f"sampling-stats-{p.first.isoformat()}--{p.last.isoformat()}.xlsx"


def workbook_response(stats: Statistics) -> Response:
    name = workbook_name(stats.period)
    return Response(
        stats_workbook(stats),
        media_type=XLSX,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/stats", summary="Statistics per testing agency (WZ-A2-14): samples, late entries, reprints, …")
def sampling_stats(
    request: Request,
    scope: CurrentScope,
    from_: Annotated[str | None, Query(alias="from", description="first China day, YYYY-MM-DD")] = None,
    to: Annotated[str | None, Query(description="the China day after the last one (excluded)")] = None,
    format: Annotated[Literal["json", "xlsx"], Query(description="json, or xlsx for the workbook")] = "json",
) -> Any:
    require_reader(scope)
    today = china_today()
    p = chosen_period(from_, to, today)
    stats = statistics_for(request, scope, p, today)
    if format == "xlsx":
        return workbook_response(stats)
    return statistics_out(stats)
