"""Marks (标记) API: mark, supersede, withdraw, review; list marks of a device."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/marks", tags=["marks"])
