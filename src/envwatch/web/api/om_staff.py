"""O&M API (issue 6): staff (运维人员), certificates, trainings and results."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/om", tags=["om-staff"])
