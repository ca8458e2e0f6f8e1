"""Label benchmark: how long printing a batch of sample labels (样品识别标识) takes.

Renders ``--count`` labels (1,000 by default) with distinct codes, QR codes and Chinese fields (a tenth of
them reprints, a tenth with long enterprise names) to one PDF per ``--size`` (50x30 rolls and the A4
sheet by default) and, for roll sizes, to ZPL. Reports the wall and CPU seconds, labels/s, the PDF's size and pages,
and how regularly the progress callback came (the slowest gap between two calls). The font is loaded
once before timing, as a running server has it cached. The target (issue: sampling labels) is 1,000
labels with progress in under a minute.

    .venv/bin/python bench/labels.py                          # 1,000 labels, 50x30 and a4
    .venv/bin/python bench/labels.py --count 200 --size 40x30 --size 70x50

Figures go in docs/sampling/labels.md (Performance). This is a benchmark, not a test: nothing asserts a
speed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from envwatch.sampling.label_sizes import LABEL_SIZES
from envwatch.sampling.labels import LabelData, render_pdf, render_zpl, resolve_font

ENTERPRISES = (
    "温州市龙湾区永兴化工有限公司",
    "浙江省温州市龙湾区滨海园区某某精细化工股份有限公司第二分厂污水处理站",
    "瓯海电镀园区集中污水处理厂",
    "乐清市某某电器制造有限公司",
)
ITEMS = ("化学需氧量 COD", "氨氮 NH3-N", "总磷 TP", "总铬 Cr", "pH 值", "悬浮物 SS")
PRESERVATIVES = ("硫酸 pH<2", "", "硝酸 pH<2", "氢氧化钠 pH>12")


def batch(count: int) -> list[LabelData]:
    start = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    labels = []
    for i in range(count):
        code = f"330302-WZJC-261123-{i // 100:04d}-{i:06X}-Q"
        labels.append(
            LabelData(
                code=code,
                verify_url=f"https://envwatch.example.cn/v/{code}",
                enterprise=ENTERPRISES[1] if i % 10 == 0 else ENTERPRISES[i % 4],
                point=f"{i % 7 + 1}号废水排放口",
                item=ITEMS[i % len(ITEMS)],
                sampled_at=start + timedelta(minutes=3 * i),
                sampler=("张三", "李四", "王五 赵六")[i % 3],
                preservative=PRESERVATIVES[i % len(PRESERVATIVES)],
                reprint=1 if i % 10 == 5 else 0,
            )
        )
    return labels


def timed(render: Any, labels: list[LabelData], size: str) -> dict[str, Any]:
    ticks: list[float] = []
    cpu = time.process_time()
    start = time.perf_counter()
    out = render(labels, size, progress=lambda n: ticks.append(time.perf_counter()))
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    gaps = [b - a for a, b in zip([start, *ticks], ticks, strict=False)]
    result: dict[str, Any] = {
        "seconds": round(elapsed, 2),
        "cpu_seconds": round(cpu, 2),  # less sensitive than wall time to other jobs on the machine
        "labels_per_s": round(len(labels) / elapsed, 1),
        "progress_calls": len(ticks),
        "slowest_progress_gap_s": round(max(gaps), 3),
        "bytes": len(out.encode() if isinstance(out, str) else out),
    }
    if isinstance(out, bytes):
        result["pages"] = out.count(b"/Type /Page\n") or out.count(b"/Type /Page ")
        result["after_last_label_s"] = round(start + elapsed - ticks[-1], 2)  # assembling and subsetting
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=1000, help="labels per run (default 1000)")
    ap.add_argument(
        "--size",
        action="append",
        choices=list(LABEL_SIZES),
        help="label size, repeatable (default: 50x30 and a4)",
    )
    args = ap.parse_args()
    sizes = args.size or ["50x30", "a4"]
    labels = batch(args.count)
    resolve_font(None)  # load the font once, as a running server has it cached
    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "count": args.count,
    }
    for size in sizes:
        results[f"pdf {size}"] = timed(render_pdf, labels, size)
        if not LABEL_SIZES[size].is_sheet:
            results[f"zpl {size}"] = timed(render_zpl, labels, size)
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
