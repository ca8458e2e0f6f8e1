"""The custody steps after registration: label, transport, hand-over, lab, disposal; reprints; reviews.

Each step is checked here for what the state table cannot say (who may act, what evidence the step needs)
and recorded through :func:`envwatch.sampling.journal.append`:

- ``print_label``: the first print only, by someone of the sample's agency; the seal number may be noted.
- ``reprint`` (WZ-A2-8): a label that became unreadable or damaged is printed again only with a video of the
  whole reprint (its SHA-256 in the blob store) and a reason; ``prints`` counts every print.
- ``dispatch``: the preservation in transport (冷藏 cold, 避光 dark, 防震 shock-proof) as the sampler set it.
- ``hand_over`` (WZ-A2-9): the receiver checks seal and label; ``abnormal`` needs a note and a photo; the
  receiver is not the sampler (a hand-over to oneself checks nothing).
- ``reject``: seal or label badly damaged (photo) or missing, with a note; final.
- ``receive``, ``open`` (WZ-A2-10: the lab's re-check, ``abnormal`` with note and photo), ``analyse``,
  ``dispose``.
- ``review``: a regulator's look at an entry flagged offline or mistimed; ``accepted`` or ``questioned``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from sqlalchemy import Connection

from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.core.geo import check_position
from envwatch.core.inputs import text
from envwatch.registry.agencies import get_agency_staff
from envwatch.sampling.custody import ACCEPTING_CHECKS, CHECK_RESULTS, Event
from envwatch.sampling.entry import Position
from envwatch.sampling.journal import EventFacts, append
from envwatch.sampling.reads import sample_row

Step = Literal["print_label", "dispatch", "hand_over", "reject", "receive", "open", "analyse", "dispose"]
STEPS: Final[tuple[Step, ...]] = (
    "print_label",
    "dispatch",
    "hand_over",
    "reject",
    "receive",
    "open",
    "analyse",
    "dispose",
)
PRESERVATION: Final[tuple[str, ...]] = ("cold", "dark", "shockproof")  # 冷藏, 避光, 防震
REVIEW_OUTCOMES: Final[tuple[str, ...]] = ("accepted", "questioned")


@dataclass(frozen=True, slots=True)
class StepInput:
    staff_id: int | None  # the person acting (an agency account's own file; admin names one)
    check_result: str | None = None
    seal_no: str | None = None
    preservation: dict[str, bool] | None = None
    photo_sha256: str | None = None
    note: str = ""
    position: Position | None = None  # where it happened (the phone's GPS), when known


def _person(conn: Connection, sample: dict[str, Any], staff_id: int | None) -> dict[str, Any]:
    if staff_id is None:
        raise InvalidInput("name the person acting (staff_id of the agency)")
    try:
        person = get_agency_staff(conn, staff_id)
    except NotFound:
        person = None
    if person is None or person["agency_id"] != sample["agency_id"]:
        raise NotFound(f"no staff member with id {staff_id} at the sample's agency")
    if not person["active"]:
        raise InvalidInput(f"{person['name']} no longer works for the agency (inactive)")
    return person


def _check(step: Step, given: StepInput) -> str | None:
    """The seal and label check a step needs, with its evidence."""
    result = given.check_result
    if step in ("hand_over", "open"):
        if result not in ACCEPTING_CHECKS:
            raise InvalidInput(
                f"{step}: check_result must be intact or abnormal (a badly damaged or missing seal or label "
                "is a reject)"
            )
        if result == "abnormal" and not (given.note.strip() and given.photo_sha256):
            raise InvalidInput(f"{step}: an abnormal seal or label needs a note and a photo (WZ-A2-9/10)")
        return result
    if step == "reject":
        if result not in ("abnormal", "damaged", "missing"):
            raise InvalidInput(
                "reject: check_result must be damaged, missing or abnormal (say what was found)"
            )
        if not given.note.strip():
            raise InvalidInput("reject: a note saying why is required")
        if result != "missing" and not given.photo_sha256:
            raise InvalidInput("reject: a photo of the damaged seal or label is required")
        return result
    if result is not None:
        if result not in CHECK_RESULTS:
            raise InvalidInput(f"check_result must be one of {', '.join(CHECK_RESULTS)}")
        raise InvalidInput(f"{step} records no seal check")
    return None


def _preservation(step: Step, given: StepInput) -> dict[str, Any]:
    if step != "dispatch":
        if given.preservation is not None:
            raise InvalidInput(f"{step} records no preservation (that is dispatch)")
        return {}
    kept = given.preservation or {}
    unknown = set(kept) - set(PRESERVATION)
    if unknown:
        raise InvalidInput(f"preservation knows {', '.join(PRESERVATION)}; not {', '.join(sorted(unknown))}")
    return {"preservation": {k: bool(kept.get(k, False)) for k in PRESERVATION}}


def record_step(
    conn: Connection, code: str, step: Step, given: StepInput, *, actor: str, now: datetime
) -> dict[str, Any]:
    """Record one custody step on the sample with ``code``; returns the event row."""
    if step not in STEPS:
        raise InvalidInput(f"unknown step {step!r}; steps: {', '.join(STEPS)}")
    sample = sample_row(conn, code)
    person = _person(conn, sample, given.staff_id)
    if step == "print_label" and sample["prints"] > 0:
        raise Conflict(
            f"the label of {sample['code']} was printed already: a reprint needs a video of the reprint (WZ-A2-8)"
        )
    if step in ("hand_over", "reject") and person["id"] == sample["sampler_staff_id"]:
        raise Conflict("the sampler cannot take over their own sample: another person checks it (WZ-A2-9)")
    facts = EventFacts(
        actor=actor,
        staff_id=person["id"],
        check_result=_check(step, given),
        seal_no=text(given.seal_no or "", "the seal number", limit=64, required=False) or None,
        details=_preservation(step, given),
        photo_sha256=given.photo_sha256,
        note=text(given.note, "the note", required=step == "dispose"),
        latitude=None if given.position is None else given.position.latitude,
        longitude=None if given.position is None else given.position.longitude,
    )
    if given.position is not None:
        check_position(given.position.latitude, given.position.longitude)
    changes = {"prints": 1} if step == "print_label" else None
    event: Event = step
    return append(conn, sample, event, facts, now, changes=changes)


def record_reprint(
    conn: Connection,
    code: str,
    *,
    staff_id: int | None,
    video_sha256: str | None,
    reason: str,
    actor: str,
    now: datetime,
) -> dict[str, Any]:
    """A reprint (补打) with its video (WZ-A2-8); returns the event row (``details.print`` is its number)."""
    sample = sample_row(conn, code)
    person = _person(conn, sample, staff_id)
    if sample["prints"] == 0:
        raise Conflict(f"the label of {sample['code']} was never printed: print it (print_label) first")
    if not video_sha256:
        raise InvalidInput(
            "a reprint needs the video of the whole reprint (WZ-A2-8): upload it with the request"
        )
    number = sample["prints"] + 1
    facts = EventFacts(
        actor=actor,
        staff_id=person["id"],
        details={"print": number},
        video_sha256=video_sha256,
        note=text(reason, "the reason for the reprint", required=True),
    )
    return append(conn, sample, "reprint", facts, now, changes={"prints": number})


def record_review(
    conn: Connection, code: str, *, outcome: str, note: str, actor: str, now: datetime
) -> dict[str, Any]:
    """The review of a flagged entry (offline, clock skew); clears ``needs_review``."""
    sample = sample_row(conn, code)
    if not sample["needs_review"]:
        raise Conflict(f"sample {sample['code']} has no entry waiting for review")
    if outcome not in REVIEW_OUTCOMES:
        raise InvalidInput(f"outcome must be one of {', '.join(REVIEW_OUTCOMES)}")
    facts = EventFacts(
        actor=actor,
        details={"outcome": outcome},
        note=text(note, "the review note", required=outcome == "questioned"),
    )
    return append(conn, sample, "review", facts, now, changes={"needs_review": False})
