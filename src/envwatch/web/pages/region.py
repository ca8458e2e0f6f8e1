"""The regulator's regional overview (区域总览): map of outlets by status, counts, rate rankings, today's exceedances."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
