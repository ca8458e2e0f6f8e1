"""The sampling hub (/sampling): plans, samples and the scan entry for agencies, regulators and enterprises."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
