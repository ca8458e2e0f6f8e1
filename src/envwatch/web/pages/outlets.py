"""The enterprise's outlets (排放口): live values against limits, hour and day tables."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
