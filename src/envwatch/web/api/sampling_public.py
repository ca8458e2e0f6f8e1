"""Public verification of a sample code (防伪查验): no account needed, nothing private.

Whoever holds a label — an inspector without an account, a lab clerk, the enterprise — may ask whether its
code was issued and where the sample stands: ``GET /api/v1/verify/{code}`` (the code in any case, or the
whole verification URL the QR code carries, URL-encoded). The answer (``sampling.reads.verification``)
says authentic or not (with the reason: malformed, check character wrong, never issued), the issuing
agency, the state, how many labels were printed and when each custody step happened. It names no
enterprise, person, place, seal, photo or note. This router takes no authentication dependency, so no
token or session is asked for; it only reads, so the audit trail (writes) does not record it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from envwatch.sampling.reads import verification
from envwatch.web.api.common import engine_of, jsonable

router = APIRouter(prefix="/api/v1/verify", tags=["verify"])


@router.get(
    "/{code:path}",
    summary="Is this sample code authentic, and where does the sample stand? (no account; nothing private)",
)
def verify(request: Request, code: str, response: Response) -> dict[str, Any]:
    with engine_of(request).connect() as conn:
        found = verification(conn, code)
    response.headers["Cache-Control"] = "no-store"  # the state moves on; a cached answer would mislead
    out = jsonable({k: v for k, v in found.items() if k != "custody"})
    if "custody" in found:
        out["custody"] = [jsonable(step) for step in found["custody"]]
    return out
