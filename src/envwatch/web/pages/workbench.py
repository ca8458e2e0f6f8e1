"""The operator's workbench (运维工作台): what needs the operating company's attention on its contracted outlets."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
