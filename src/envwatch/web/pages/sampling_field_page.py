"""On-site entry of samples on a phone (/sampling/plans/{id}/entry): GPS, device time, offline queue."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
