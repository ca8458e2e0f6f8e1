"""O&M pages (issue 6): service tickets (服务工单) and satisfaction."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
