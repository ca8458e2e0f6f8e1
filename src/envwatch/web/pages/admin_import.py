"""Registry import and export pages (登记信息导入导出): /admin/registry/import and /admin/registry/export.

The same code as ``envwatch registry import|export`` (``registry.transfer``): the upload is first checked
with ``dry_run=True`` (everything applied in a transaction that is rolled back), which lists every bad row
as "sheet X, row N: …" or the counts that would be created/updated; a confirm button then imports the
same file, all or nothing. Between the two steps the upload waits in ``<data_dir>/admin-imports/<token>/``
(a random token in the confirm form; removed after the import, and uploads older than a day are swept).
The export is the workbook the CLI writes; it holds SM4 keys and device passwords, so it is audited and
never cached.
"""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
import time
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as StarletteUpload

from envwatch.core.clock import to_china, utcnow
from envwatch.core.errors import InvalidInput
from envwatch.registry.transfer import ImportReport, export_registry, import_registry
from envwatch.registry.transfer_files import SHEETS
from envwatch.web.api.common import engine_of, settings_of
from envwatch.web.pages.admin_common import AdminViewer, admin_viewer, checked_form
from envwatch.web.pages.admin_sections import TABS
from envwatch.web.pages.i18n import N_
from envwatch.web.pages.render import render
from envwatch.web.pages.session import Viewer

router = APIRouter(include_in_schema=False, dependencies=[Depends(admin_viewer)])

MAX_UPLOAD = 20 * 1024 * 1024  # bytes in all: a registry of thousands of devices is a few MB
KEEP_UPLOADS_S = 24 * 3600
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_TOKEN = re.compile(r"[0-9a-f]{32}")
_SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")


def _uploads(request: Request) -> Path:
    return settings_of(request).data_dir / "admin-imports"


def _sweep(root: Path) -> None:
    """Forget uploads nobody confirmed (a day is plenty to read a dry-run)."""
    if not root.is_dir():
        return
    cutoff = time.time() - KEEP_UPLOADS_S
    for old in root.iterdir():
        if old.is_dir() and old.stat().st_mtime < cutoff:
            shutil.rmtree(old, ignore_errors=True)


def _file_name(upload: StarletteUpload) -> str:
    """The uploaded file's own name (the csv import reads the sheet from it), refused unless plain."""
    name = Path(upload.filename or "").name
    if not _SAFE_NAME.fullmatch(name):
        raise InvalidInput(
            f"file name {name!r}: use letters, digits, _ . - only (e.g. registry.xlsx, outlets.csv)"
        )
    suffix = Path(name).suffix.lower()
    if suffix not in (".xlsx", ".xlsm", ".csv"):
        raise InvalidInput(f"{name}: give an .xlsx workbook or <sheet>.csv files ({', '.join(SHEETS)})")
    return name


async def _store(request: Request, uploads: list[StarletteUpload]) -> str:
    """Save the upload under a fresh token (its folder holds the files under their own names)."""
    if not uploads:
        raise InvalidInput("choose a file to import")
    names = [_file_name(u) for u in uploads]
    workbooks = [n for n in names if not n.lower().endswith(".csv")]
    if workbooks and len(names) > 1:
        raise InvalidInput("give one .xlsx workbook, or one or more <sheet>.csv files, not both")
    root = _uploads(request)
    _sweep(root)
    token = secrets.token_hex(16)
    target = root / token
    target.mkdir(parents=True, mode=0o700)
    total = 0
    for upload, name in zip(uploads, names, strict=True):
        data = await upload.read()
        total += len(data)
        if total > MAX_UPLOAD:
            shutil.rmtree(target, ignore_errors=True)
            raise InvalidInput(f"the upload is larger than {MAX_UPLOAD // (1024 * 1024)} MB")
        (target / name).write_bytes(data)
    return token


def _source(request: Request, token: str) -> tuple[Path, str]:
    """What ``import_registry`` reads for a token: the workbook, or the directory of csv files."""
    if not _TOKEN.fullmatch(token):
        raise InvalidInput("the checked upload is unknown: upload the file again")
    folder = _uploads(request) / token
    files = sorted(folder.iterdir()) if folder.is_dir() else []
    if not files:
        raise InvalidInput(
            "the checked upload is gone (imported, or older than a day): upload the file again"
        )
    shown = ", ".join(f.name for f in files)
    if len(files) == 1 and files[0].suffix.lower() != ".csv":
        return files[0], shown
    return folder, shown


def _problems(exc: InvalidInput, source: Path, shown: str) -> list[str]:
    """The import's problems, one per line, with the temporary path replaced by the uploaded name."""
    lines = exc.message.replace(str(source), shown).split("\n")
    # the first line of a multi-line refusal is the "N problem(s), nothing imported" heading
    return lines[1:] if len(lines) > 1 else lines


def _counts(report: ImportReport) -> list[tuple[str, int, int, int, int]]:
    return [(sheet, c.created, c.updated, c.unchanged, c.skipped) for sheet, c in report.counts.items()]


def _page(request: Request, viewer: Viewer, status: int = 200, **context: object) -> Response:
    defaults: dict[str, object] = {
        "problems": [],
        "counts": [],
        "token": "",
        "file_name": "",
        "done": False,
        "lead": "",
        "keys_added": 0,
    }
    return render(
        request,
        "admin_import.html",
        status,
        viewer=viewer,
        tabs=TABS,
        sheets=list(SHEETS),
        **(defaults | context),
    )


@router.get("/admin/registry/import", response_class=HTMLResponse)
def import_form(request: Request, viewer: AdminViewer) -> Response:
    return _page(request, viewer)


@router.post("/admin/registry/import", response_class=HTMLResponse)
async def check_upload(request: Request, viewer: AdminViewer) -> Response:
    """Step 1: store the upload and run the import as a dry run."""
    async with request.form() as form:  # closes the spooled upload files afterwards
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        checked_form(request, viewer, fields)
        uploads = [f for f in form.getlist("file") if isinstance(f, StarletteUpload) and f.filename]
        try:
            token = await _store(request, uploads)
        except InvalidInput as exc:
            return _page(request, viewer, 422, problems=[exc.message], lead=N_("The file was not accepted:"))
    return await _run(request, viewer, token, dry_run=True)


@router.post("/admin/registry/import/confirm", response_class=HTMLResponse)
async def confirm_import(request: Request, viewer: AdminViewer) -> Response:
    """Step 2: import the checked upload for real (all or nothing), then forget it."""
    async with request.form() as form:
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
    checked_form(request, viewer, fields)
    return await _run(request, viewer, fields.get("token", ""), dry_run=False)


async def _run(request: Request, viewer: Viewer, token: str, *, dry_run: bool) -> Response:
    request.state.audit_detail = {"dry_run": dry_run}
    try:
        source, shown = _source(request, token)
    except InvalidInput as exc:
        return _page(request, viewer, 422, problems=[exc.message], lead=N_("The file was not accepted:"))
    try:
        report = await run_in_threadpool(
            import_registry, engine_of(request), source, utcnow(), dry_run=dry_run
        )
    except InvalidInput as exc:
        shutil.rmtree(_uploads(request) / token, ignore_errors=True)  # a bad file is not confirmed later
        problems = _problems(exc, source, shown)
        request.state.audit_detail = {"dry_run": dry_run, "problems": len(problems)}
        lead = N_("The file has problems, nothing was imported:")
        return _page(request, viewer, 422, problems=problems, file_name=shown, lead=lead)
    if not dry_run:
        shutil.rmtree(_uploads(request) / token, ignore_errors=True)
    request.state.audit_detail = {"dry_run": dry_run, "file": shown[:200]}
    return _page(
        request,
        viewer,
        counts=_counts(report),
        keys_added=report.keys_added,
        token=token if dry_run else "",
        file_name=shown,
        done=not dry_run,
    )


@router.get("/admin/registry/export")
def export(request: Request, _viewer: AdminViewer) -> Response:
    """The whole registry as the CLI's workbook (SM4 keys and device passwords included)."""
    request.state.audit_read = True  # a read, but it hands out secrets: recorded like a write
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "registry.xlsx"
        export_registry(engine_of(request), path)
        data = path.read_bytes()
    name = f"registry-{to_china(utcnow()):%Y%m%d-%H%M}.xlsx"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
    return Response(data, media_type=XLSX_TYPE, headers=headers)
