"""O&M API (issue 6): faults (故障), manual monitoring results and production stops (停产)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/om", tags=["om-faults"])
