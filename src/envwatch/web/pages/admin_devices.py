"""One data logger's registry page (数采仪登记): /admin/registry/devices/{mn}, admin only.

Placement on an outlet with model (型号) and serial (出厂编号), the monitored factors (unit, range 量程,
detection limit 检出限, counted in the effective rate, reporting basis) and the SM4 keys (密钥), as the API
allows (``web.api.registry`` and ``registry_devices``). Keys are listed as fingerprints only; "generate a
new key" answers with the new key once (not a redirect: a reload or the back button cannot show it again,
and the answer is marked ``no-store``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from envwatch.core.clock import utcnow
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.registry import service as svc
from envwatch.registry.device_keys import add_key, key_history
from envwatch.registry.models import DeviceFactorIn, DeviceOutletIn, parse
from envwatch.web.api.common import engine_of
from envwatch.web.pages.admin_common import (
    AdminViewer,
    FormFields,
    Problem,
    admin_viewer,
    checked_form,
    kept_values,
    text_of,
    values_of,
)
from envwatch.web.pages.admin_sections import CODE_LABELS, TABS, Input, choices
from envwatch.web.pages.i18n import N_
from envwatch.web.pages.render import render
from envwatch.web.pages.session import Viewer

router = APIRouter(include_in_schema=False, dependencies=[Depends(admin_viewer)])

BASE = "/admin/registry/devices/{mn}"
PLACEMENT_INPUTS = (
    Input("outlet_id", N_("Outlet"), "select", required=True, options="outlets"),
    Input("model", N_("Model")),
    Input("serial", N_("Serial number")),
)
FACTOR_INPUTS = (
    Input("factor", N_("Factor code"), required=True, hint=N_("e.g. a21026")),
    Input("unit", N_("Unit")),
    Input("range_low", N_("Range low"), "decimal"),
    Input("range_high", N_("Range high"), "decimal"),
    Input("detection_limit", N_("Detection limit"), "decimal"),
    Input("rated", N_("Counted in the effective transmission rate"), "check"),
    Input("basis", N_("Reporting basis"), "select", options="bases"),
)
STATE_LABELS = {
    "current": N_("current"),
    "previous (still accepted)": N_("previous (still accepted)"),
    "retired": N_("retired"),
}


def _device(conn: Any, mn: str) -> dict[str, Any]:
    """The device without its access password; a page 404 for an unknown MN."""
    try:
        row = svc.device_by_mn(conn, mn)
    except NotFound as exc:
        raise HTTPException(404, exc.message) from None
    row.pop("pw", None)
    return row


def device_page(
    request: Request,
    viewer: Viewer,
    mn: str,
    problem: Problem | None = None,
    new_key: dict[str, Any] | None = None,
) -> Response:
    with engine_of(request).connect() as conn:
        device = _device(conn, mn)
        factors = svc.list_device_factors(conn, mn)
        keys = key_history(conn, mn)
        options = choices(conn)
    response = render(
        request,
        "admin_device.html",
        problem.status if problem else 200,
        viewer=viewer,
        tabs=TABS,
        device=device,
        placed={k: text_of(device.get(k)) for k in ("outlet_id", "model", "serial")},
        factors=[{k: text_of(v) for k, v in f.items()} for f in factors],
        keys=keys,
        new_key=new_key,
        choices=options,
        placement_inputs=PLACEMENT_INPUTS,
        factor_inputs=FACTOR_INPUTS,
        code_labels=CODE_LABELS,
        state_labels=STATE_LABELS,
        problem=problem,
        saved=request.query_params.get("saved", ""),
    )
    if new_key is not None:
        response.headers["Cache-Control"] = "no-store"
    return response


@router.get(BASE, response_class=HTMLResponse)
def show_device(request: Request, viewer: AdminViewer, mn: str) -> Response:
    return device_page(request, viewer, mn)


def _saved(mn: str, what: str) -> Response:
    return RedirectResponse(BASE.format(mn=mn) + f"?saved={what}", status_code=303)


@router.post(BASE + "/outlet", response_class=HTMLResponse)
def place_device(request: Request, viewer: AdminViewer, mn: str, form: FormFields) -> Response:
    """PUT /api/v1/registry/devices/{mn}/outlet: the outlet, and model/serial (an empty one is cleared)."""
    checked_form(request, viewer, form)
    request.state.audit_detail = {"mn": mn, "change": "outlet"}
    try:
        with engine_of(request).begin() as conn:
            _device(conn, mn)
            raw = values_of(form, ("outlet_id", "model", "serial"))
            data = parse(DeviceOutletIn, {**raw, "model": raw["model"] or "", "serial": raw["serial"] or ""})
            svc.set_device_outlet(conn, mn, data.outlet_id, utcnow(), model=data.model, serial=data.serial)
    except (InvalidInput, Conflict, NotFound) as exc:
        problem = Problem.of("outlet", N_("The placement was not saved:"), exc, kept_values(form))
        return device_page(request, viewer, mn, problem)
    return _saved(mn, "outlet")


@router.post(BASE + "/factors", response_class=HTMLResponse)
def save_factor(request: Request, viewer: AdminViewer, mn: str, form: FormFields) -> Response:
    """PUT /api/v1/registry/devices/{mn}/factors with one factor: added, or changed in full."""
    checked_form(request, viewer, form)
    where = form.get("row", "") or "factor"
    request.state.audit_detail = {"mn": mn, "change": "factor", "factor": form.get("factor", "")[:32]}
    try:
        with engine_of(request).begin() as conn:
            _device(conn, mn)
            values = values_of(form, [i.name for i in FACTOR_INPUTS if i.kind != "check"])
            item = parse(DeviceFactorIn, {**values, "rated": form.get("rated") == "1"})
            svc.upsert_device_factors(conn, mn, [item], utcnow())
    except (InvalidInput, Conflict, NotFound) as exc:
        problem = Problem.of(where, N_("The factor was not saved:"), exc, kept_values(form))
        return device_page(request, viewer, mn, problem)
    return _saved(mn, "factor")


@router.post(BASE + "/keys", response_class=HTMLResponse)
def generate_key(request: Request, viewer: AdminViewer, mn: str, form: FormFields) -> Response:
    """POST /api/v1/registry/devices/{mn}/keys with no key: the platform draws one, shown this once."""
    checked_form(request, viewer, form)
    request.state.audit_detail = {"mn": mn, "change": "sm4_key"}  # never the key itself
    try:
        with engine_of(request).begin() as conn:
            _device(conn, mn)
            key = add_key(conn, mn, None, utcnow())
    except (InvalidInput, Conflict, NotFound) as exc:
        return device_page(request, viewer, mn, Problem.of("keys", N_("No new key:"), exc, {}))
    return device_page(request, viewer, mn, new_key=key)
