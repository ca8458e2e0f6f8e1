"""The public verification page of a label (/v/{code}): authentic or not, status, custody summary."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
