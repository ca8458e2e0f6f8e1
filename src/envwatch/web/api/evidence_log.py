"""REST API: evidence log (存证日志): checkpoints, proofs, entries, verification runs. (Scaffold: being written.)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/evidence", tags=["evidence"])
