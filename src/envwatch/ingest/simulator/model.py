"""What a simulated logger's instruments read at any instant: a pure, deterministic model.

Every value is a function of ``(device seed, factor, time)`` only, never of what happened before. That
is what lets a logger answer a history request (2051/2061/2031 with BeginTime/EndTime) with exactly the
numbers it already sent live, without storing anything: minute and hour statistics are recomputed from
the same real-time samples.

Time here is *local epoch seconds*: seconds since 1970-01-01 00:00 in China time (UTC+8), so that
minute, hour and day boundaries are plain multiples of 60, 3600 and 86400.

A reading is ``base + gain * load + noise * wander`` clamped to the factor's realistic range, where

* ``load`` (0-1) is the plant's production rate: a daily shape (low before dawn, high mid-afternoon)
  plus a slow wander; pollutant concentrations, velocity and temperature follow it, O2 moves against it;
* ``wander`` is smooth value noise: three octaves (3 h, 40 min, 5 min) of pseudo-random knots joined by
  smoothstep curves, which looks like a bounded random walk but can be evaluated at any instant;
* gas flow (a00000) is not drawn but derived from velocity, duct area, temperature, pressure and
  humidity, the way a CEMS computes standard dry flow.

Data flags come in runs per instrument (the SO2/NOx/O2 analyzer, the particulate meter, the flow
and flue parameters, each water analyzer): a daily automatic calibration (C) for analyzers, plus random
maintenance (M), fault (D) and extra calibration runs of 3-15 minutes; a few percent of the time overall.
"""

from __future__ import annotations

import math
import zlib
from collections import Counter, OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Literal

__all__ = [
    "GAS_FACTORS",
    "REFERENCE_O2",
    "WATER_FACTORS",
    "DeviceModel",
    "FactorSpec",
    "Sample",
    "format_value",
    "from_local_time",
    "local_time",
]

Kind = Literal["gas", "water"]

# Industrial coal-fired boiler reference O2 (GB 13271-2014). A platform must configure this per outlet;
# the simulator just needs one plausible value for its ZsRtd/ZsAvg numbers.
REFERENCE_O2 = 9.0

_EPOCH = datetime(1970, 1, 1)


def local_time(t: float) -> str:
    """Local epoch seconds → HJ 212 ``YYYYMMDDhhmmss``."""
    return (_EPOCH + timedelta(seconds=int(t))).strftime("%Y%m%d%H%M%S")


def from_local_time(text: str) -> int:
    """HJ 212 ``YYYYMMDDhhmmss`` (17-digit forms are cut to 14) → local epoch seconds."""
    moment = datetime.strptime(text[:14], "%Y%m%d%H%M%S")
    return int((moment - _EPOCH).total_seconds())


def format_value(value: float, decimals: int) -> str:
    """Fixed-point text with exactly ``decimals`` places; never exponent notation, never ``-0.00``."""
    text = f"{value:.{decimals}f}"
    if text.startswith("-") and float(text) == 0:
        text = text[1:]
    return text


@dataclass(frozen=True)
class FactorSpec:
    """One monitored factor: code, realistic range, how it moves and how it is written."""

    code: str
    lo: float
    hi: float
    base: float  # reading at zero load
    gain: float  # added at full load (negative: falls with load)
    noise: float  # amplitude of the smooth wander
    # Decimals per protocol: HJ 212-2017 Appendix B types (e.g. a21026 N5.2) and the 2025 revisions
    # (a21002 N4.2, a34013 N4.1, a19001 N2.2, a01014 N3.2).
    decimals_2017: int
    decimals_2025: int
    group: str  # instrument: factors of one instrument share data flags
    cou: Literal["", "volume", "mass"] = ""  # volume in m3, mass (emission amount) in kg
    cou_decimals: int = 4
    zs: bool = False  # has O2-reference converted values (ZsRtd, ZsAvg...)
    calibrates: bool = True  # an analyzer with a daily automatic calibration

    def decimals(self, protocol: str) -> int:
        return self.decimals_2025 if protocol == "2025" else self.decimals_2017


# Order is the order in packets. Ranges: a desulfurised, denitrified coal boiler stack (SO2 10-80, NOx
# 20-150 mg/m3, O2 8-12 %), and the outlet of a small industrial wastewater plant.
GAS_FACTORS: tuple[FactorSpec, ...] = (
    FactorSpec("a21026", 10, 80, 15, 40, 8, 2, 2, "cems", cou="mass", zs=True),  # SO2 mg/m3
    FactorSpec("a21002", 20, 150, 35, 60, 12, 1, 2, "cems", cou="mass", zs=True),  # NOx mg/m3
    FactorSpec("a34013", 1, 20, 3, 8, 2, 0, 1, "pm", cou="mass", zs=True),  # particulate mg/m3
    FactorSpec("a19001", 8, 12, 11.4, -3.0, 0.5, 1, 2, "cems"),  # O2 %
    FactorSpec("a01012", 40, 140, 48, 30, 3, 1, 1, "flow", calibrates=False),  # flue temperature °C
    FactorSpec("a01013", -1.5, 0.5, -0.15, -0.45, 0.08, 3, 3, "flow", calibrates=False),  # pressure kPa
    FactorSpec("a01011", 4, 25, 7, 9, 0.8, 2, 2, "flow", calibrates=False),  # velocity m/s
    FactorSpec("a01014", 2, 20, 8, 3, 1, 1, 2, "flow", calibrates=False),  # humidity %
    # flow m3/s (standard, dry): derived, base/gain/noise unused
    FactorSpec("a00000", 5, 150, 0, 0, 0, 1, 1, "flow", cou="volume", cou_decimals=1, calibrates=False),
)

WATER_FACTORS: tuple[FactorSpec, ...] = (
    FactorSpec("w01018", 8, 90, 25, 20, 8, 1, 1, "cod", cou="mass"),  # COD mg/L
    FactorSpec("w21003", 0.2, 8, 1.0, 1.5, 0.6, 2, 2, "nh3n", cou="mass"),  # NH3-N mg/L
    FactorSpec("w21011", 0.05, 0.8, 0.15, 0.2, 0.06, 2, 2, "tp", cou="mass"),  # TP mg/L
    FactorSpec("w21001", 3, 15, 6, 4, 1.5, 2, 2, "tn", cou="mass"),  # TN mg/L
    FactorSpec("w01001", 6, 9, 7.2, 0.1, 0.35, 2, 2, "ph"),  # pH
    FactorSpec(
        "w00000", 1, 60, 6, 22, 3, 2, 2, "flow", cou="volume", cou_decimals=2, calibrates=False
    ),  # L/s
)

# ---------------------------------------------------------------------------------------------------
# Deterministic pseudo-randomness: splitmix64 over integers, so a value depends on nothing but its key
# (Python's hash() is salted per process and random.Random is too slow to build per knot).

_MASK = (1 << 64) - 1


def _mix(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def _unit(*parts: int) -> float:
    """A uniform number in [0, 1) determined by ``parts``."""
    h = 0
    for part in parts:
        h = _mix(h ^ (part & _MASK))
    return h / 2.0**64


def _key(seed: int, name: str) -> int:
    return _mix(seed ^ (zlib.crc32(name.encode()) << 20))


@lru_cache(maxsize=1 << 16)
def _knot(key: int, period: int, k: int) -> float:
    return 2.0 * _unit(key, period, k) - 1.0


_OCTAVES = ((10800, 0.55), (2400, 0.30), (300, 0.15))


def _wander(key: int, t: float) -> float:
    """Smooth value noise in [-1, 1]."""
    total = 0.0
    for period, weight in _OCTAVES:
        x = t / period
        k = math.floor(x)
        f = x - k
        s = f * f * (3.0 - 2.0 * f)  # smoothstep: continuous slope at the knots
        a = _knot(key, period, k)
        total += weight * (a + (_knot(key, period, k + 1) - a) * s)
    return total


def _daily_shape(t: float) -> float:
    """0 at 04:00, 1 at 16:00 local: day-shift production."""
    hour = (t % 86400) / 3600.0
    return 0.5 - 0.5 * math.cos(2 * math.pi * (hour - 4.0) / 24.0)


_FLAG_SLOT = 1800  # random flag runs: at most one per instrument per half hour
_FLAG_RUN_P = 0.08  # chance that a slot holds a run → ~2.4 % of the time, plus ~0.7 % calibration
_CALIBRATION_S = 600
_HOURS_CACHED = 48  # a day and a bit of hourly statistics per device (a few hundred KB at most)


@lru_cache(maxsize=1 << 14)
def _slot_run(key: int, slot: int) -> tuple[int, int, str] | None:
    if _unit(key, slot, 1) >= _FLAG_RUN_P:
        return None
    length = 180 + int(_unit(key, slot, 2) * 721)  # 3-15 minutes
    start = slot * _FLAG_SLOT + int(_unit(key, slot, 3) * (_FLAG_SLOT - length))
    pick = _unit(key, slot, 4)
    return start, start + length, "M" if pick < 0.4 else "D" if pick < 0.65 else "C"


@dataclass(frozen=True)
class Sample:
    """One real-time reading of every factor, already rounded as it is sent."""

    t: int
    values: Mapping[str, float]
    flags: Mapping[str, str]
    zs: Mapping[str, float]


@dataclass
class _Acc:
    """Statistics of one factor over a period, mergeable (hour → day)."""

    lo: float = math.inf
    hi: float = -math.inf
    total: float = 0.0
    n: int = 0
    cou: float = 0.0
    zs_lo: float = math.inf
    zs_hi: float = -math.inf
    zs_total: float = 0.0
    flags: Counter[str] = field(default_factory=Counter)

    def merge(self, other: _Acc) -> None:
        self.lo, self.hi = min(self.lo, other.lo), max(self.hi, other.hi)
        self.total += other.total
        self.n += other.n
        self.cou += other.cou
        self.zs_lo, self.zs_hi = min(self.zs_lo, other.zs_lo), max(self.zs_hi, other.zs_hi)
        self.zs_total += other.zs_total
        self.flags.update(other.flags)


class DeviceModel:
    """The instruments of one logger. ``seed`` makes two devices differ; nothing else is random."""

    def __init__(self, kind: Kind, protocol: str, seed: int) -> None:
        self.kind = kind
        self.protocol = protocol
        self.factors = GAS_FACTORS if kind == "gas" else WATER_FACTORS
        self._seed = seed
        self._load_key = _key(seed, "load")
        self._keys = {spec.code: _key(seed, spec.code) for spec in self.factors}
        self._jitter_keys = {spec.code: _key(seed, spec.code + "/jitter") for spec in self.factors}
        self._flag_keys = {spec.group: _key(seed, "flag/" + spec.group) for spec in self.factors}
        # Plants differ: scale the level of each device by 0.8-1.2, and give a duct size of 3-6 m2.
        self._scale = 0.8 + 0.4 * _unit(seed, 1)
        self._duct_area = 3.0 + 3.0 * _unit(seed, 2)
        # Daily automatic calibration at a device-specific minute of the night (00:30-04:30).
        self._calibration_at = 1800 + int(_unit(seed, 3) * 4 * 3600)
        self._hours: OrderedDict[tuple[int, float], dict[str, _Acc]] = OrderedDict()

    # -- instants ----------------------------------------------------------------------------------

    def load(self, t: float) -> float:
        raw = 0.15 + 0.65 * _daily_shape(t) + 0.2 * _wander(self._load_key, t)
        return min(1.0, max(0.0, raw))

    def flag(self, group: str, t: float, *, calibrates: bool = True) -> str:
        if calibrates and 0 <= (t % 86400) - self._calibration_at < _CALIBRATION_S:
            return "C"
        run = _slot_run(self._flag_keys[group], int(t // _FLAG_SLOT))
        if run is not None and run[0] <= t < run[1]:
            return run[2]
        return "N"

    def sample(self, t: float) -> Sample:
        t = int(t)
        load = self.load(t)
        values: dict[str, float] = {}
        for spec in self.factors:
            if spec.code == "a00000":
                raw = self._gas_flow(values)
            else:
                level = spec.base + spec.gain * load
                if spec.code not in ("w01001", "a19001", "a01013"):  # pH, O2, pressure are not per-plant
                    level *= self._scale
                # a little sensor jitter on top of the wander, so consecutive readings differ
                jitter = (2.0 * _unit(self._jitter_keys[spec.code], t) - 1.0) * 0.08 * spec.noise
                raw = level + spec.noise * _wander(self._keys[spec.code], t) + jitter
            raw = min(spec.hi, max(spec.lo, raw))
            values[spec.code] = round(raw, spec.decimals(self.protocol))
        flags = {spec.code: self.flag(spec.group, t, calibrates=spec.calibrates) for spec in self.factors}
        zs: dict[str, float] = {}
        if self.kind == "gas":
            # converted value C_ref = C * (21 - O2_ref) / (21 - O2), computed from the sent (rounded) values
            factor = (21.0 - REFERENCE_O2) / (21.0 - values["a19001"])
            for spec in self.factors:
                if spec.zs:
                    zs[spec.code] = round(values[spec.code] * factor, spec.decimals(self.protocol))
        return Sample(t, values, flags, zs)

    def _gas_flow(self, values: Mapping[str, float]) -> float:
        """Standard dry flow (m3/s) = v * A * 273/(273+T) * (101.325+P)/101.325 * (1 - Xsw)."""
        temperature = values["a01012"]
        pressure = values["a01013"]
        return (
            values["a01011"]
            * self._duct_area
            * 273.15
            / (273.15 + temperature)
            * (101.325 + pressure)
            / 101.325
            * (1.0 - values["a01014"] / 100.0)
        )

    # -- packets' data areas -----------------------------------------------------------------------

    def realtime(self, t: float) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
        """CP fields and factor groups of a 2011 real-time packet sampled at ``t``."""
        sample = self.sample(t)
        groups: dict[str, dict[str, str]] = {}
        for spec in self.factors:
            d = spec.decimals(self.protocol)
            group = {"Rtd": format_value(sample.values[spec.code], d)}
            if spec.zs:
                group["ZsRtd"] = format_value(sample.zs[spec.code], d)
            group["Flag"] = sample.flags[spec.code]
            groups[spec.code] = group
        return {"DataTime": local_time(sample.t)}, groups

    def sample_times(self, start: int, end: int, interval: float) -> Iterator[int]:
        """Real-time sampling instants in ``[start, end)``: multiples of ``interval``, as a logger
        sampling on the clock would take them; the period start alone when the interval is longer."""
        step = max(1.0, float(interval))
        k = math.ceil(start / step)
        t = k * step
        if t >= end:
            yield start
            return
        while t < end:
            yield int(t)
            k += 1
            t = k * step

    def _accumulate(self, start: int, end: int, interval: float) -> dict[str, _Acc]:
        accs = {spec.code: _Acc() for spec in self.factors}
        flow_code = "a00000" if self.kind == "gas" else "w00000"
        cq: dict[str, float] = dict.fromkeys(accs, 0.0)
        for t in self.sample_times(start, end, interval):
            sample = self.sample(t)
            flow = sample.values[flow_code]
            for spec in self.factors:
                acc = accs[spec.code]
                value = sample.values[spec.code]
                acc.lo, acc.hi = min(acc.lo, value), max(acc.hi, value)
                acc.total += value
                acc.n += 1
                acc.flags[sample.flags[spec.code]] += 1
                if spec.cou == "mass":
                    cq[spec.code] += value * flow
                if spec.zs:
                    z = sample.zs[spec.code]
                    acc.zs_lo, acc.zs_hi = min(acc.zs_lo, z), max(acc.zs_hi, z)
                    acc.zs_total += z
        seconds = end - start
        for spec in self.factors:
            acc = accs[spec.code]
            if spec.cou == "volume":
                # mean flow times duration; water flow is L/s, so /1000 for m3
                acc.cou = acc.total / acc.n * seconds / (1000.0 if self.kind == "water" else 1.0)
            elif spec.cou == "mass":
                # mg/m3 x m3/s (or mg/L x L/s) x s = mg → kg
                acc.cou = cq[spec.code] / acc.n * seconds * 1e-6
        return accs

    def _hour(self, start: int, interval: float) -> dict[str, _Acc]:
        """Statistics of one clock hour, cached: the day record at midnight then merges 24 cached hours
        instead of stalling the event loop on 2880 fresh samples per device."""
        key = (start, interval)
        accs = self._hours.get(key)
        if accs is None:
            accs = self._hours[key] = self._accumulate(start, start + 3600, interval)
            while len(self._hours) > _HOURS_CACHED:
                self._hours.popitem(last=False)
        else:
            self._hours.move_to_end(key)
        return accs

    def _period_accs(self, start: int, seconds: int, interval: float) -> dict[str, _Acc]:
        if seconds == 3600 and start % 3600 == 0:
            return self._hour(start, interval)
        if seconds < 3600:
            return self._accumulate(start, start + seconds, interval)
        # days (and other long periods) merge hours, the way a logger builds its daily record
        accs = {spec.code: _Acc() for spec in self.factors}
        for hour in range(start, start + seconds, 3600):
            for code, acc in self._hour(hour, interval).items():
                accs[code].merge(acc)
        return accs

    def _period_flag(self, counts: Counter[str]) -> str:
        total = sum(counts.values())
        abnormal = [(n, flag) for flag, n in counts.items() if flag != "N"]
        if not abnormal:
            return "N"
        dominant = max(abnormal)[1]
        if self.kind == "water":
            return dominant  # HJ 212-2017 note to C.16: one abnormal value makes a water period abnormal
        # flue gas: at least 75 % normal values keep the period normal (also the 45-of-60-minutes rule)
        return "N" if counts["N"] >= 0.75 * total else dominant

    def period(
        self, start: int, seconds: int, interval: float
    ) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
        """CP fields and factor groups of a 2051/2061/2031 statistics packet for ``[start, start+seconds)``.

        DataTime is the period start (HJ 212 §6.6.2)."""
        accs = self._period_accs(start, seconds, interval)
        groups: dict[str, dict[str, str]] = {}
        for spec in self.factors:
            acc = accs[spec.code]
            d = spec.decimals(self.protocol)
            group: dict[str, str] = {}
            if spec.cou:
                group["Cou"] = format_value(acc.cou, spec.cou_decimals)
            group["Min"] = format_value(acc.lo, d)
            group["Avg"] = format_value(acc.total / acc.n, d)
            group["Max"] = format_value(acc.hi, d)
            if spec.zs:
                group["ZsMin"] = format_value(acc.zs_lo, d)
                group["ZsAvg"] = format_value(acc.zs_total / acc.n, d)
                group["ZsMax"] = format_value(acc.zs_hi, d)
            group["Flag"] = self._period_flag(acc.flags)
            groups[spec.code] = group
        return {"DataTime": local_time(start)}, groups
