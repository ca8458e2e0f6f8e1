"""The lifecycle of one instrument or tool of an operator (一机一档, CS-4.4.3) as one table (DESIGN convention 3).

Theory of operation
-------------------
A piece of equipment enters the ledger when it is **purchased** (购置): that event creates its file and puts
it ``in_stock`` (库存), so it is never a transition. From there:

- ``installed`` (安装投运): put on a data logger (a device under a contract of the operator that day), from the
  store or straight back from repair;
- ``moved`` (迁移): taken from one device to another (the equipment stays ``installed``);
- ``removed`` (拆回入库): taken off its device back into the store;
- ``sent_to_repair`` (送修): out of service for repair, from the store or from its device;
- ``repaired`` (维修): a repair; in place while in stock or installed, and the end of a repair (back into the
  store) while ``repairing``;
- ``maintained`` (维护保养) and ``verified`` (检定/校准, with the next due date): recorded where the equipment
  is; a verification while ``repairing`` is allowed (the repairer often has it verified before returning it);
- ``scrapped`` (报废): from any state but ``scrapped``, final: nothing is recorded after it.

The schema's event list (purchased, installed, maintained, verified, repaired, moved, scrapped) has no event
that takes equipment out of service for repair or back into the store, so ``sent_to_repair`` and ``removed``
are added here: without them the state ``repairing`` could never be reached and an installed instrument could
never return to the store.

Invariants: every transition is a row here; anything not here is refused with :class:`InvalidTransition`
(HTTP 409); ``scrapped`` is terminal and takes nothing; nothing leads back to a state by ``purchased``.
"""

from __future__ import annotations

from typing import Final, Literal

from envwatch.core.errors import Conflict

EquipmentState = Literal["in_stock", "installed", "repairing", "scrapped"]
EquipmentEvent = Literal[
    "purchased",
    "installed",
    "moved",
    "removed",
    "sent_to_repair",
    "repaired",
    "maintained",
    "verified",
    "scrapped",
]

EQUIPMENT_STATES: Final[tuple[EquipmentState, ...]] = ("in_stock", "installed", "repairing", "scrapped")
EQUIPMENT_EVENTS: Final[tuple[EquipmentEvent, ...]] = (
    "purchased",
    "installed",
    "moved",
    "removed",
    "sent_to_repair",
    "repaired",
    "maintained",
    "verified",
    "scrapped",
)
# what a person records (``purchased`` creates the file and is recorded by ``add_equipment`` only)
RECORDED_EVENTS: Final[tuple[EquipmentEvent, ...]] = EQUIPMENT_EVENTS[1:]

EQUIPMENT_TRANSITIONS: Final[dict[EquipmentState, dict[EquipmentEvent, EquipmentState]]] = {
    "in_stock": {
        "installed": "installed",
        "sent_to_repair": "repairing",
        "repaired": "in_stock",
        "maintained": "in_stock",
        "verified": "in_stock",
        "scrapped": "scrapped",
    },
    "installed": {
        "moved": "installed",
        "removed": "in_stock",
        "sent_to_repair": "repairing",
        "repaired": "installed",
        "maintained": "installed",
        "verified": "installed",
        "scrapped": "scrapped",
    },
    "repairing": {
        "installed": "installed",
        "repaired": "in_stock",
        "verified": "repairing",
        "scrapped": "scrapped",
    },
    "scrapped": {},
}

# events that put the equipment on a device (the device is required and must be the operator's that day)
TAKES_DEVICE: Final[frozenset[EquipmentEvent]] = frozenset({"installed", "moved"})
# events after which the equipment is on no device
LEAVES_DEVICE: Final[frozenset[EquipmentEvent]] = frozenset({"removed", "sent_to_repair", "scrapped"})
# events whose comment is required: what was wrong, what was done, why it was scrapped
NEEDS_COMMENT: Final[frozenset[EquipmentEvent]] = frozenset({"sent_to_repair", "repaired", "scrapped"})
TERMINAL: Final[frozenset[EquipmentState]] = frozenset({"scrapped"})


class InvalidTransition(Conflict):
    """The event is not allowed in the equipment's current state."""


def next_equipment_state(state: EquipmentState, event: EquipmentEvent) -> EquipmentState:
    """The state after ``event``; :class:`InvalidTransition` when the table has no such row."""
    allowed = EQUIPMENT_TRANSITIONS[state]
    if event not in allowed:
        choices = ", ".join(sorted(allowed)) or "nothing: it is final"
        raise InvalidTransition(f"equipment that is {state} cannot take '{event}' (allowed: {choices})")
    return allowed[event]
