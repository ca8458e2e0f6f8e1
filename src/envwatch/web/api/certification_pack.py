"""REST API: the certification evidence pack (认证证据包, CS-5/6) of an operator for a period.

- ``GET /api/v1/operators/{id}/certification-pack/kpis?from=&to=``: the KPIs (JSON);
- ``GET /api/v1/operators/{id}/certification-pack?from=&to=``: the zip (``cert-pack-<id>-<from>-<to>.zip``);
  each download is recorded (``certification_packs`` + its evidence entry) and answers the SHA-256 and the
  earlier identical pack in headers (``X-Pack-SHA256``, ``X-Pack-Id``, ``X-Pack-Same-As``);
- ``GET /api/v1/operators/{id}/certification-packs``: the makes, newest first, with ``same_as_before``.

Who reads: admin; a regulator the operators working in its region (``Scope.operator_ids``); an operator
itself; an auditor its operator, only inside its period (403 naming the period otherwise; its history lists
the packs inside the period). Anyone else: 404 for an operator not seen, 403 for the role. The period
defaults to the auditor's period, else the last complete quarter (China calendar).

The figures are computed as the rates API (``group=operator``, the whole fleet) and the tickets API (an
operator's figures, whole) compute them, so the pack a regulator downloads is the same bytes as the
operator's own. The zip is written to a spooled temporary file (memory bounded) and then streamed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import date, timedelta
from typing import IO, Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from envwatch.core.clock import utcnow
from envwatch.operations.ticket_stats import quarter_of
from envwatch.reports.certification_kpis import certification_kpis
from envwatch.reports.certification_pack import make_pack, pack_history
from envwatch.web.api.common import engine_of, jsonable, settings_of
from envwatch.web.scope import CurrentScope, Scope, china_today

router = APIRouter(prefix="/api/v1", tags=["compliance"])

READERS = frozenset({"admin", "regulator", "operator", "auditor"})
SPOOL_BYTES = 8 * 1024 * 1024  # a larger pack goes to a temporary file on disk
CHUNK = 64 * 1024

From = Annotated[date | None, Query(alias="from", description="first China day; default: see the module")]
To = Annotated[date | None, Query(description="last China day (included)")]


def last_complete_quarter(today: date) -> tuple[date, date]:
    first, _ = quarter_of(today)
    return quarter_of(first - timedelta(days=1))


def default_period(scope: Scope, today: date) -> tuple[date, date]:
    """The auditor's period, else the last complete quarter."""
    return scope.period if scope.period is not None else last_complete_quarter(today)


def require_pack_reader(scope: Scope, operator_id: int) -> None:
    """404 for an operator the caller does not see, then 403 for a role that reads no packs."""
    scope.require_operator(operator_id)
    if scope.role not in READERS:
        raise HTTPException(403, f"role {scope.role} may not read certification evidence packs")
    if scope.role in ("operator", "auditor") and scope.principal.operator_id != operator_id:
        raise HTTPException(404, f"no operator with id {operator_id}")


def pack_period(scope: Scope, operator_id: int, first: date | None, last: date | None) -> tuple[date, date]:
    """The period asked for (defaults filled), checked against the caller's reach."""
    require_pack_reader(scope, operator_id)
    default = default_period(scope, china_today())
    chosen = (first or default[0], last or default[1])
    scope.require_days(*chosen)
    return chosen


def file_name(operator_id: int, first: date, last: date) -> str:
    return f"cert-pack-{operator_id}-{first.isoformat()}-{last.isoformat()}.zip"


@router.get(
    "/operators/{operator_id}/certification-pack/kpis",
    summary="The certification KPIs of an operator for a period (CS-5/6)",
)
def kpis(
    request: Request, operator_id: int, scope: CurrentScope, from_: From = None, to: To = None
) -> dict[str, Any]:
    first, last = pack_period(scope, operator_id, from_, to)
    got = certification_kpis(engine_of(request), settings_of(request), operator_id, first, last, utcnow())
    return got.as_dict()


def _stream(spool: IO[bytes]) -> Iterator[bytes]:
    try:
        spool.seek(0)
        while chunk := spool.read(CHUNK):
            yield chunk
    finally:
        spool.close()


@router.get(
    "/operators/{operator_id}/certification-pack",
    summary="Download the certification evidence pack (zip); the make is recorded",
    response_class=StreamingResponse,
)
def download(
    request: Request, operator_id: int, scope: CurrentScope, from_: From = None, to: To = None
) -> StreamingResponse:
    first, last = pack_period(scope, operator_id, from_, to)
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - closed by _stream
    try:
        made = make_pack(
            engine_of(request), settings_of(request), operator_id, first, last,
            out=spool, made_by=scope.principal.name, now=utcnow(),
        )  # fmt: skip
    except BaseException:
        spool.close()
        raise
    headers = {
        "Content-Disposition": f'attachment; filename="{file_name(operator_id, first, last)}"',
        "Content-Length": str(made.result.size),
        "X-Pack-SHA256": made.result.sha256,
        "X-Pack-Id": str(made.id),
        "X-Pack-Same-As": "" if made.same_as is None else str(made.same_as),
    }
    return StreamingResponse(_stream(spool), media_type="application/zip", headers=headers)


@router.get(
    "/operators/{operator_id}/certification-packs", summary="The certification packs made of an operator"
)
def history(request: Request, operator_id: int, scope: CurrentScope) -> dict[str, Any]:
    require_pack_reader(scope, operator_id)
    with engine_of(request).connect() as conn:
        rows = pack_history(conn, operator_id, within=scope.period)
    return {"operator_id": operator_id, "rows": [jsonable(r) for r in rows]}
