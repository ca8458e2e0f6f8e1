"""Rendering: one Jinja2 environment per locale, page security headers, China-time formatting."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from envwatch.core.clock import to_china
from envwatch.web.pages import i18n
from envwatch.web.pages.i18n import N_

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

# Same-origin only: the pages must work without the internet, and this makes the browser refuse any
# script, style or image from elsewhere (a forgotten CDN link fails visibly in the browser tests). The one
# exception is a configured basemap's tile server (settings.map_tiles_url), allowed for images only.
_CSP = (
    "default-src 'self'; img-src 'self' data:{tiles}; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'"
)


@cache
def security_headers(map_tiles_url: str = "") -> dict[str, str]:
    """The headers of every page; ``map_tiles_url`` (a tile URL template) adds its origin to img-src."""
    tiles = ""
    if map_tiles_url:
        parts = urlsplit(map_tiles_url)
        # a {s} subdomain placeholder becomes a wildcard host (a.tile…, b.tile…)
        tiles = " " + f"{parts.scheme}://{parts.netloc}".replace("{s}", "*")
    return {
        "Content-Security-Policy": _CSP.format(tiles=tiles),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }


SECURITY_HEADERS = security_headers()


@dataclass(frozen=True)
class NavItem:
    """One navigation entry: shown to the roles listed (the page itself checks again)."""

    path: str
    label: str  # msgid, translated when rendered
    roles: frozenset[str]


ALL_ROLES = frozenset({"admin", "regulator", "enterprise", "operator", "field_staff", "agency", "auditor"})
DATA_ROLES = ALL_ROLES - {"agency"}  # roles with a scope (web.scope.SCOPED_ROLES)

# The navigation, in order. Later pages (public disclosure, alarms, marks, reports, the regulator's
# dashboard) add one line here each; docs/web.md says how.
NAV: tuple[NavItem, ...] = (
    NavItem("/home", N_("Overview"), ALL_ROLES),
    NavItem("/workbench", N_("Workbench"), frozenset({"operator", "field_staff"})),
    NavItem("/region", N_("Regional overview"), frozenset({"admin", "regulator"})),
    NavItem("/alarms", N_("Alarms"), DATA_ROLES),
    NavItem("/orders", N_("Supervision orders"), DATA_ROLES),
    NavItem("/audit", N_("Daily audit"), frozenset({"admin", "regulator", "operator", "auditor"})),
    # O&M (issue 6): one entry; the hub page links the sections (records, faults, tickets, staff, ledger)
    NavItem("/om", N_("O&M"), DATA_ROLES - {"auditor"}),
    NavItem("/sampling", N_("Sampling"), frozenset({"admin", "regulator", "enterprise", "agency"})),
    # evidence (issue 8): the video archive is the entry; its pages link the log status, checks, self-inspection
    NavItem(
        "/evidence/videos", N_("Evidence archive"), frozenset({"admin", "regulator", "enterprise", "agency"})
    ),
    # compliance (issue 9): findings is the entry; its tabs link assessment, supervision, reports, the pack
    NavItem("/compliance/findings", N_("Compliance"), ALL_ROLES),
    NavItem("/outlets", N_("Outlets"), DATA_ROLES),
    NavItem("/devices", N_("Devices"), DATA_ROLES),
    NavItem("/rates", N_("Transmission rates"), DATA_ROLES),
    NavItem("/marks", N_("Marks"), DATA_ROLES),
    NavItem("/filings", N_("Filings"), DATA_ROLES),
    NavItem("/reports", N_("Reports"), DATA_ROLES),
    NavItem("/disclosure", N_("Public disclosure"), frozenset({"admin", "enterprise"})),
    NavItem("/inbox", N_("Messages"), DATA_ROLES - {"auditor"}),
    # forwarding to upstream platforms (issue 10): the status of each upstream
    NavItem("/upstreams", N_("Upstream forwarding"), frozenset({"admin", "regulator"})),
    NavItem("/admin/registry", N_("Registry"), frozenset({"admin"})),
    NavItem("/admin/users", N_("Users"), frozenset({"admin"})),
)

ROLE_LABELS = {
    "admin": N_("Administrator"),
    "regulator": N_("Regulator"),
    "enterprise": N_("Enterprise"),
    "operator": N_("Operator"),
    "field_staff": N_("Field staff"),
    "agency": N_("Testing agency"),
    "auditor": N_("Auditor"),
}


def china_time(moment: datetime | None) -> str:
    """A stored (UTC) time as China local time, the way people there read it."""
    if moment is None:
        return "—"
    return to_china(moment).strftime("%Y-%m-%d %H:%M:%S")


@cache
def environment(locale: str) -> Environment:
    """The environment of one locale (translations installed once: no per-request state to race on)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # newstyle: _("… %(n)s", n=x) formats after translating and escapes the arguments
    env.install_gettext_translations(i18n.translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.filters["china_time"] = china_time
    return env


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page in the request's locale; ``context`` may hold ``viewer`` (then the navigation is shown)."""
    locale = i18n.locale_of(request)
    viewer = context.get("viewer")
    nav = [item for item in NAV if viewer is not None and viewer.principal.role in item.roles]
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    html = (
        environment(locale)
        .get_template(template)
        .render(
            locale=locale,
            html_lang=i18n.HTML_LANG[locale],
            locales=[(code, i18n.LABELS[code]) for code in i18n.LOCALES],
            nav=nav,
            path=request.url.path,
            here=here,
            role_labels=ROLE_LABELS,
            **context,
        )
    )
    headers = security_headers(request.app.state.settings.map_tiles_url)
    return HTMLResponse(html, status_code=status_code, headers=headers)
