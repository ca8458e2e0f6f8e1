"""The alarm lifecycle (报警处置流程) as one table (DESIGN convention 3).

Theory of operation
-------------------
An alarm is ``open`` when a detector or the offline watcher raises it. A person **acknowledges** it (已确认:
somebody has seen it and owns it), **starts handling** it (处理中: work is under way) and **closes** it (已关闭)
with the cause (原因) and the action taken (处理措施) — both required (SX-24/25: the response is recorded).
A closed alarm stays closed: the same condition found again opens a new alarm, so each case keeps its own
history.

Events that do not change the state are in the table too, so that the table says everything that may happen
in each state:

- ``repeat``: the detector found the same condition again (one open alarm per device + kind + factor);
- ``condition_ended``: the condition is over (the device is back online, the value is back under its limit);
  the alarm stays until a person closes it with the cause;
- ``escalate``: nobody acknowledged it by its deadline (only an ``open`` alarm escalates);
- ``assign``, ``comment``, ``attach``: case work; a closed case still takes comments and attachments (a late
  document), never a change of state.

Invariants: every transition is a row here; anything not here is refused with :class:`InvalidTransition`
(HTTP 409); ``closed`` is terminal.
"""

from __future__ import annotations

from typing import Final, Literal

from envwatch.core.errors import Conflict

State = Literal["open", "acknowledged", "handling", "closed"]
Event = Literal[
    "opened",
    "repeat",
    "condition_ended",
    "escalate",
    "acknowledge",
    "start_handling",
    "assign",
    "comment",
    "attach",
    "close",
]

STATES: Final[tuple[State, ...]] = ("open", "acknowledged", "handling", "closed")
EVENTS: Final[tuple[Event, ...]] = (
    "opened",
    "repeat",
    "condition_ended",
    "escalate",
    "acknowledge",
    "start_handling",
    "assign",
    "comment",
    "attach",
    "close",
)

TRANSITIONS: Final[dict[State, dict[Event, State]]] = {
    "open": {
        "repeat": "open",
        "condition_ended": "open",
        "escalate": "open",
        "acknowledge": "acknowledged",
        "start_handling": "handling",
        "assign": "open",
        "comment": "open",
        "attach": "open",
        "close": "closed",
    },
    "acknowledged": {
        "repeat": "acknowledged",
        "condition_ended": "acknowledged",
        "start_handling": "handling",
        "assign": "acknowledged",
        "comment": "acknowledged",
        "attach": "acknowledged",
        "close": "closed",
    },
    "handling": {
        "repeat": "handling",
        "condition_ended": "handling",
        "assign": "handling",
        "comment": "handling",
        "attach": "handling",
        "close": "closed",
    },
    "closed": {
        "comment": "closed",
        "attach": "closed",
    },
}

# events a person may send through the API and the pages (the others are the system's)
PERSON_EVENTS: Final[frozenset[Event]] = frozenset(
    {"acknowledge", "start_handling", "assign", "comment", "attach", "close"}
)
SYSTEM_EVENTS: Final[frozenset[Event]] = frozenset({"opened", "repeat", "condition_ended", "escalate"})


class InvalidTransition(Conflict):
    """The event is not allowed in the alarm's current state."""


def next_state(state: State, event: Event) -> State:
    """The state after ``event``; :class:`InvalidTransition` when the table has no such row."""
    allowed = TRANSITIONS[state]
    if event not in allowed:
        choices = ", ".join(sorted(allowed)) or "nothing"
        raise InvalidTransition(f"an alarm that is {state} cannot take '{event}' (allowed: {choices})")
    return allowed[event]


def is_open(state: str) -> bool:
    """Still a case to work on (anything but closed)."""
    return state != "closed"
