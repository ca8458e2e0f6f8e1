"""Is an on-site entry really on site and on time? (现场录入, WZ-A2-6)

Sampling time, sampler, sample appearance and preservative "must be entered on site, never in advance". An
entry therefore carries the server's time of arrival, the phone's own time and its GPS position, and is
judged here against the plan's point and window:

- online (the phone reached the server as it was made): the server time must lie in the plan window and the
  position within ``sampling_max_distance_m`` of the point; a phone clock off by more than
  ``sampling_clock_skew_s`` is accepted but flagged ``clock_skew`` for review;
- offline (captured without a network, synced later): the phone time must lie in the window and not after
  the server time (beyond the skew), the sync must come within ``sampling_offline_max_age_h`` of it, and the
  position rule is the same; the entry is accepted and flagged ``offline`` for review.

The sampling time itself is the entry's time (phone time offline, server time online) unless the sampler
gives one, which may lie at most ``sampling_entry_lag_min`` before the entry, never after it, and never
before the window opens: a time cannot be typed in ahead.

Pure: every input, ``now`` included, is an argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from envwatch.core.clock import to_china
from envwatch.core.errors import Conflict, InvalidInput
from envwatch.core.geo import check_position, distance_m


@dataclass(frozen=True, slots=True)
class EntryRules:
    max_distance_m: int
    offline_max_age: timedelta
    clock_skew: timedelta
    entry_lag: timedelta


@dataclass(frozen=True, slots=True)
class Position:
    latitude: Decimal
    longitude: Decimal


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime  # exclusive


@dataclass(frozen=True, slots=True)
class EntryVerdict:
    sampled_at: datetime
    distance_m: int
    flags: tuple[str, ...]  # "offline", "clock_skew": accepted, to be reviewed


def _china(moment: datetime) -> str:
    return to_china(moment).strftime("%Y-%m-%d %H:%M")


def judge_entry(
    *,
    now: datetime,
    device_at: datetime,
    offline: bool,
    position: Position | None,
    point: Position,
    window: Window,
    rules: EntryRules,
    sampled_at: datetime | None = None,
) -> EntryVerdict:
    """The verdict on an entry, or InvalidInput / Conflict saying exactly why it is refused."""
    if device_at.tzinfo is None or (sampled_at is not None and sampled_at.tzinfo is None):
        raise InvalidInput("times must carry a UTC offset (e.g. 2026-11-23T10:05:00+08:00)")
    if position is None:
        raise InvalidInput("the GPS position (latitude, longitude) of the entry is required (WZ-A2-6)")
    check_position(position.latitude, position.longitude)
    flags: list[str] = []
    skew = abs(now - device_at)
    if offline:
        if device_at > now + rules.clock_skew:
            raise InvalidInput(
                f"offline entry made at {_china(device_at)} by the phone's clock, which is after the server's "
                f"time {_china(now)}: check the phone's clock"
            )
        if now - device_at > rules.offline_max_age:
            hours = int(rules.offline_max_age.total_seconds() // 3600)
            raise Conflict(
                f"offline entry of {_china(device_at)} synced more than {hours} h later: too late to be accepted "
                "(setting sampling_offline_max_age_h)"
            )
        entry_at = device_at
        flags.append("offline")
    else:
        entry_at = now
        if skew > rules.clock_skew:
            flags.append("clock_skew")
    if entry_at < window.start:
        raise Conflict(
            f"the plan's sampling window opens at {_china(window.start)}: on-site data cannot be entered "
            "in advance (WZ-A2-6)"
        )
    if entry_at >= window.end:
        raise Conflict(f"the plan's sampling window closed at {_china(window.end)}")
    distance = distance_m(position.latitude, position.longitude, point.latitude, point.longitude)
    if distance > rules.max_distance_m:
        raise Conflict(
            f"the entry was made {distance} m from the sampling point (at most {rules.max_distance_m} m, "
            "setting sampling_max_distance_m): on-site data can only be entered on site (WZ-A2-6)"
        )
    when = entry_at if sampled_at is None else sampled_at
    if when > entry_at:
        raise InvalidInput(
            f"sampling time {_china(when)} is after the entry ({_china(entry_at)}): it cannot be entered ahead"
        )
    if entry_at - when > rules.entry_lag:
        minutes = int(rules.entry_lag.total_seconds() // 60)
        raise InvalidInput(
            f"sampling time {_china(when)} is more than {minutes} min before the entry ({_china(entry_at)}) "
            "(setting sampling_entry_lag_min): enter samples as they are taken"
        )
    if when < window.start:
        raise Conflict(
            f"sampling time {_china(when)} is before the plan's window opens ({_china(window.start)}): "
            "a sample cannot be taken ahead of its plan (WZ-A2-6)"
        )
    return EntryVerdict(when, distance, tuple(flags))
