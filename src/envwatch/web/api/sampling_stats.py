"""Regulator statistics per testing agency (WZ-A2-14): REST API."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/sampling", tags=["sampling"])
