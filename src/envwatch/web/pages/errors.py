"""How pages answer errors: a redirect to the login page, or an HTML error page (the API keeps JSON)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from envwatch.web.pages.render import render
from envwatch.web.pages.session import LoginRequired, viewer_or_none


def install(app: FastAPI) -> None:
    """Register the handlers on the app (paths under /api/ keep FastAPI's JSON answers)."""

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        if request.headers.get("hx-request") == "true":
            # an htmx swap would put the login page inside the table: make htmx navigate instead
            return Response(status_code=401, headers={"HX-Redirect": exc.next_path})
        return RedirectResponse(exc.next_path, status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith(("/api/", "/static/")) or request.url.path in ("/healthz",):
            return await http_exception_handler(request, exc)
        return render(
            request,
            "error.html",
            exc.status_code,
            viewer=await run_in_threadpool(viewer_or_none, request),  # a DB read: off the event loop
            status=exc.status_code,
            detail=exc.detail,
        )
