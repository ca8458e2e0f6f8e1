"""O&M pages (issue 6): field records (运维记录), reference-material certificates and operator registrations."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
