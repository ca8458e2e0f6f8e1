"""Samples and their chain of custody (WZ-A2-4/6/7/8/9/10): REST API."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/sampling", tags=["sampling"])
