"""REST API: video records (视频记录, WZ-A1): resumable uploads, records, playback, search. (Scaffold: being written.)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/evidence", tags=["evidence"])
