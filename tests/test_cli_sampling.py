"""``envwatch labels print|reprint`` and ``envwatch sampling show|verify|stats|agencies`` as a user runs them
(Typer's runner) on a migrated SQLite data directory with the sampling world of tests/sampling/conftest.py."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from envwatch.cli import app
from envwatch.core.blobs import BlobStore
from envwatch.core.settings import Settings
from envwatch.sampling import labels
from envwatch.sampling.schema import custody_events, samples
from tests.sampling.conftest import SamplingWorld, build_sampling_world, count, mistyped
from tests.sampling.test_stats import story

runner = CliRunner()
DAY = ["--from", "2026-11-23", "--to", "2026-11-24"]


@pytest.fixture
def world(sqlite_engine: Engine) -> SamplingWorld:
    return build_sampling_world(sqlite_engine)


def _data(settings: Settings) -> list[str]:
    return ["--data-dir", str(settings.data_dir)]


def _fresh(world: SamplingWorld, n: int = 2) -> list[str]:
    """``n`` samples registered on site and never printed."""
    with world.engine.begin() as conn:
        return [
            world.register(conn, world.entry(sampler="zhou" if i % 2 else "chen"))["code"] for i in range(n)
        ]


def _prints(world: SamplingWorld, code: str) -> int:
    with world.engine.connect() as conn:
        return int(conn.execute(select(samples.c.prints).where(samples.c.code == code)).scalar_one())


def _events(world: SamplingWorld) -> int:
    with world.engine.connect() as conn:
        return count(conn, custody_events)


def test_print_records_first_prints_and_writes_the_file(
    world: SamplingWorld, settings: Settings, tmp_path: Path
) -> None:
    codes = _fresh(world)
    out = tmp_path / "labels.pdf"
    result = runner.invoke(app, ["labels", "print", *codes, "-o", str(out), "--by", "wzjc", *_data(settings)])
    assert result.exit_code == 0, result.output
    assert f"2 labels printed (first prints recorded by wzjc) → {out} (50x30, pdf)" in result.output
    assert out.read_bytes().startswith(b"%PDF") and [_prints(world, c) for c in codes] == [1, 1]
    with world.engine.connect() as conn:
        printed = conn.execute(
            select(custody_events.c.actor, custody_events.c.staff_id).where(
                custody_events.c.event == "print_label"
            )
        ).all()
    # by default each sample's own sampler printed it
    assert sorted(printed) == sorted([("wzjc", world.staff["chen"]), ("wzjc", world.staff["zhou"])])

    zpl = tmp_path / "labels.zpl"
    [third] = _fresh(world, 1)
    made = runner.invoke(
        app,
        ["labels", "print", third, "--format", "zpl", "--size", "60x40", "-o", str(zpl), *_data(settings)],
    )
    assert made.exit_code == 0, made.output
    assert zpl.read_text().startswith("^XA") and _prints(world, third) == 1


def test_a_refused_code_prints_nothing(world: SamplingWorld, settings: Settings, tmp_path: Path) -> None:
    printed, fresh = _fresh(world)
    runner.invoke(app, ["labels", "print", printed, "-o", str(tmp_path / "first.pdf"), *_data(settings)])
    with world.engine.begin() as conn:
        delivered = world.register_delivered(conn)["code"]
    before = _events(world)
    out = tmp_path / "again.pdf"
    unknown = "330302-WZJC-261123-9999-ABCDEF-0"
    result = runner.invoke(
        app, ["labels", "print", fresh, printed, unknown, delivered, "-o", str(out), *_data(settings)]
    )
    assert result.exit_code == 2
    assert "nothing printed: 3 of 4 codes refused:" in result.output
    assert f"{printed}: the label of {printed} was printed already: a reprint needs a video" in result.output
    assert f"{unknown}: no sample with code {unknown}" in result.output
    assert (
        f"{delivered}: a self-delivered sample has no sampler: name the person with --staff-id"
        in result.output
    )
    assert fresh not in result.output.replace(f"{fresh}:", "")  # the good code is not listed as refused
    assert not out.exists() and _events(world) == before and _prints(world, fresh) == 0
    # named, the receiver prints the self-delivered sample's first label
    ok = runner.invoke(
        app,
        [
            "labels",
            "print",
            delivered,
            "--staff-id",
            str(world.staff["receiver"]),
            "-o",
            str(out),
            *_data(settings),
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert _prints(world, delivered) == 1


def test_print_a_plan_and_bad_options(world: SamplingWorld, settings: Settings, tmp_path: Path) -> None:
    codes = _fresh(world, 3)
    out = tmp_path / "plan.pdf"
    plan = str(world.plan["id"])
    result = runner.invoke(app, ["labels", "print", "--plan", plan, "-o", str(out), *_data(settings)])
    assert result.exit_code == 0, result.output and "3 labels printed" in result.output
    assert [_prints(world, c) for c in codes] == [1, 1, 1]
    again = runner.invoke(app, ["labels", "print", "--plan", plan, "-o", str(out), *_data(settings)])
    assert again.exit_code == 2
    assert (
        f"nothing printed: sampling plan {plan} has no sample whose label was never printed" in again.output
    )
    missing = runner.invoke(app, ["labels", "print", "--plan", "9999", "-o", str(out), *_data(settings)])
    assert missing.exit_code == 2 and "no sampling plan with id 9999" in missing.output
    for args, message in (
        ([], "give sample codes or --plan ID"),
        ([codes[0], "--plan", plan], "give sample codes or --plan ID"),
        ([codes[0], codes[0]], f"codes given more than once: {codes[0]}"),
        ([codes[0], "--format", "png"], "--format must be pdf or zpl"),
        ([codes[0], "--size", "99x99"], "unknown label size '99x99'"),
    ):
        bad = runner.invoke(app, ["labels", "print", *args, "-o", str(out), *_data(settings)])
        assert bad.exit_code == 2 and message in bad.output, (args, bad.output)
    nowhere = runner.invoke(
        app, ["labels", "print", codes[0], "-o", str(tmp_path / "no" / "x.pdf"), *_data(settings)]
    )
    assert nowhere.exit_code == 2 and "does not exist" in nowhere.output


def test_printing_a_thousand_labels_shows_progress(
    world: SamplingWorld, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    codes = _fresh(world, 1000)
    calls: list[int] = []
    real = labels.render_pdf

    def counted(
        items: Any, size: str, *, font: Any = None, progress: Callable[[int], None] | None = None
    ) -> bytes:
        assert progress is not None, "the command must pass a progress callback"

        def tick(n: int) -> None:
            calls.append(n)
            progress(n)

        return real(items, size, font=font, progress=tick)

    monkeypatch.setattr(labels, "render_pdf", counted)
    out = tmp_path / "many.pdf"
    result = runner.invoke(
        app, ["labels", "print", "--plan", str(world.plan["id"]), "-o", str(out), *_data(settings)]
    )
    assert result.exit_code == 0, result.output
    assert calls == list(range(1, 1001))
    assert "rendering labels" in result.output and "1000/1000" in result.output
    assert "1000 labels printed" in result.output and _prints(world, codes[-1]) == 1


def test_reprint_keeps_the_video(world: SamplingWorld, settings: Settings, tmp_path: Path) -> None:
    [code] = _fresh(world, 1)
    video = tmp_path / "reprint.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 64)
    out = tmp_path / "reprint.pdf"
    args = [
        "--video",
        str(video),
        "--reason",
        "标签污损",
        "--staff-id",
        str(world.staff["chen"]),
        "-o",
        str(out),
    ]
    never = runner.invoke(app, ["labels", "reprint", code, *args, *_data(settings)])
    assert never.exit_code == 2 and "was never printed" in never.output
    runner.invoke(app, ["labels", "print", code, "-o", str(tmp_path / "first.pdf"), *_data(settings)])
    result = runner.invoke(app, ["labels", "reprint", code, *args, "--by", "wzjc", *_data(settings)])
    assert result.exit_code == 0, result.output
    assert f"{code}: reprint 1 (print 2) recorded by wzjc" in result.output
    assert out.read_bytes().startswith(b"%PDF") and _prints(world, code) == 2
    with world.engine.connect() as conn:
        sha = conn.execute(
            select(custody_events.c.video_sha256).where(custody_events.c.event == "reprint")
        ).scalar_one()
    assert BlobStore.from_settings(settings).get(sha) == video.read_bytes()
    text = tmp_path / "notes.txt"
    text.write_text("not a video")
    refused = runner.invoke(app, ["labels", "reprint", code, *args[:-4], "--video", str(text), "--staff-id", "1", "-o", str(out), *_data(settings)])  # fmt: skip
    assert refused.exit_code == 2 and "is not a video file" in refused.output


def test_show_and_verify(world: SamplingWorld, settings: Settings) -> None:
    codes = story(world)
    shown = runner.invoke(app, ["sampling", "show", codes["live"], *_data(settings)])
    assert shown.exit_code == 0, shown.output
    assert codes["live"] in shown.output and "温州检测 (WZJC)" in shown.output and "甲化工" in shown.output
    for event in ("register", "print_label", "reprint", "dispatch", "hand_over", "receive", "open"):
        assert event in shown.output
    assert "next        analyse" in shown.output
    as_json = json.loads(
        runner.invoke(app, ["sampling", "show", codes["skewed"], "--json", *_data(settings)]).output
    )
    assert as_json["needs_review"] is True and as_json["custody"][0]["flags"] == ["clock_skew"]

    verified = runner.invoke(
        app, ["sampling", "verify", f"https://envwatch.example/v/{codes['rejected']}", *_data(settings)]
    )
    assert verified.exit_code == 0, verified.output
    assert f"{codes['rejected']}: authentic, issued 2026-11-23 by 温州检测; state rejected" in verified.output
    assert "陈采样" not in verified.output and "封条破损" not in verified.output  # nothing private
    forged = runner.invoke(app, ["sampling", "verify", mistyped(codes["live"]), *_data(settings)])
    assert forged.exit_code == 1 and "NOT AUTHENTIC" in forged.output
    missing = runner.invoke(app, ["sampling", "show", "330302-WZJC-261123-9999-ABCDEF-0", *_data(settings)])
    assert missing.exit_code == 2 and "no sample with code" in missing.output


def test_stats_and_agencies(world: SamplingWorld, settings: Settings, tmp_path: Path) -> None:
    story(world)
    book = tmp_path / "credit.xlsx"
    result = runner.invoke(app, ["sampling", "stats", *DAY, "--xlsx", str(book), *_data(settings)])
    assert result.exit_code == 0, result.output
    wz = next(line for line in result.output.splitlines() if "温州检测" in line)
    cells = [c.strip() for c in wz.strip("│ ").split("│")]
    assert cells == [
        "温州检测",
        "WZJC",
        "6",
        "5",
        "1",
        "3 (60.0)",
        "1",
        "1",
        "2 (33.3)",
        "2 (33.3)",
        "1 (16.7)",
        "2",
        cells[-1],
    ]
    assert f"workbook → {book}" in result.output
    sheet = load_workbook(io.BytesIO(book.read_bytes())).active
    assert sheet is not None and [r[0] for r in sheet.iter_rows(min_row=3, values_only=True)] == [
        "杭州检测", "温州检测", "合计 total",
    ]  # fmt: skip
    body = json.loads(runner.invoke(app, ["sampling", "stats", *DAY, "--json", *_data(settings)]).output)
    assert body["totals"]["reprints"] == 2 and body["from"] == "2026-11-23"
    bad = runner.invoke(
        app, ["sampling", "stats", "--from", "23.11.2026", "--to", "2026-11-24", *_data(settings)]
    )
    assert bad.exit_code == 2 and "--from must be a day YYYY-MM-DD" in bad.output
    one = runner.invoke(app, ["sampling", "stats", "--from", "2026-11-23", *_data(settings)])
    assert one.exit_code == 2 and "give both from and to" in one.output

    listed = runner.invoke(app, ["sampling", "agencies", "--json", *_data(settings)])
    assert listed.exit_code == 0, listed.output
    rows = {r["code"]: r for r in json.loads(listed.output)}
    assert set(rows) == {"WZJC", "HZJC", "XXJC"} and rows["XXJC"]["active"] is False
    assert rows["HZJC"]["samplers"] == 1 and rows["WZJC"]["samplers"] == 8
    table = runner.invoke(app, ["sampling", "agencies", *_data(settings)])
    assert table.exit_code == 0 and "温州检测" in table.output and "停业检测" in table.output
