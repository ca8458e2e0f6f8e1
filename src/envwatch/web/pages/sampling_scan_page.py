"""Scanning a label (/sampling/scan): camera or handheld scanner opens the sample."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
