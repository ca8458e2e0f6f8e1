"""Pages: the evidence log's status page (/evidence): checkpoints, proofs, verification. (Scaffold: being written.)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
