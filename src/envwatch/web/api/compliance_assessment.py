"""REST API: quarterly operator assessment, ranking, credit file and blacklist (issue 9). Not written yet."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["compliance"])
