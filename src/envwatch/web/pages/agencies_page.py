"""Testing agencies, their staff and trainings (/sampling/agencies)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
