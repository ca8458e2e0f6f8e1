"""Regulator statistics per agency (/sampling/stats), input to its credit evaluation (WZ-A2-14)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
