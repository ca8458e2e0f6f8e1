"""``envwatch evidence videos``: video records (视频记录, WZ-A1) from the command line.

- ``upload FILE --server URL --token TOKEN --stage STAGE --start T --end T ...``: sends the file to a
  running server with the tus protocol (``tuspy``, the tus project's Python client: it speaks exactly the
  protocol the server implements and can resume from a stored upload URL), in chunks of ``--chunk-size``
  bytes (8 MiB) with a progress bar, then finishes the record and prints its id and SHA-256. Resumable: the
  upload URL is kept in ``~/.cache/envwatch/video-uploads.json`` (``--state``) under the file's path, size
  and modification time, so running the same command again after an interruption asks the server for its
  offset and continues from there; a file already finished is not sent twice.
- ``search [--sample CODE] [--enterprise ID] [--agency ID] [--staff ID] [--stage S] [--from T --to T]`` and
  ``show ID``: read the store directly (the machine's administrator, no scope), like ``envwatch sampling``.

Each read takes ``--json``.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from envwatch.cli.common import DataDir, Json, _fail, china_time, print_json, read_store

videos_app = typer.Typer(help="video records (视频记录, WZ-A1): upload, search, show", no_args_is_help=True)

CHUNK = 8 * 1024 * 1024
UPLOADS_PATH = "/api/v1/evidence/uploads"
VIDEOS_PATH = "/api/v1/evidence/videos"


def default_state() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "envwatch" / "video-uploads.json"


class UploadState:
    """The upload URL (and, once finished, the record id) of each file, in a small JSON file.

    It is tuspy's URL storage (``get_item``/``set_item``/``remove_item``), keyed by :meth:`key`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @staticmethod
    def key(file: Path, server: str) -> str:
        st = file.stat()
        return f"{server.rstrip('/')}|{file.resolve()}|{st.st_size}|{st.st_mtime_ns}"

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    def _save(self, data: dict[str, dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, self.path)

    def get(self, key: str) -> dict[str, Any]:
        return self._load().get(key, {})

    def put(self, key: str, **values: Any) -> None:
        data = self._load()
        data[key] = data.get(key, {}) | values
        self._save(data)

    def forget(self, key: str) -> None:
        data = self._load()
        data.pop(key, None)
        self._save(data)

    # tuspy's Storage interface
    def get_item(self, key: str) -> str | None:
        url = self.get(key).get("url")
        return str(url) if url else None

    def set_item(self, key: str, url: str) -> None:
        self.put(key, url=url)

    def remove_item(self, key: str) -> None:
        self.forget(key)


class FixedKey:
    """tuspy fingerprinter answering the state key (path + size + mtime) instead of hashing the file."""

    def __init__(self, key: str) -> None:
        self._key = key

    def get_fingerprint(self, fs: IO[bytes]) -> str:
        return self._key


class KeptOpen:
    """The file as tuspy reads it. Given a path, tuspy leaves the files it opens unclosed; given a stream,
    it closes it after fingerprinting (``with stream:``), so it gets this view whose closing is a no-op and
    the command closes the real file."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle

    def read(self, size: int = -1) -> bytes:
        return self._handle.read(size)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._handle.seek(offset, whence)

    def tell(self) -> int:
        return self._handle.tell()

    def __enter__(self) -> KeptOpen:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _uploader(
    server: str, token: str, stream: KeptOpen, name: str, chunk: int, state: UploadState, key: str
) -> Any:
    from tusclient.client import TusClient
    from tusclient.exceptions import TusCommunicationError

    client = TusClient(server.rstrip("/") + UPLOADS_PATH, headers={"Authorization": f"Bearer {token}"})
    options: dict[str, Any] = {
        "file_stream": stream,  # ours, closed by the caller (given a path, tuspy leaves files open)
        "chunk_size": chunk,
        "metadata": {"filename": name},
        "store_url": True,
        "url_storage": state,
        "fingerprinter": FixedKey(key),
        "retries": 3,
        "retry_delay": 2,
    }
    try:
        return client.uploader(**options)  # asks the server for the offset of a stored upload
    except TusCommunicationError as exc:
        if exc.status_code not in (404, 410):  # the server is unreachable, say: keep the URL for next time
            raise
        # expired (410) or unknown to the server (404): start again
        typer.echo(f"the earlier upload cannot be resumed ({exc.status_code}): starting a new one", err=True)
        state.forget(key)
        return client.uploader(**options)


def _send(uploader: Any, size: int) -> str:
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    if uploader.url and uploader.offset:
        typer.echo(f"resuming at byte {uploader.offset} of {size}")
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    ) as progress:
        task = progress.add_task("upload", total=size, completed=uploader.offset)
        if not uploader.url:
            uploader.set_url(uploader.create_url())
            uploader.offset = 0
        while uploader.offset < size:
            uploader.upload_chunk()
            progress.update(task, completed=uploader.offset)
    return str(uploader.url)


def _finish(server: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    import requests

    try:  # the server hashes the whole file before it answers: a long timeout
        response = requests.post(
            server.rstrip("/") + VIDEOS_PATH,
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=3600,
        )
    except requests.RequestException as exc:
        _fail(f"the record could not be made ({exc}): run the same command again to finish it")
        raise  # not reached: _fail exits
    if response.status_code not in (200, 201):
        try:
            detail = response.json().get("detail")
        except ValueError:
            detail = response.text
        _fail(f"the server refused the record ({response.status_code}): {detail}")
    result: dict[str, Any] = response.json()
    return result


@videos_app.command("upload")
def upload(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="the video file")],
    server: Annotated[str, typer.Option(envvar="ENVWATCH_SERVER", help="e.g. https://envwatch.example")],
    token: Annotated[str, typer.Option(envvar="ENVWATCH_TOKEN", help="an API token with the video right")],
    stage: Annotated[str, typer.Option(help="equipment, sampling, transport, handover or analysis")],
    start: Annotated[str, typer.Option(help="recording start, ISO 8601 (no offset = China time)")],
    end: Annotated[str, typer.Option(help="recording end, ISO 8601 (no offset = China time)")],
    sample: Annotated[list[str] | None, typer.Option(help="a sample code shown (repeat)")] = None,
    staff: Annotated[list[int] | None, typer.Option(help="an agency staff id shown (repeat)")] = None,
    device_number: Annotated[list[str] | None, typer.Option(help="a device number shown (repeat)")] = None,
    lat: Annotated[Decimal | None, typer.Option(help="latitude (WGS-84), with --lon")] = None,
    lon: Annotated[Decimal | None, typer.Option(help="longitude (WGS-84), with --lat")] = None,
    landmark: Annotated[str, typer.Option(help="the landmark filmed before sampling")] = "",
    annotation: Annotated[str, typer.Option(help="a text note (文字注释)")] = "",
    agency: Annotated[int | None, typer.Option(help="admin only: the agency the video is of")] = None,
    enterprise: Annotated[int | None, typer.Option(help="the enterprise filmed at")] = None,
    plan: Annotated[int | None, typer.Option(help="the sampling plan")] = None,
    chunk_size: Annotated[int, typer.Option(min=64 * 1024, help="bytes per PATCH request")] = CHUNK,
    state: Annotated[Path | None, typer.Option(help="where upload URLs are kept for resuming")] = None,
) -> None:
    """Upload a video (resumable) and record it (视频上传)."""
    from tusclient.exceptions import TusCommunicationError, TusUploadFailed

    store = UploadState(state or default_state())
    key = store.key(file, server)
    done = store.get(key).get("video_id")
    if done is not None:
        typer.echo(f"{file} was already recorded as video record {done}")
        return
    size = file.stat().st_size
    try:
        with file.open("rb") as stream:
            url = _send(_uploader(server, token, KeptOpen(stream), file.name, chunk_size, store, key), size)
    except (TusCommunicationError, TusUploadFailed) as exc:
        _fail(f"upload interrupted ({exc}): run the same command again to resume")
        return
    body: dict[str, Any] = {
        "upload_id": url.rstrip("/").rsplit("/", 1)[-1],
        "stage": stage,
        "recorded_start": start,
        "recorded_end": end,
        "sample_codes": sample or [],
        "staff_ids": staff or [],
        "device_numbers": device_number or [],
        "landmark": landmark,
        "annotation": annotation,
        "agency_id": agency,
        "enterprise_id": enterprise,
        "plan_id": plan,
        "latitude": None if lat is None else str(lat),
        "longitude": None if lon is None else str(lon),
    }
    record = _finish(server, token, body)
    store.put(key, video_id=record["id"])
    typer.echo(f"video record {record['id']}  SHA-256 {record['blob_sha256']}  ({record['size']} bytes)")


@videos_app.command("search")
def search_cmd(
    sample: Annotated[str | None, typer.Option(help="a sample code")] = None,
    enterprise: Annotated[int | None, typer.Option(help="enterprise id")] = None,
    agency: Annotated[int | None, typer.Option(help="agency id")] = None,
    staff: Annotated[int | None, typer.Option(help="agency staff id")] = None,
    stage: Annotated[str | None, typer.Option(help="the stage")] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="recording overlaps [from, to) (China time)")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="ISO 8601; no offset = China time")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 100,
    as_json: Json = False,
    data_dir: DataDir = None,
) -> None:
    """Find video records (视频检索)."""
    from rich.console import Console
    from rich.table import Table

    from envwatch.evidence.video_search import search

    since, until = _time("--from", from_), _time("--to", to)

    def reader(conn: Any) -> tuple[int, list[dict[str, Any]]]:
        return search(
            conn, agency_ids=None, enterprise_ids=None, sample_code=sample, enterprise_id=enterprise,
            agency_id=agency, staff_id=staff, stage=stage, since=since, until=until, limit=limit,
        )  # fmt: skip

    total, rows = read_store(data_dir, reader)
    if as_json:
        print_json({"total": total, "rows": rows})
        return
    table = Table(title=f"video records 视频记录 ({len(rows)} of {total})")
    for column in ("id", "stage", "agency", "enterprise", "recorded (China)", "bytes", "SHA-256"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            str(r["id"]),
            f"{r['stage']} {r['stage_name']}",
            r["agency_name"],
            r["enterprise_name"] or "—",
            f"{china_time(r['recorded_start'])} – {china_time(r['recorded_end'])}",
            str(r["size"]),
            r["blob_sha256"][:16] + "…",
        )
    Console().print(table)


def _time(name: str, text: str | None) -> datetime | None:
    from fastapi import HTTPException

    from envwatch.web.api.common import parse_time

    try:
        return parse_time(name, text)
    except HTTPException as exc:
        _fail(str(exc.detail))
        return None


@videos_app.command("show")
def show(
    video_id: Annotated[int, typer.Argument(help="the video record id")],
    as_json: Json = False,
    data_dir: DataDir = None,
) -> None:
    """One video record: metadata, sample codes, staff, annotations, digests, evidence entry."""
    from envwatch.evidence.video_search import detail

    record = read_store(data_dir, lambda conn: detail(conn, video_id))
    if as_json:
        print_json(record)
        return
    blob = record["blob"] or {}
    place = record["landmark"] or (
        f"{record['latitude']}, {record['longitude']}" if record["latitude"] is not None else "—"
    )
    staff = [f"{s['name']} ({s['id']})" for s in record["staff"]]
    lines = [
        f"video record {record['id']}  {record['stage']} {record['stage_name']}  {record['file_name']}",
        f"agency      {record['agency_name']}   enterprise {record['enterprise_name'] or '—'}",
        f"recorded    {china_time(record['recorded_start'])} – {china_time(record['recorded_end'])}  at {place}",
        f"archived    {china_time(record['archived_at'])} by {record['uploaded_by']}",
        f"samples     {', '.join(record['sample_codes']) or '—'}",
        f"staff       {', '.join(staff) or '—'}",
        f"devices     {', '.join(record['device_numbers']) or '—'}",
        f"file        {record['media_type']}, {record['size']} bytes",
        f"SHA-256     {record['blob_sha256']}",
        f"SM3         {blob.get('sm3', '—')}",
        f"evidence    entry {record['evidence_entry_id']}",
    ]
    if record["annotation"]:
        lines.append(f"note        {record['annotation']}")
    for a in record["annotations"]:
        at = f" @{a['at_second']}s" if a["at_second"] is not None else ""
        lines.append(f"annotation  {china_time(a['created_at'])} {a['created_by']}{at}: {a['text']}")
    typer.echo("\n".join(lines))
