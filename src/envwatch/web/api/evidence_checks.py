"""REST API: checks of the video archive (WZ-A1-5/13/14, WZ-A2-8), storage capacity, self-inspection. (Scaffold: being written.)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/evidence", tags=["evidence"])
