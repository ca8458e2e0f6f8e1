"""The supervision order lifecycle (电子督办流程) as one table (DESIGN convention 3).

Theory of operation
-------------------
A regulator **issues** an order (下发督办) to one enterprise or one operator: what must be done, by when, and
the alarms or findings it was made from. The receiver **responds** (反馈, with the text of what was done and
evidence files); the regulator then **accepts** it (办结, terminal) or **returns** it (退回: not good enough),
possibly with a new deadline, and the receiver responds again. The cycle repeats until the regulator accepts.

- ``escalate`` is the platform's: the deadline passed while the ball was with the receiver (``issued`` or
  ``returned``). A ``responded`` order waits on the regulator, so it never escalates; the store escalates
  at most once per deadline (see ``orders.escalate_overdue``).
- ``withdraw`` (撤销) lets the regulator cancel an order issued by mistake, with the reason, only while the
  receiver has not acted on it yet (``issued``); once a response exists the regulator decides on it instead
  (accept or return), so no receiver's work is ever thrown away unanswered. ``withdrawn`` is terminal.
- ``comment`` is allowed in every state, terminal ones too (a late note on the file), never a change of state.

Invariants: every transition is a row here; anything not here is refused with :class:`InvalidTransition`
(HTTP 409); ``accepted`` and ``withdrawn`` are terminal (they take comments only); ``issued`` is only ever the
first state (the ``issued`` event creates the order, it is not a transition).
"""

from __future__ import annotations

from typing import Final, Literal

from envwatch.core.errors import Conflict

OrderState = Literal["issued", "responded", "returned", "accepted", "withdrawn"]
OrderEvent = Literal["issued", "respond", "accept", "return", "withdraw", "escalate", "comment"]

ORDER_STATES: Final[tuple[OrderState, ...]] = ("issued", "responded", "returned", "accepted", "withdrawn")
ORDER_EVENTS: Final[tuple[OrderEvent, ...]] = (
    "issued",
    "respond",
    "accept",
    "return",
    "withdraw",
    "escalate",
    "comment",
)

ORDER_TRANSITIONS: Final[dict[OrderState, dict[OrderEvent, OrderState]]] = {
    "issued": {
        "respond": "responded",
        "withdraw": "withdrawn",
        "escalate": "issued",
        "comment": "issued",
    },
    "responded": {
        "accept": "accepted",
        "return": "returned",
        "comment": "responded",
    },
    "returned": {
        "respond": "responded",
        "escalate": "returned",
        "comment": "returned",
    },
    "accepted": {"comment": "accepted"},
    "withdrawn": {"comment": "withdrawn"},
}

# who sends what (the web layer checks the caller's role against these; the platform sends the rest)
ISSUER_EVENTS: Final[frozenset[OrderEvent]] = frozenset({"accept", "return", "withdraw", "comment"})
RECEIVER_EVENTS: Final[frozenset[OrderEvent]] = frozenset({"respond", "comment"})
SYSTEM_EVENTS: Final[frozenset[OrderEvent]] = frozenset({"issued", "escalate"})
# the receiver owes an answer in these states: the deadline counts and the order can be overdue
AWAITING_RECEIVER: Final[frozenset[OrderState]] = frozenset({"issued", "returned"})
TERMINAL: Final[frozenset[OrderState]] = frozenset({"accepted", "withdrawn"})


class InvalidTransition(Conflict):
    """The event is not allowed in the order's current state."""


def next_order_state(state: OrderState, event: OrderEvent) -> OrderState:
    """The state after ``event``; :class:`InvalidTransition` when the table has no such row."""
    allowed = ORDER_TRANSITIONS[state]
    if event not in allowed:
        choices = ", ".join(sorted(allowed)) or "nothing"
        raise InvalidTransition(f"an order that is {state} cannot take '{event}' (allowed: {choices})")
    return allowed[event]


def is_closed(state: str) -> bool:
    """Finished: accepted (办结) or withdrawn (撤销)."""
    return state in TERMINAL
