"""Pages: supervision plans and spot tests (issue 9). Not written yet."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
