"""O&M API (issue 6): equipment ledger (一机一档), spare parts, emergency plans and drills."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/om", tags=["om-ledger"])
