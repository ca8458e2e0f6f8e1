"""Sampling plans (采样计划, WZ-A2-6): REST API."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/sampling", tags=["sampling"])
