"""The chain of custody of a sample as one table (样品流转, WZ-A2-4/7/8/9/10; DESIGN convention 3).

``TRANSITIONS[state][event]`` is the state after ``event``; an event missing from a state's row is illegal
there. ``None`` is "no sample yet": a sample starts with the on-site entry (``register``, WZ-A2-6) or,
brought by the client, at the hand-over (``register_self_delivered``, WZ-A2-4).

::

    register ─▶ registered ─print_label─▶ labelled ─dispatch─▶ in_transport ─hand_over─▶ handed_over
                                           │  ▲ reprint          │ ▲ reprint                  │ receive
                                           └──┴─hand_over────────┼─┘                          ▼
                                                                 │         received ─open─▶ opened ─analyse─▶
                                              reject (seal or label badly damaged or missing) analysed
                                                                 ▼                               │ dispose
                                                             rejected (final)                disposed (final)

Invariants the store adds to the table:

- ``print_label`` is the first print only (``prints == 0``); every later print is a ``reprint`` and needs a
  video of the reprint (WZ-A2-8). A self-delivered sample is registered at the hand-over and prints its first
  label there.
- ``hand_over`` records the receiver's check of seal and label: ``intact`` or ``abnormal`` (a photo and a
  note say what is wrong, WZ-A2-9); ``damaged`` or ``missing`` can only ``reject``.
- ``open`` records the lab's re-check before analysis (WZ-A2-10): ``intact`` or ``abnormal`` (photo, note);
  a re-check that finds the seal broken rejects from ``received``.
- ``review`` (of an entry flagged as captured offline or with a wrong clock) changes no state.
"""

from __future__ import annotations

from typing import Final, Literal

from envwatch.core.errors import Conflict

State = Literal[
    "registered",
    "labelled",
    "in_transport",
    "handed_over",
    "received",
    "opened",
    "analysed",
    "disposed",
    "rejected",
]
Event = Literal[
    "register",
    "register_self_delivered",
    "print_label",
    "reprint",
    "dispatch",
    "hand_over",
    "reject",
    "receive",
    "open",
    "analyse",
    "dispose",
    "review",
]

TRANSITIONS: Final[dict[State | None, dict[Event, State]]] = {
    None: {"register": "registered", "register_self_delivered": "handed_over"},
    "registered": {"print_label": "labelled"},
    "labelled": {
        "reprint": "labelled",
        "dispatch": "in_transport",
        "hand_over": "handed_over",
        "reject": "rejected",
    },
    "in_transport": {"reprint": "in_transport", "hand_over": "handed_over", "reject": "rejected"},
    "handed_over": {"print_label": "handed_over", "receive": "received", "reject": "rejected"},
    "received": {"open": "opened", "reject": "rejected"},
    "opened": {"analyse": "analysed"},
    "analysed": {"dispose": "disposed"},
    "disposed": {},
    "rejected": {},
}
STATES: Final[tuple[State, ...]] = tuple(s for s in TRANSITIONS if s is not None)
EVENTS: Final[tuple[Event, ...]] = (
    "register",
    "register_self_delivered",
    "print_label",
    "reprint",
    "dispatch",
    "hand_over",
    "reject",
    "receive",
    "open",
    "analyse",
    "dispose",
    "review",
)
FINAL: Final[frozenset[State]] = frozenset(s for s in STATES if not TRANSITIONS[s])

# the seal and label check of a hand-over or an opening (封口和识别标识码核查)
CheckResult = Literal["intact", "abnormal", "damaged", "missing"]
CHECK_RESULTS: Final[tuple[CheckResult, ...]] = ("intact", "abnormal", "damaged", "missing")
ACCEPTING_CHECKS: Final[frozenset[CheckResult]] = frozenset({"intact", "abnormal"})

# state changes in custody order, for progress displays (rejected is off the path)
PATH: Final[tuple[State, ...]] = (
    "registered",
    "labelled",
    "in_transport",
    "handed_over",
    "received",
    "opened",
    "analysed",
    "disposed",
)


def next_state(state: State | None, event: Event) -> State:
    """The state after ``event``; Conflict naming what is allowed when the event is illegal in ``state``.

    ``review`` is allowed in every state of an existing sample and keeps it."""
    if event == "review":
        if state is None:
            raise Conflict("review needs an existing sample")
        return state
    allowed = TRANSITIONS[state]
    if event not in allowed:
        where = "before the sample exists" if state is None else f"in state {state}"
        options = ", ".join(allowed) if allowed else "nothing (final state)"
        raise Conflict(f"{event} is not allowed {where}; allowed: {options}")
    return allowed[event]


def next_events(state: State) -> tuple[Event, ...]:
    """The events allowed next, in table order (what a page offers after scanning a label)."""
    return tuple(TRANSITIONS[state])
