"""Registry administration (注册管理) and users: lists, forms, import and export."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
