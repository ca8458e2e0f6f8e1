"""Detector benchmark: every exceedance and anomaly detector over one day of MINUTE data for N devices.

Generates with numpy one day (1,440 minutes) of a gas CEMS for N devices — 9 factors (SO2 a21026, NOx
a21002, PM a34013, O2 a19001, temperature a01012, pressure a01013, velocity a01011, humidity a01014,
flow a00000) plus a production electricity series — with the hourly converted SO2/NOx/PM the store
would hold, and plants known anomalies on a few percent of the devices (exceedance, flat line, flag T,
O2 dilution, 停运 mark over normal flow, power off with flow, jump, negative values, a changed
instrument parameter). Generation is not timed; then it times ``run_all`` over every device in one
process (the target: 5,000 devices in under 30 s on 2 cores) and prints JSON (devices, factors,
detections by kind, seconds, ms per device).

    .venv/bin/python bench/detect.py --devices 5000
    .venv/bin/python bench/detect.py --devices 5000 --out bench/results/detect.json
    .venv/bin/python bench/detect.py --devices 0 --offline-devices 100000    # the offline watcher's round

Figures go in README.md (Performance). This is a benchmark, not a test: nothing asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from envwatch.alarms.detectors import (
    DetectorThresholds,
    DeviceInputs,
    FactorLimits,
    FactorSeries,
    ParameterReading,
    run_all,
)

MINUTES = 1440
HOURS = 24
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY_START = datetime(2026, 7, 1, 16, 0, tzinfo=UTC)  # 2026-07-02 00:00 China time
POWER = "i33200"


@dataclass(frozen=True)
class Factor:
    code: str
    level: float
    noise: float
    full_scale: float | None = None
    detection_limit: float | None = None
    hour_limit: float | None = None


FACTORS = (
    Factor("a21026", 20.0, 3.0, 100.0, 3.0, 35.0),  # SO2 mg/m³ (converted ≈ 25 at 9 % O2)
    Factor("a21002", 30.0, 5.0, 200.0, 3.0, 50.0),  # NOx mg/m³
    Factor("a34013", 5.0, 1.0, 20.0, 0.3, 10.0),  # PM mg/m³
    Factor("a19001", 9.0, 0.8, 25.0),  # O2 %
    Factor("a01012", 50.0, 2.0),  # flue temperature °C
    Factor("a01013", -0.2, 0.05),  # static pressure kPa
    Factor("a01011", 10.0, 0.5),  # velocity m/s
    Factor("a01014", 10.0, 0.5),  # humidity %
    Factor("a00000", 100.0, 5.0),  # flow m³/s
)
POLLUTANTS = ("a21026", "a21002", "a34013")
INDEX = {f.code: i for i, f in enumerate(FACTORS)}
REFERENCE_O2 = 6.0
FLAGS_N: tuple[str | None, ...] = ("N",) * MINUTES
PLANTS = (
    "exceedance",
    "constant",
    "flag_t",
    "o2_dilution",
    "stop_mark",
    "power_off",
    "jump",
    "negative",
    "parameter",
)


def minute_slice(hour_from: int, hour_to: int) -> slice:
    return slice(hour_from * 60, hour_to * 60)


def generate(devices: int, seed: int) -> tuple[list[DeviceInputs], Counter[str]]:
    """One day of minute data per device, with anomalies planted on 9 devices in 30 (one kind each)."""
    rng = np.random.default_rng(seed)
    levels = np.array([f.level for f in FACTORS])[:, None]
    noise = np.array([f.noise for f in FACTORS])[:, None]
    valid = np.ones(MINUTES, dtype=np.bool_)
    valid_hours = np.ones(HOURS, dtype=np.bool_)
    limits = {
        f.code: FactorLimits(
            hour_limit=f.hour_limit, detection_limit=f.detection_limit, full_scale=f.full_scale
        )
        for f in FACTORS
    }
    registered = {"a21026": {"i13008": 1.0, "i13007": 0.0}}
    planted: Counter[str] = Counter()
    out = []
    for device in range(devices):
        data = np.round(levels + noise * rng.standard_normal((len(FACTORS), MINUTES)), 2)
        power = np.round(500.0 + 20.0 * rng.standard_normal(MINUTES), 1)
        flags: dict[str, tuple[str | None, ...]] = {}
        marked: tuple[str | None, ...] = ()
        reported: tuple[ParameterReading, ...] = ()
        plant = PLANTS[device % 10] if device % 10 < len(PLANTS) and (device // 10) % 3 == 0 else None
        if plant is not None:
            planted[plant] += 1
        if plant == "exceedance":
            data[INDEX["a21026"], minute_slice(2, 5)] *= 3.0
        elif plant == "constant":
            data[INDEX["a21026"], minute_slice(8, 14)] = 18.5
        elif plant == "flag_t":
            data[INDEX["a21002"], 600:620] = 500.0
            flags["a21002"] = FLAGS_N[:600] + ("T",) * 20 + FLAGS_N[620:]
        elif plant == "o2_dilution":
            data[INDEX["a19001"], minute_slice(10, 13)] = 20.4
        elif plant == "stop_mark":
            marked = ("shutdown",) * 360 + (None,) * (MINUTES - 360)
        elif plant == "power_off":
            power[minute_slice(18, 21)] = 0.0
        elif plant == "jump":
            data[INDEX["a21002"], minute_slice(15, 24)] += 150.0
        elif plant == "negative":
            data[INDEX["a34013"], minute_slice(3, 5)] = -1.0
        elif plant == "parameter":
            reported = (ParameterReading(DAY_START + 7 * HOUR, "a21026", "i13008", 0.53),)
        series = {
            f.code: FactorSeries(
                device, f.code, "gas", DAY_START, MINUTE, data[i], valid, flags.get(f.code, FLAGS_N), marked
            )
            for i, f in enumerate(FACTORS)
        }
        hourly = data.reshape(len(FACTORS), HOURS, 60).mean(axis=2)
        factor_o2 = (21.0 - REFERENCE_O2) / (21.0 - np.minimum(hourly[INDEX["a19001"]], 19.0))
        hour_marks: tuple[str | None, ...] = tuple(marked[h * 60] for h in range(HOURS)) if marked else ()
        averages = {
            code: FactorSeries(
                device,
                code,
                "gas",
                DAY_START,
                HOUR,
                hourly[INDEX[code]] * factor_o2,
                valid_hours,
                (),
                hour_marks,
            )
            for code in POLLUTANTS
        }
        out.append(
            DeviceInputs(
                device_id=device,
                kind="gas",
                start=DAY_START,
                end=DAY_START + timedelta(days=1),
                series=series,
                averages=averages,
                limits=limits,
                power=(FactorSeries(device, POWER, "gas", DAY_START, MINUTE, power, valid, (), marked),),
                registered_parameters=registered,
                reported_parameters=reported,
            )
        )
    return out, planted


def bench_detectors(devices: int, seed: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    inputs, planted = generate(devices, seed)
    generated = time.perf_counter() - t0
    thresholds = DetectorThresholds()
    kinds: Counter[str] = Counter()
    t0 = time.perf_counter()
    for one in inputs:
        for detection in run_all(one, thresholds):
            kinds[detection.kind] += 1
    seconds = time.perf_counter() - t0
    return {
        "devices": devices,
        "factors": len(FACTORS) + 1,  # + the electricity series
        "minutes_per_series": MINUTES,
        "values": devices * (len(FACTORS) + 1) * MINUTES,
        "planted": dict(sorted(planted.items())),
        "detections": sum(kinds.values()),
        "detections_by_kind": dict(sorted(kinds.items())),
        "generate_s": round(generated, 2),
        "seconds": round(seconds, 2),
        "per_device_ms": round(seconds * 1000 / max(devices, 1), 3),
    }


def bench_offline(n: int, silent_pct: float, url: str | None) -> dict[str, Any]:
    """The offline watcher (``alarms.offline``) over ``n`` devices with stored deadlines: one round that finds
    ``silent_pct`` % of them silent (flips them and opens their alarms), one quiet round (the steady state,
    every minute), and one round finding them back. Each round is one transaction, as in ``serve``."""
    import tempfile

    from sqlalchemy import insert

    from envwatch.alarms.offline import run_round
    from envwatch.core.db import engine_from_url
    from envwatch.ingest.schema import device_status
    from envwatch.migrations import upgrade
    from envwatch.registry.schema import devices

    tmp = tempfile.mkdtemp(prefix="envwatch-bench-offline-")
    engine = engine_from_url(url or f"sqlite:///{tmp}/envwatch.db", sqlite_synchronous="FULL")
    upgrade(engine)
    now = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
    grace = 600.0
    silent = int(n * silent_pct / 100)
    started = time.perf_counter()
    with engine.begin() as conn:
        for lo in range(0, n, 10_000):
            ids = range(lo + 1, min(n, lo + 10_000) + 1)
            conn.execute(
                insert(devices),
                [
                    {
                        "id": i,
                        "mn": f"BENCH{i:019d}",
                        "pw": "123456",
                        "name": f"logger {i}",
                        "enterprise": "",
                        "outlet": "",
                        "kind": "gas",
                        "protocol": "2017",
                        "crc_variants": "standard",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in ids
                ],
            )
            # the first `silent` devices were last heard 11 minutes ago, the others within the last 5 s
            conn.execute(
                insert(device_status),
                [
                    {
                        "device_id": i,
                        "online": True,
                        "last_seen": now - timedelta(seconds=660 if i <= silent else i % 5),
                        "changed_at": now - timedelta(days=1),
                        "alert_after": now
                        - timedelta(seconds=660 if i <= silent else i % 5)
                        + timedelta(seconds=grace),
                    }
                    for i in ids
                ],
            )
    prepared = time.perf_counter() - started

    def timed(at: datetime) -> tuple[float, Any]:
        t0 = time.perf_counter()
        found = run_round(engine, at, grace_s=grace, ack_due_s=3600)
        return time.perf_counter() - t0, found

    gone_s, gone = timed(now)
    quiet_s, quiet = timed(now + timedelta(seconds=1))
    with engine.begin() as conn:  # the silent ones send again
        conn.execute(
            device_status.update()
            .where(device_status.c.device_id <= silent)
            .values(last_seen=now + timedelta(seconds=30), alert_after=now + timedelta(seconds=30 + grace))
        )
    back_s, back = timed(now + timedelta(seconds=60))
    engine.dispose()
    return {
        "store": engine.dialect.name,
        "devices": n,
        "silent": silent,
        "prepare_s": round(prepared, 2),
        "round_finding_silent_s": round(gone_s, 3),
        "found_silent": len(gone.silent),
        "quiet_round_s": round(quiet_s, 4),
        "quiet_found": len(quiet.silent) + len(quiet.back),
        "round_finding_back_s": round(back_s, 3),
        "found_back": len(back.back),
        "check_every_s": 60,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=5000, help="devices with one day of minute data")
    ap.add_argument("--seed", type=int, default=212)
    ap.add_argument(
        "--out", type=Path, default=None, help="also write the JSON here (bench/results/detect.json)"
    )
    ap.add_argument(
        "--offline-devices",
        type=int,
        default=0,
        help="also time the offline watcher's round over this many devices (e.g. 100000) on a fresh store",
    )
    ap.add_argument("--silent-pct", type=float, default=1.0, help="share of those devices gone silent")
    ap.add_argument("--database-url", default=None, help="the offline store (default: SQLite in a temp dir)")
    args = ap.parse_args()
    results: dict[str, Any] = {}
    if args.devices:
        results["detectors"] = bench_detectors(args.devices, args.seed)
    if args.offline_devices:
        results["offline"] = bench_offline(args.offline_devices, args.silent_pct, args.database_url)
    results["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    text = json.dumps(results, indent=2, ensure_ascii=False)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
