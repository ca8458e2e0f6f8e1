"""One sample (/sampling/samples/{code}): state, chain of custody and the next step."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
