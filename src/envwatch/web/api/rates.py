"""Effective transmission rates (有效传输率) API."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/rates", tags=["rates"])
