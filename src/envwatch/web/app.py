"""The FastAPI application (OpenAPI at /docs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine

import envwatch
from envwatch.core.blobs import BlobStore
from envwatch.core.errors import EnvwatchError
from envwatch.core.settings import Settings
from envwatch.ingest.metrics import metrics_registry
from envwatch.monitoring.hour_cache import HourCache
from envwatch.web import health
from envwatch.web.accounts.api import auth_router, users_router
from envwatch.web.accounts.audit import AuditMiddleware
from envwatch.web.api import (
    agencies,
    alarms,
    audit,
    certification_pack,
    commands,
    compliance_assessment,
    compliance_findings,
    compliance_supervision,
    devices,
    evidence_checks,
    evidence_log,
    filings,
    hours,
    marks,
    notifications,
    om_faults,
    om_ledger,
    om_records,
    om_reports,
    om_staff,
    om_tickets,
    orders,
    packets,
    rates,
    registry,
    registry_devices,
    reports_periodic,
    sampling_entries,
    sampling_labels,
    sampling_plans,
    sampling_public,
    sampling_samples,
    sampling_stats,
    upstreams,
    videos,
)
from envwatch.web.auth import CurrentPrincipal, admin_token
from envwatch.web.pages import admin as admin_pages
from envwatch.web.pages import (
    agencies_page,
    alarms_page,
    audit_page,
    certification_pack_page,
    evidence_checks_page,
    evidence_page,
    filings_page,
    findings_page,
    inbox_page,
    om_faults_page,
    om_ledger_page,
    om_page,
    om_records_page,
    om_reports_page,
    om_staff_page,
    om_tickets_page,
    orders_page,
    outlets,
    periodic_reports_page,
    public,
    ranking_page,
    region,
    reports_page,
    sampling_field_page,
    sampling_page,
    sampling_plans_view,
    sampling_sample_page,
    sampling_scan_page,
    sampling_self_view,
    sampling_stats_page,
    sampling_steps_view,
    supervision_page,
    upstreams_page,
    verify_page,
    videos_page,
    workbench,
)
from envwatch.web.pages import device as device_page
from envwatch.web.pages import errors as page_errors
from envwatch.web.pages import marks as marks_page
from envwatch.web.pages import rates as rates_page
from envwatch.web.pages import routes as pages

STATIC = Path(__file__).resolve().parent / "static"


def create_app(settings: Settings, engine: Engine, gateway: Any = None) -> FastAPI:
    app = FastAPI(
        title="envwatch",
        version=envwatch.__version__,
        description="Pollution-source automatic monitoring platform: HJ 212 gateway, raw log, measurements.",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.gateway = gateway
    # today's judged hours of the regional overview, shared by every request (monitoring.hour_cache)
    app.state.hour_cache = HourCache()
    app.state.admin_token = admin_token(settings)
    app.state.metrics = metrics_registry(gateway)  # /metrics (web.health, ingest.metrics)
    # the blob store is opened once now, so an S3 bucket without Object Lock stops the start with its
    # reason instead of failing the first upload (core.blob_s3)
    BlobStore.from_settings(settings)
    # every write under /api/ that reached authentication gets an audit_log row (issue 4)
    app.add_middleware(AuditMiddleware)

    @app.exception_handler(EnvwatchError)
    async def _envwatch_error(_request: Request, exc: EnvwatchError) -> JSONResponse:
        return JSONResponse({"detail": exc.message}, status_code=exc.http_status)

    @app.get("/api/v1/gateway", tags=["ops"], summary="Gateway counters (connections, frames, writer)")
    def gateway_stats(_who: CurrentPrincipal) -> dict[str, Any]:
        gw = app.state.gateway
        return {"running": gw is not None, **(gw.stats() if gw is not None else {})}

    for router in (
        health.router,
        devices.router,
        hours.router,
        packets.router,
        commands.router,
        registry.router,
        registry_devices.router,
        filings.router,
        marks.router,
        rates.router,
        alarms.router,
        orders.router,
        audit.router,
        notifications.router,
        om_records.router,
        om_reports.router,
        om_faults.router,
        om_tickets.router,
        om_staff.router,
        om_ledger.router,
        agencies.router,
        sampling_plans.router,
        sampling_entries.router,
        sampling_samples.router,
        sampling_labels.router,
        sampling_public.router,
        sampling_stats.router,
        evidence_log.router,
        videos.router,
        evidence_checks.router,
        compliance_findings.router,
        compliance_assessment.router,
        compliance_supervision.router,
        reports_periodic.router,
        certification_pack.router,
        upstreams.router,
        auth_router,
        users_router,
    ):
        app.include_router(router)
    # the server-rendered pages (docs/web.md) and their vendored assets: nothing comes from a CDN
    page_errors.install(app)
    app.include_router(pages.router)
    app.include_router(device_page.router)
    app.include_router(rates_page.router)
    app.include_router(marks_page.router)
    app.include_router(region.router)
    app.include_router(outlets.router)
    app.include_router(filings_page.router)
    app.include_router(public.router)
    app.include_router(admin_pages.router)
    app.include_router(reports_page.router)
    app.include_router(workbench.router)
    app.include_router(alarms_page.router)
    app.include_router(orders_page.router)
    app.include_router(audit_page.router)
    app.include_router(inbox_page.router)
    app.include_router(om_records_page.router)
    app.include_router(om_reports_page.router)
    app.include_router(om_page.router)
    app.include_router(om_faults_page.router)
    app.include_router(om_tickets_page.router)
    app.include_router(om_staff_page.router)
    app.include_router(om_ledger_page.router)
    app.include_router(sampling_page.router)
    app.include_router(sampling_plans_view.router)
    app.include_router(sampling_self_view.router)
    app.include_router(sampling_steps_view.router)
    app.include_router(sampling_field_page.router)
    app.include_router(sampling_sample_page.router)
    app.include_router(sampling_scan_page.router)
    app.include_router(sampling_stats_page.router)
    app.include_router(agencies_page.router)
    app.include_router(verify_page.router)
    app.include_router(evidence_page.router)
    app.include_router(videos_page.router)
    app.include_router(evidence_checks_page.router)
    app.include_router(findings_page.router)
    app.include_router(ranking_page.router)
    app.include_router(supervision_page.router)
    app.include_router(periodic_reports_page.router)
    app.include_router(certification_pack_page.router)
    app.include_router(upstreams_page.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
