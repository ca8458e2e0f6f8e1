"""``envwatch labels``: print sample labels (识别标识码, WZ-A2-7/8) as PDF or ZPL.

- ``print CODE... | --plan ID``: the **first** print of each sample (``print_label``), recorded for every
  code in one transaction: when any code is refused (unknown, printed already, no person to print it…)
  nothing is recorded or written and every refused code is listed with its reason. The labels are rendered
  inside that transaction with a progress bar, so a rendering error records nothing either; the file is
  written once the prints are committed. ``--plan`` takes the plan's samples never printed, in code order.
  The person printing is ``--staff-id``, by default each sample's sampler.
- ``reprint CODE --video FILE --reason TEXT --staff-id N``: a reprint (补打) needs the video of the whole
  reprint (WZ-A2-8); the video goes into the blob store, the reprint is recorded with its SHA-256 and the
  label printed "补打 第n次".

The command line is the machine's administrator (no scope), like the other ``envwatch`` commands; ``--by``
names who records it (default ``cli``). Label content: ``sampling.label_data`` (facts on record only).
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from envwatch.cli.common import DataDir, _fail, _prepare, _settings

labels_app = typer.Typer(help="sample labels (识别标识码): print as PDF or ZPL", no_args_is_help=True)

Size = Annotated[str, typer.Option("--size", help="40x30, 50x30, 60x40, 70x50 (thermal rolls) or a4")]
Format = Annotated[str, typer.Option("--format", help="pdf, or zpl for Zebra printers (rolls only)")]
Dpi = Annotated[int, typer.Option("--dpi", help="zpl: the printer head's resolution (203, 300, 600)")]
Output = Annotated[Path, typer.Option("--output", "-o", dir_okay=False, help="the file to write")]
By = Annotated[str, typer.Option("--by", help="who records it (a username)")]


def _check_output(output: Path, size: str, fmt: str, dpi: int) -> None:
    from envwatch.core.errors import InvalidInput
    from envwatch.sampling.label_sizes import label_size

    try:
        label_size(size)
    except InvalidInput as exc:
        _fail(exc.message)
    if fmt not in ("pdf", "zpl"):
        _fail(f"--format must be pdf or zpl, not {fmt!r}")
    if dpi not in (203, 300, 600):
        _fail(f"--dpi must be 203, 300 or 600, not {dpi}")
    if not output.parent.is_dir():
        _fail(f"cannot write {output}: the folder {output.parent} does not exist")


def _render(labels: Sequence[Any], size: str, fmt: str, dpi: int, font: Path | None) -> bytes:
    """The labels as PDF or ZPL, with a progress bar (Rich) while they are drawn."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from envwatch.sampling.labels import render_pdf, render_zpl

    columns = (TextColumn("rendering labels"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns) as bar:
        task = bar.add_task("labels", total=len(labels))
        done: Callable[[int], None] = lambda n: bar.update(task, completed=n)  # noqa: E731
        if fmt == "zpl":
            return render_zpl(labels, size, dpi=dpi, progress=done).encode()
        return render_pdf(labels, size, font=font, progress=done)


def _plan_codes(conn: Any, plan_id: int) -> list[str]:
    from sqlalchemy import select

    from envwatch.sampling.plans import get_plan
    from envwatch.sampling.schema import samples

    get_plan(conn, plan_id)  # NotFound for an unknown plan
    query = select(samples.c.code).where(samples.c.plan_id == plan_id, samples.c.prints == 0)
    codes = list(conn.execute(query.order_by(samples.c.code)).scalars())
    if not codes:
        raise LookupError(f"sampling plan {plan_id} has no sample whose label was never printed")
    return codes


def _record_prints(
    conn: Any, codes: Sequence[str], staff_id: int | None, by: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """Record the first print of each code; the sample rows and the refusals ("CODE: why").

    Every refusal of ``record_step`` is raised by its checks, before it writes, so the loop goes on to
    find them all and the caller rolls the whole transaction back when there is one. (No savepoint per
    code: on SQLite a savepoint opened before the transaction's first write commits when it is released.)"""
    from envwatch.core.clock import utcnow
    from envwatch.core.errors import EnvwatchError
    from envwatch.sampling.reads import sample_row
    from envwatch.sampling.steps import StepInput, record_step

    rows: list[dict[str, Any]] = []
    refused: list[str] = []
    now = utcnow()
    for code in codes:
        try:
            sample = sample_row(conn, code)
            person = staff_id if staff_id is not None else sample["sampler_staff_id"]
            if person is None:
                refused.append(
                    f"{code}: a self-delivered sample has no sampler: name the person with --staff-id"
                )
                continue
            record_step(conn, sample["code"], "print_label", StepInput(staff_id=person), actor=by, now=now)
            rows.append(sample | {"prints": 1})
        except EnvwatchError as exc:
            refused.append(f"{code}: {exc.message}")
    return rows, refused


@labels_app.command("print")
def print_(
    output: Output,
    codes: Annotated[list[str] | None, typer.Argument(help="sample codes (or verification URLs)")] = None,
    plan: Annotated[
        int | None, typer.Option("--plan", help="every never-printed sample of this plan")
    ] = None,
    size: Size = "50x30",
    fmt: Format = "pdf",
    dpi: Dpi = 203,
    staff_id: Annotated[
        int | None, typer.Option("--staff-id", help="the person printing (default: each sample's sampler)")
    ] = None,
    by: By = "cli",
    data_dir: DataDir = None,
) -> None:
    """Print labels the first time: all recorded and written, or none (the refused codes are listed)."""
    from envwatch.core.errors import EnvwatchError
    from envwatch.sampling.codes import normalise
    from envwatch.sampling.label_data import label_data

    if bool(codes) == (plan is not None):
        _fail("give sample codes or --plan ID (one of them)")
    _check_output(output, size, fmt, dpi)
    wanted = [normalise(c) for c in codes or []]
    repeated = sorted({c for c in wanted if wanted.count(c) > 1})
    if repeated:
        _fail(f"codes given more than once: {', '.join(repeated)}")
    settings = _settings(data_dir)
    engine = _prepare(settings)
    refused: list[str] = []
    try:
        with engine.begin() as conn:
            if plan is not None:
                wanted = _plan_codes(conn, plan)
            rows, refused = _record_prints(conn, wanted, staff_id, by)
            if refused:
                raise LookupError("refused")  # roll every print back
            labels = label_data(conn, rows, public_base_url=settings.public_base_url)
            content = _render(labels, size, fmt, dpi, settings.sampling_label_font)
    except EnvwatchError as exc:
        _fail(f"nothing printed: {exc.message}")
        return
    except LookupError as exc:
        if not refused:
            _fail(f"nothing printed: {exc}")
            return
        _fail(f"nothing printed: {len(refused)} of {len(wanted)} codes refused:\n  " + "\n  ".join(refused))
        return
    finally:
        engine.dispose()
    output.write_bytes(content)
    typer.echo(f"{len(rows)} labels printed (first prints recorded by {by}) → {output} ({size}, {fmt})")


def _video(path: Path) -> bytes:
    kind, _encoding = mimetypes.guess_type(path.name)
    if kind is None or not kind.startswith("video/"):
        _fail(f"{path} is not a video file (.mp4, .mov, .webm …): a reprint needs the video of the reprint")
    content = path.read_bytes()
    if not content:
        _fail(f"{path} is empty: a reprint needs the video of the whole reprint (WZ-A2-8)")
    return content


@labels_app.command("reprint")
def reprint(
    output: Output,
    code: Annotated[str, typer.Argument(help="the sample code (or its verification URL)")],
    video: Annotated[
        Path, typer.Option("--video", exists=True, dir_okay=False, help="the video of the whole reprint")
    ],
    reason: Annotated[str, typer.Option("--reason", help="why: damaged, unreadable …")],
    staff_id: Annotated[int, typer.Option("--staff-id", help="the person reprinting")],
    size: Size = "50x30",
    fmt: Format = "pdf",
    dpi: Dpi = 203,
    by: By = "cli",
    data_dir: DataDir = None,
) -> None:
    """Reprint a label (补打, WZ-A2-8): the video is kept, the reprint recorded, the label marked 补打."""
    from envwatch.core.blob_records import media_type_of_name, record_blob
    from envwatch.core.blobs import BlobStore
    from envwatch.core.clock import utcnow
    from envwatch.core.errors import EnvwatchError
    from envwatch.sampling.label_data import label_data, reprint_of
    from envwatch.sampling.reads import sample_row
    from envwatch.sampling.steps import record_reprint

    _check_output(output, size, fmt, dpi)
    content = _video(video)
    settings = _settings(data_dir)
    engine = _prepare(settings)
    try:
        with engine.connect() as conn:
            sample_row(conn, code)  # NotFound before the video is stored
        stored = BlobStore.from_settings(settings).put(content, purpose="reprint_video")
        with engine.begin() as conn:
            now = utcnow()
            event = record_reprint(
                conn,
                code,
                staff_id=staff_id,
                video_sha256=stored.sha256,
                reason=reason,
                actor=by,
                now=now,
            )
            record_blob(
                conn, stored, purpose="reprint_video", media_type=media_type_of_name(video.name),
                stored_by=by, now=now, settings=settings,
            )  # fmt: skip
            sample = sample_row(conn, code)
            number = int(event["details"]["print"])
            labels = label_data(
                conn,
                [sample],
                public_base_url=settings.public_base_url,
                reprints={sample["code"]: reprint_of(number)},
            )
            rendered = _render(labels, size, fmt, dpi, settings.sampling_label_font)
    except EnvwatchError as exc:
        _fail(f"nothing reprinted: {exc.message}")
        return
    finally:
        engine.dispose()
    output.write_bytes(rendered)
    typer.echo(
        f"{sample['code']}: reprint {reprint_of(number)} (print {number}) recorded by {by}, video "
        f"{stored.sha256} → {output}"
    )
