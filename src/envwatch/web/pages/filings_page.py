"""Filings pages (备案, stop reports 停运报告): list, record, steps and attachments."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
