"""Testing agencies (检测机构), their staff and label-system trainings (WZ-A2-5): REST API."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/agencies", tags=["agencies"])
