"""Pages: periodic reports (issue 9). Not written yet."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
