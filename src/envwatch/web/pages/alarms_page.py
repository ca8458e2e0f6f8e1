"""Alarm pages (报警): the list and one alarm (placeholder; being written)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
