"""Liveness, readiness and metrics for load balancers, orchestrators and Prometheus (no token, no data).

- ``GET /healthz``: the process answers HTTP (liveness: restart it when this fails).
- ``GET /readyz``: the database answers, its schema is at this release's migration head, and, when this
  process runs the gateway, its writer process is alive. 200 with each check, or 503 naming what failed
  (readiness: send no traffic to it meanwhile).
- ``GET /metrics``: Prometheus text format (``ingest.metrics``): counts and timings only, no label that
  names a device or a person; still, put it behind the reverse proxy's allow-list
  (docs/operations/monitoring.md).
"""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

import envwatch

router = APIRouter(tags=["ops"])
# the store checks run here rather than in the default executor: a check stuck on a silent database must not
# hold the threads requests use, nor the loop's shutdown (which waits for the default executor only)
_CHECKS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="envwatch-readyz")


@functools.cache
def migration_heads() -> frozenset[str]:
    """The schema revision(s) this release expects, read from the migration scripts' files (the
    ``migrations`` package sits above the web layer, so its directory is read rather than imported)."""
    return frozenset(ScriptDirectory(str(Path(envwatch.__file__).parent / "migrations")).get_heads())


@router.get("/healthz", summary="Liveness (no token; says nothing about data)")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: database, schema at head, the gateway's writer (no token)")
async def readyz(request: Request) -> JSONResponse:
    checks: dict[str, str] = {}
    timeout = request.app.state.settings.ready_timeout_s
    try:
        # a database host that drops packets would hold the check for the TCP timeout: answer in time
        store = asyncio.get_running_loop().run_in_executor(
            _CHECKS, _check_store, request.app.state.engine, checks
        )
        ready = await asyncio.wait_for(store, timeout)
    except TimeoutError:
        ready = False
        checks.setdefault("database", f"no answer within {timeout:g} s (ready_timeout_s)")
        checks.setdefault("migrations", "unknown")
    gateway: Any = request.app.state.gateway
    if gateway is not None:
        alive = bool(gateway.writer.alive)
        checks["writer"] = "ok" if alive else "the writer process is not running"
        ready = ready and alive
    answer = {"status": "ready" if ready else "not ready", "checks": dict(checks)}
    return JSONResponse(answer, 200 if ready else 503)


def _check_store(engine: Any, checks: dict[str, str]) -> bool:
    """The database answers and its schema is at head; says how in ``checks``."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception as exc:  # any failure to answer is "not ready"; the reason is for the operator
        checks["migrations" if "database" in checks else "database"] = f"failed: {type(exc).__name__}"
        checks.setdefault("migrations", "unknown")
        return False
    if revision in migration_heads():
        checks["migrations"] = "ok"
        return True
    checks["migrations"] = f"schema at {revision}, this release needs {sorted(migration_heads())}"
    return False


@router.get("/metrics", summary="Prometheus metrics (no token; no per-device labels)")
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)
