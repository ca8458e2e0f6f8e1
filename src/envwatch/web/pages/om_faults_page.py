"""O&M pages (issue 6): faults (故障), manual monitoring results and production stops (停产)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
