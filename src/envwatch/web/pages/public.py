"""Public disclosure (信息公开, SX-7): an enterprise's automatic monitoring data without login, and its settings."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
