"""Scanning a label (/sampling/scan): camera or handheld scanner opens the sample (扫码).

Two ways in, one rule: a handheld scanner "types" the code and Enter into the autofocused field, or the
phone's camera reads the QR code (``static/sampling-scan.js``: the browser's BarcodeDetector where there is
one, else the vendored jsQR over camera frames) and fills in the same field. Either way the form GETs
``/sampling/scan?code=…``; the server reads the code with :func:`envwatch.sampling.codes.parse` (a whole
verification URL from a QR gives its code, lower case is fine) and redirects to the sample page, or shows
the form again with what is wrong in words (not a code, check character wrong, no such date).

Roles: those with a sampling scope (admin, regulator, enterprise, agency). Whether the viewer may see the
sample is the sample page's business (404 like a missing one).
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from envwatch.core.errors import InvalidInput
from envwatch.sampling.codes import parse
from envwatch.web.pages.i18n import N_, locale_of, translations
from envwatch.web.pages.render import render
from envwatch.web.pages.sampling_common_view import SAMPLING_ROLES
from envwatch.web.pages.session import CurrentViewer
from envwatch.web.pages.verify_page import MAX_CODE_CHARS, code_problem

router = APIRouter(include_in_schema=False)

JSQR = "/static/vendor/jsqr/jsQR.js"  # loaded by the script only when the browser has no BarcodeDetector

SCRIPT_TEXTS: dict[str, str] = {
    "starting": N_("Starting the camera…"),
    "looking": N_("Hold the label's QR code in the frame."),
    "found": N_("Read: {code}"),
    "no_camera": N_(
        "This browser cannot use a camera here (it needs HTTPS and a camera): type or scan the code."
    ),
    "denied": N_("The camera could not be opened (permission refused or in use): type or scan the code."),
    "decoder": N_("The QR decoder could not be loaded: type or scan the code."),
}


@router.get("/sampling/scan", response_class=HTMLResponse)
def scan_page(request: Request, viewer: CurrentViewer, code: str = "") -> Response:
    if viewer.principal.role not in SAMPLING_ROLES:
        raise HTTPException(403, f"role {viewer.principal.role} has no samples")
    typed = code.strip()[:MAX_CODE_CHARS]
    problem = None
    if typed:
        try:
            found = parse(typed)
        except InvalidInput as exc:
            problem = code_problem(exc.message)
        else:
            return RedirectResponse("/sampling/samples/" + quote(str(found), safe=""), status_code=303)
    gettext = translations(locale_of(request)).gettext
    return render(
        request,
        "sampling_scan.html",
        422 if problem else 200,
        viewer=viewer,
        typed=typed,
        problem=problem,
        jsqr=JSQR,
        texts={key: gettext(msgid) for key, msgid in SCRIPT_TEXTS.items()},
    )
