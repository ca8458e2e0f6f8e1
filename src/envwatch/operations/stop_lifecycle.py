"""The production-stop report lifecycle (停产报告审批, SX-18.4) as one table (DESIGN convention 3).

Theory of operation
-------------------
SX-18.4: a production stop that affects monitoring is **reported and approved first**. The enterprise
submits the report (the ``submitted`` event creates it, so it is never a transition); a regulator of the
enterprise's region **approves** it (the approved period becomes the shutdown mark) or **rejects** it;
the enterprise may **withdraw** it while it waits, or after the approval as long as the stop has not
begun (the store checks the time; the table only says the state allows it). After the stop the enterprise
records the **restart** (SX-18.4: start the device first, calibrate, check within 2 weeks).

Invariants: every transition is a row here; anything not here is refused with :class:`InvalidTransition`
(HTTP 409); ``rejected``, ``withdrawn`` and ``restarted`` are terminal; nothing leads back to ``submitted``.
"""

from __future__ import annotations

from typing import Final, Literal

from envwatch.core.errors import Conflict

StopState = Literal["submitted", "approved", "rejected", "withdrawn", "restarted"]
StopEvent = Literal["submitted", "approved", "rejected", "withdrawn", "restarted"]

STOP_STATES: Final[tuple[StopState, ...]] = ("submitted", "approved", "rejected", "withdrawn", "restarted")
STOP_EVENTS: Final[tuple[StopEvent, ...]] = ("submitted", "approved", "rejected", "withdrawn", "restarted")

STOP_TRANSITIONS: Final[dict[StopState, dict[StopEvent, StopState]]] = {
    "submitted": {"approved": "approved", "rejected": "rejected", "withdrawn": "withdrawn"},
    "approved": {"withdrawn": "withdrawn", "restarted": "restarted"},
    "rejected": {},
    "withdrawn": {},
    "restarted": {},
}

TERMINAL: Final[frozenset[StopState]] = frozenset({"rejected", "withdrawn", "restarted"})
# who sends what (the web layer checks the role: ``production_stop`` / ``production_stop_review`` writes)
ENTERPRISE_EVENTS: Final[frozenset[StopEvent]] = frozenset({"withdrawn", "restarted"})
REGULATOR_EVENTS: Final[frozenset[StopEvent]] = frozenset({"approved", "rejected"})


class InvalidTransition(Conflict):
    """The event is not allowed in the stop report's current state."""


def next_stop_state(state: StopState, event: StopEvent) -> StopState:
    """The state after ``event``; :class:`InvalidTransition` when the table has no such row."""
    allowed = STOP_TRANSITIONS[state]
    if event not in allowed:
        choices = ", ".join(sorted(allowed)) or "nothing"
        raise InvalidTransition(
            f"a production stop that is {state} cannot take '{event}' (allowed: {choices})"
        )
    return allowed[event]
