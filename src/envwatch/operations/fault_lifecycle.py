"""The device fault lifecycle (故障处理流程, SX-18.3) as one table (DESIGN convention 3).

Theory of operation
-------------------
A fault is ``open`` when somebody records it (by hand, or from an alarm): the ``opened`` event creates the
fault, so it is never a transition. While the device is down the operator may switch to a **backup**
(``backup_started``: a backup device 备机 or licensed manual monitoring 手工监测, the kind is part of the
event) and the fault is ``on_backup``; a backup used more than 7 days needs its **check** / comparison
(``backup_checked``, 比对), recorded while the backup runs; the backup **ends** (``backup_ended``: back to
``open``, the device still down) or the device is **restored** (``restored``, terminal: the restore also
ends any backup, see ``fault_clocks``).

- ``commented`` is allowed in every state, the terminal one too (a late note), never a change of state.
- The table says what each state allows. That every fact happens at most once (one backup, one check,
  one end, one restore per fault: the SX-18.3 clocks have one slot each) is the store's rule on the
  recorded facts (``operations.faults``): a second ``backup_started`` after the backup ended is refused
  there with :class:`~envwatch.core.errors.Conflict`, although ``open`` lists ``backup_started``.

Invariants: every transition is a row here; anything not here is refused with :class:`InvalidTransition`
(HTTP 409); ``restored`` is terminal (comments only); nothing leads back to a state before ``open``.
"""

from __future__ import annotations

from typing import Final, Literal

from envwatch.core.errors import Conflict

FaultState = Literal["open", "on_backup", "restored"]
FaultEvent = Literal["opened", "backup_started", "backup_checked", "backup_ended", "restored", "commented"]
BackupKind = Literal["backup_device", "manual"]

FAULT_STATES: Final[tuple[FaultState, ...]] = ("open", "on_backup", "restored")
FAULT_EVENTS: Final[tuple[FaultEvent, ...]] = (
    "opened",
    "backup_started",
    "backup_checked",
    "backup_ended",
    "restored",
    "commented",
)
# 备机 (a backup device) or 手工监测 (licensed manual monitoring with uploaded results), SX-18.3
BACKUP_KINDS: Final[tuple[BackupKind, ...]] = ("backup_device", "manual")

FAULT_TRANSITIONS: Final[dict[FaultState, dict[FaultEvent, FaultState]]] = {
    "open": {
        "backup_started": "on_backup",
        "restored": "restored",
        "commented": "open",
    },
    "on_backup": {
        "backup_checked": "on_backup",
        "backup_ended": "open",
        "restored": "restored",
        "commented": "on_backup",
    },
    "restored": {"commented": "restored"},
}

TERMINAL: Final[frozenset[FaultState]] = frozenset({"restored"})
# the facts the SX-18.3 clocks read, each recorded at most once per fault (the store checks it)
FACT_EVENTS: Final[frozenset[FaultEvent]] = frozenset(
    {"backup_started", "backup_checked", "backup_ended", "restored"}
)


class InvalidTransition(Conflict):
    """The event is not allowed in the fault's current state."""


def next_fault_state(state: FaultState, event: FaultEvent) -> FaultState:
    """The state after ``event``; :class:`InvalidTransition` when the table has no such row."""
    allowed = FAULT_TRANSITIONS[state]
    if event not in allowed:
        choices = ", ".join(sorted(allowed)) or "nothing"
        raise InvalidTransition(f"a fault that is {state} cannot take '{event}' (allowed: {choices})")
    return allowed[event]


def is_open(state: str) -> bool:
    """Not restored yet: the device is still down (with or without a backup)."""
    return state not in TERMINAL
