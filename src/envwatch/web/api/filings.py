"""Filings (备案) API: acceptance, filing and change filings, their steps, deadlines and attachments."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/filings", tags=["filings"])
