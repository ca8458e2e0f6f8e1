"""What a mark (标记) does to the data it covers: the small shared vocabulary of marks, validity and rates.

A mark covers a time range of a device, or of one factor of it, and has an *effect*:

- ``invalid``: the values in the range are not valid (equipment marks: 故障 fault, 维护 maintenance,
  校准 calibration, 标样核查 standard-sample check, 失控 loss of control; working-condition marks such
  as 启炉/停炉 start-up/shut-down): they count as received but not valid, and are not used to judge
  exceedances (生态环境部公告2022年第21号);
- ``exempt``: the hours drop out of what should have been received (停运 shutdown, once approved):
  neither expected nor received nor valid;
- ``info``: recorded and shown, no effect on validity or rates.

``MarkSpan`` is the resolved view the rules work on: superseded and withdrawn marks are already gone
(``monitoring.marks`` resolves them).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import NamedTuple


class MarkEffect(StrEnum):
    INVALID = "invalid"
    EXEMPT = "exempt"
    INFO = "info"


class MarkSpan(NamedTuple):
    mark_id: int
    device_id: int
    factor: str | None  # None: every factor of the device
    start: datetime  # aware UTC, inclusive
    end: datetime  # aware UTC, exclusive
    code: str  # the mark code, e.g. "shutdown", "maintenance"
    effect: MarkEffect
    late: bool  # entered after the marking deadline (accepted, but recorded as late)

    def covers(self, factor: str, start: datetime, end: datetime) -> bool:
        """Whether this mark overlaps [start, end) of ``factor``."""
        return (self.factor is None or self.factor == factor) and self.start < end and start < self.end
