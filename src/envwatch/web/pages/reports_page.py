"""Reports and exports (报表): monthly outlet reports, rates workbooks and data exports for the visible outlets."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
