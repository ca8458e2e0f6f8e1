"""O&M pages (issue 6): staff (运维人员), certificates, trainings and results."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
