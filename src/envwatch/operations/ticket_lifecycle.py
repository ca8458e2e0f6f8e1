"""The service ticket lifecycle (运维服务工单流程, CS-4.3.3) as one table (DESIGN convention 3).

Theory of operation
-------------------
An enterprise calls the 7×24 service line (or files a request online): the ``requested`` event creates the
ticket (every request is recorded, CS-4.3.3), so it is never a transition. The operator **responds**
(响应: somebody has taken the call and owns it), an engineer **arrives** on site (到场), **resolves** the
problem (处理完成) and the enterprise **confirms** (企业确认) — only the enterprise closes a ticket.

- ``reject`` (企业不认可): the enterprise does not accept the fix; the ticket goes back to ``on_site``, which
  means "work under way" (处理中), not "the engineer is standing there now". It is the same request, so the
  SLA clocks are not restarted: they count the first response and the first arrival (see ``ticket_sla``).
  A new fault is a new ticket.
- ``resolve_remotely`` (远程解决): many calls are questions about data or settings (数据咨询, 运维求助) that the
  operator answers on the phone or fixes through the remote platform; nobody needs to travel. After the
  response the operator may record such a fix instead of an arrival; the ticket is ``remote_fixed`` and waits
  for the enterprise like a fix on site. The enterprise confirms (closed: the on-site clock did not apply) or
  rejects: then somebody must come, and the ticket is back at ``responded`` with the on-site clock running
  from the request as before (``ticket_sla``).
- ``cancel`` (撤销): the requester withdraws the request, only before anybody responded; once the operator
  owns it the ticket runs to a confirmed close, so an answered call is never dropped silently.
- ``survey`` (满意度回访): the satisfaction survey is a fact recorded on a ``closed`` ticket, not a state: the
  ticket stays closed, and the table says surveys come only after the close.
- ``comment`` is allowed in every state, terminal ones too (a late note), never a change of state.

Invariants: every transition is a row here; anything not here is refused with :class:`InvalidTransition`
(HTTP 409); ``closed`` and ``cancelled`` are terminal; nothing leads back to ``requested``.
"""

from __future__ import annotations

from typing import Final, Literal

from envwatch.core.errors import Conflict

TicketState = Literal["requested", "responded", "on_site", "resolved", "remote_fixed", "closed", "cancelled"]
TicketEvent = Literal[
    "requested",
    "respond",
    "arrive",
    "resolve",
    "resolve_remotely",
    "reject",
    "confirm",
    "cancel",
    "survey",
    "comment",
]

TICKET_STATES: Final[tuple[TicketState, ...]] = (
    "requested",
    "responded",
    "on_site",
    "resolved",
    "remote_fixed",
    "closed",
    "cancelled",
)
TICKET_EVENTS: Final[tuple[TicketEvent, ...]] = (
    "requested",
    "respond",
    "arrive",
    "resolve",
    "resolve_remotely",
    "reject",
    "confirm",
    "cancel",
    "survey",
    "comment",
)

TICKET_TRANSITIONS: Final[dict[TicketState, dict[TicketEvent, TicketState]]] = {
    "requested": {
        "respond": "responded",
        "cancel": "cancelled",
        "comment": "requested",
    },
    "responded": {
        "arrive": "on_site",
        "resolve_remotely": "remote_fixed",
        "comment": "responded",
    },
    "on_site": {
        "resolve": "resolved",
        "comment": "on_site",
    },
    "resolved": {
        "confirm": "closed",
        "reject": "on_site",
        "comment": "resolved",
    },
    "remote_fixed": {
        "confirm": "closed",
        "reject": "responded",  # not solved remotely after all: somebody must come
        "comment": "remote_fixed",
    },
    "closed": {
        "survey": "closed",
        "comment": "closed",
    },
    "cancelled": {"comment": "cancelled"},
}

# who sends what: the enterprise asks, judges and answers the survey; the operator does the work
ENTERPRISE_EVENTS: Final[frozenset[TicketEvent]] = frozenset(
    {"requested", "cancel", "reject", "confirm", "survey", "comment"}
)
OPERATOR_EVENTS: Final[frozenset[TicketEvent]] = frozenset(
    {"respond", "arrive", "resolve", "resolve_remotely", "comment"}
)


class InvalidTransition(Conflict):
    """The event is not allowed in the ticket's current state."""


def next_state(state: TicketState, event: TicketEvent) -> TicketState:
    """The state after ``event``; :class:`InvalidTransition` when the table has no such row."""
    allowed = TICKET_TRANSITIONS[state]
    if event not in allowed:
        choices = ", ".join(sorted(allowed)) or "nothing"
        raise InvalidTransition(f"a ticket that is {state} cannot take '{event}' (allowed: {choices})")
    return allowed[event]


def is_open(state: str) -> bool:
    """Still work to do for somebody (not closed, not cancelled)."""
    return state not in ("closed", "cancelled")
