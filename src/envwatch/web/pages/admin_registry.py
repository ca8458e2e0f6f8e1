"""Registry administration pages (注册管理): /admin/registry/<section> lists with search and paging, a
create form and an edit form per row (``admin_sections`` describes them), admin only.

A refused save (InvalidInput, Conflict, NotFound of the services) comes back in its form with a
translated lead-in and the service's text, the typed values kept; nothing is half-saved because every
save is one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from envwatch.core.clock import utcnow
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.web.api.common import engine_of
from envwatch.web.pages.admin_common import (
    AdminViewer,
    FormFields,
    Problem,
    admin_viewer,
    back_to_list,
    checked_form,
    kept_values,
    text_of,
)
from envwatch.web.pages.admin_sections import CODE_LABELS, SECTIONS, TABS, Section, choices
from envwatch.web.pages.paging import search_page
from envwatch.web.pages.render import china_time, render
from envwatch.web.pages.session import Viewer

router = APIRouter(include_in_schema=False, dependencies=[Depends(admin_viewer)])


@dataclass(frozen=True)
class Shown:
    """A row as the page shows it: cells (text, link, translated?), form values, searchable text."""

    key: str
    cells: list[tuple[str, str, bool]]
    form: dict[str, str]
    text: str


def _cell(value: Any) -> str:
    return china_time(value) if isinstance(value, datetime) else text_of(value)


def _shown(section: Section, row: Mapping[str, Any]) -> Shown:
    cells = []
    for col in section.columns:
        text = _cell(row.get(col.key))
        link = col.link.format(**row) if col.link else ""
        cells.append((CODE_LABELS.get(text, text) if col.coded else text, link, col.coded))
    form = {name: text_of(value) for name, value in row.items()}
    return Shown(str(row[section.row_key]), cells, form, " ".join(c[0] for c in cells))


def section_page(
    request: Request, viewer: Viewer, section: Section, problem: Problem | None = None
) -> Response:
    query = request.query_params
    with engine_of(request).connect() as conn:
        rows = [_shown(section, r) for r in section.rows(conn)]
        options = choices(conn)
    paged = search_page(rows, lambda r: r.text, query.get("q", ""), query.get("page"))
    if problem is not None:
        problem.place(r.key for r in paged.rows)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return render(
        request,
        "admin_section.html",
        problem.status if problem else 200,
        viewer=viewer,
        section=section,
        tabs=TABS,
        paged=paged,
        choices=options,
        problem=problem,
        saved=query.get("saved", ""),
        back=here,
    )


@router.get("/admin/registry")
def registry_home(_viewer: AdminViewer) -> Response:
    return RedirectResponse(TABS[0].path, status_code=303)


def _add_routes(section: Section) -> None:
    base = f"/admin/registry/{section.key}"

    @router.get(base, response_class=HTMLResponse)
    def show(request: Request, viewer: AdminViewer) -> Response:
        return section_page(request, viewer, section)

    @router.post(base, response_class=HTMLResponse)
    def create(request: Request, viewer: AdminViewer, form: FormFields) -> Response:
        checked_form(request, viewer, form)
        try:
            with engine_of(request).begin() as conn:
                row = section.add(conn, form, utcnow())
        except (InvalidInput, Conflict, NotFound) as exc:
            problem = Problem.of("create", section.lead, exc, kept_values(form))
            request.state.audit_detail = {"section": section.key}
            return section_page(request, viewer, section, problem)
        key = str(row[section.row_key])
        request.state.audit_detail = {"section": section.key, "created": key}
        return RedirectResponse(f"{base}?saved={key}", status_code=303)

    if section.change is None:
        return
    change = section.change

    @router.post(base + "/{row_id}", response_class=HTMLResponse)
    def edit(request: Request, viewer: AdminViewer, row_id: int, form: FormFields) -> Response:
        checked_form(request, viewer, form)
        try:
            with engine_of(request).begin() as conn:
                change(conn, row_id, form, utcnow())
        except (InvalidInput, Conflict, NotFound) as exc:
            problem = Problem.of(str(row_id), section.lead, exc, kept_values(form))
            request.state.audit_detail = {"section": section.key}
            return section_page(request, viewer, section, problem)
        request.state.audit_detail = {"section": section.key, "changed": row_id}
        return back_to_list(base, form, row_id)


for _section in SECTIONS:
    _add_routes(_section)
