"""Sample labels (识别标识码, WZ-A2-7/8): printing and reprints, REST API."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/sampling", tags=["sampling"])
