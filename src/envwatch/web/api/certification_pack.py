"""REST API: the certification evidence pack (issue 9). Not written yet."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["compliance"])
