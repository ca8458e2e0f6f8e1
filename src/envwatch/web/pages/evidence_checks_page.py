"""Pages: archive checks and self-inspection pages (/evidence/checks, /evidence/self-inspections). (Scaffold: being written.)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
