"""Registry API: enterprises, outlets, devices' outlets and factors, emission limits, operators, contracts."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/registry", tags=["registry"])
