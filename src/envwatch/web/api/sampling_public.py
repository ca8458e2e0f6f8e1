"""Public verification of a sample code (防伪查验): no account needed, nothing private."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/verify", tags=["verify"])
