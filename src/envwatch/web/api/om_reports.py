"""O&M API (issue 6): quarterly self-inspection reports (季度自查报告, SX-18.7)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/om", tags=["om-reports"])
