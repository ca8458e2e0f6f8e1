"""The outbox dispatcher (通知发送): claims due notifications, sends them, records what happened.

Theory of operation
-------------------
A round (:func:`dispatch_due`) has three steps, each in its own place:

1. **Claim** (one short transaction): one ``UPDATE … RETURNING`` sets ``claimed_until = now + claim_s`` on
   up to ``limit`` rows that are ``pending``, due (``next_attempt_at <= now``) and not claimed (``claimed_until``
   empty or past). The conditions are in the UPDATE itself, so it is a compare-and-set: of two dispatchers
   (processes, machines) only one gets a row. On PostgreSQL the candidate rows are taken ``FOR UPDATE SKIP
   LOCKED``, so concurrent dispatchers share the work instead of waiting for each other.
2. **Send**, outside any transaction (a slow SMTP server holds no lock).
3. **Record** (one short transaction per network send; in-app results are grouped): a
   ``notification_attempts`` row (append-only) and the new state of the notification:

   - delivered → ``sent`` (``sent_at``);
   - a permanent failure, or the ``max_attempts``-th failure → ``failed`` (``last_error`` says why);
   - otherwise → still ``pending``, ``next_attempt_at = now + min(max_backoff, base_backoff · 2^attempts)``
     where ``attempts`` counts the failures before this one (30 s, 60 s, 120 s … with a 30 s base).

A claim that expires (the process died) makes the row due again: delivery is at least once. So that a
claim does not expire while its row is still being sent, a round that has used half of ``claim_s`` (real
time) hands its remaining claims back and stops; ``claim_s`` must therefore exceed twice the longest send
(the channel timeouts). A channel with no adapter configured fails permanently with the setting to fill in.

All times written in a round are the round's ``now`` (time is an input, DESIGN convention 6).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Engine, insert, or_, select, update

from envwatch.alarms.channels import (
    Channel,
    Delivery,
    InAppChannel,
    OutgoingNotification,
    SmsChannel,
    SmtpChannel,
    WebhookChannel,
)
from envwatch.alarms.notify_schema import notification_attempts, notifications
from envwatch.core.clock import utcnow

log = logging.getLogger("envwatch.notify")

# what to configure when a channel has no adapter (the detail of the permanent failure)
MISSING_ADAPTER: Final = {
    "email": "no SMTP server configured (ENVWATCH_SMTP_HOST)",
    "sms": "no SMS gateway configured (ENVWATCH_SMS_URL_TEMPLATE)",
    "webhook": "no webhook adapter configured",
    "inapp": "no in-app adapter configured",
}
INSTANT: Final = frozenset({"inapp"})  # channels whose results may wait to be recorded with the next ones


@dataclass(frozen=True)
class NotifyConfig:
    """The settings of the notification channels and the dispatcher; the field names are those of
    ``core.settings.Settings`` (``ENVWATCH_SMTP_HOST`` …), read by :meth:`from_settings`."""

    smtp_host: str = ""
    smtp_port: int = 25
    smtp_sender: str = ""
    smtp_username: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_starttls: bool = False
    smtp_timeout_s: float = 30.0
    webhook_timeout_s: float = 10.0
    sms_url_template: str = field(default="", repr=False)  # may carry the gateway's key
    sms_body_template: str = field(default="", repr=False)
    sms_method: str = "GET"
    sms_timeout_s: float = 10.0
    notify_base_backoff_s: float = 30.0
    notify_max_backoff_s: float = 3600.0
    notify_max_attempts: int = 8
    notify_every_s: float = 10.0
    notify_batch: int = 100
    notify_claim_s: float = 300.0

    def __post_init__(self) -> None:
        if self.notify_base_backoff_s <= 0 or self.notify_max_backoff_s < self.notify_base_backoff_s:
            raise ValueError("notify back-off: need 0 < notify_base_backoff_s <= notify_max_backoff_s")
        if self.notify_max_attempts < 1 or self.notify_batch < 1:
            raise ValueError("notify_max_attempts and notify_batch must be at least 1")
        if self.notify_claim_s <= 0 or self.notify_every_s <= 0:
            raise ValueError("notify_claim_s and notify_every_s must be positive")

    @classmethod
    def from_settings(cls, settings: Any) -> NotifyConfig:
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})


def build_channels(config: NotifyConfig) -> dict[str, Channel]:
    """The adapters the configuration allows: in-app and webhook always, e-mail with an SMTP host, SMS
    with a gateway URL template. A missing one makes its rows fail with :data:`MISSING_ADAPTER`."""
    channels: dict[str, Channel] = {
        "inapp": InAppChannel(),
        "webhook": WebhookChannel(config.webhook_timeout_s),
    }
    if config.smtp_host:
        channels["email"] = SmtpChannel(
            config.smtp_host,
            config.smtp_port,
            config.smtp_sender,
            config.smtp_username,
            config.smtp_password,
            config.smtp_starttls,
            config.smtp_timeout_s,
        )
    if config.sms_url_template:
        channels["sms"] = SmsChannel(
            config.sms_url_template, config.sms_body_template, config.sms_method, config.sms_timeout_s
        )
    return channels


@dataclass(frozen=True)
class DispatchCounts:
    """What one round did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.sent + self.retried + self.failed


def backoff(failures_before: int, base_s: float, max_s: float) -> timedelta:
    """The wait after a failure when ``failures_before`` failures came before it: base · 2^n, capped."""
    return timedelta(seconds=min(max_s, base_s * 2 ** min(failures_before, 62)))


_COLUMNS: Final = (
    notifications.c.id,
    notifications.c.topic,
    notifications.c.ref_id,
    notifications.c.event,
    notifications.c.channel,
    notifications.c.recipient,
    notifications.c.subject,
    notifications.c.body,
    notifications.c.payload,
    notifications.c.attempts,
    notifications.c.next_attempt_at,
)


def claim_due(engine: Engine, now: datetime, *, limit: int, claim_s: float) -> list[OutgoingNotification]:
    """Claim up to ``limit`` due rows until ``now + claim_s`` (compare-and-set); the claimed rows in due
    order. Rows another dispatcher holds are not returned."""
    n = notifications.c
    due = (
        n.state == "pending",
        n.next_attempt_at <= now,
        or_(n.claimed_until.is_(None), n.claimed_until <= now),
    )
    with engine.begin() as conn:
        candidates = select(n.id).where(*due).order_by(n.next_attempt_at, n.id).limit(limit)
        if conn.dialect.name == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        # MATERIALIZED: the candidates are chosen once. Inlined, PostgreSQL may rescan a LIMIT subquery per
        # row while updating, see the rows this statement already claimed as no longer due, and take more.
        chosen = candidates.cte("candidates").prefix_with("MATERIALIZED")
        rows = conn.execute(
            update(notifications)
            .where(n.id.in_(select(chosen.c.id)), *due)
            .values(claimed_until=now + timedelta(seconds=claim_s))
            .returning(*_COLUMNS)
        ).all()
    return [
        OutgoingNotification(
            id=r.id,
            topic=r.topic,
            ref_id=r.ref_id,
            event=r.event,
            channel=r.channel,
            recipient=r.recipient,
            subject=r.subject,
            body=r.body,
            payload=r.payload or {},
            attempts=r.attempts,
        )
        for r in sorted(rows, key=lambda r: (r.next_attempt_at, r.id))
    ]


def _release(engine: Engine, ids: list[int], until: datetime) -> None:
    """Hand back claims not used (only ours: a claim another dispatcher took since is left alone)."""
    n = notifications.c
    with engine.begin() as conn:
        conn.execute(
            update(notifications)
            .where(n.id.in_(ids), n.state == "pending", n.claimed_until == until)
            .values(claimed_until=None)
        )


def _send(channels: Mapping[str, Channel], n: OutgoingNotification) -> Delivery:
    channel = channels.get(n.channel)
    if channel is None:
        return Delivery(False, True, MISSING_ADAPTER.get(n.channel, f"no adapter for channel {n.channel!r}"))
    try:
        return channel.send(n)
    except Exception as exc:  # an adapter bug must not stop the round; retried, bounded by max_attempts
        log.exception("notification %d: the %s adapter raised", n.id, n.channel)
        return Delivery(False, False, f"adapter error: {type(exc).__name__}: {exc}"[:500])


@dataclass(frozen=True)
class _Policy:
    base_backoff_s: float
    max_backoff_s: float
    max_attempts: int


@dataclass(frozen=True)
class _Outcome:
    n: OutgoingNotification
    delivery: Delivery


def _record(engine: Engine, outcomes: list[_Outcome], now: datetime, policy: _Policy) -> DispatchCounts:
    sent = retried = failed = 0
    n = notifications.c
    with engine.begin() as conn:
        for o in outcomes:
            d = o.delivery
            conn.execute(
                insert(notification_attempts).values(
                    notification_id=o.n.id, at=now, ok=d.ok, permanent=d.permanent, detail=d.detail
                )
            )
            attempts = o.n.attempts + 1
            values: dict[str, Any] = {"attempts": n.attempts + 1, "claimed_until": None}
            if d.ok:
                values.update(state="sent", sent_at=now)
                sent += 1
            elif d.permanent or attempts >= policy.max_attempts:
                error = d.detail if d.permanent else f"{d.detail} (gave up after {attempts} attempts)"
                values.update(state="failed", last_error=error)
                failed += 1
                log.warning("notification %d (%s) failed for good: %s", o.n.id, o.n.channel, error)
            else:
                delay = backoff(o.n.attempts, policy.base_backoff_s, policy.max_backoff_s)
                values.update(next_attempt_at=now + delay, last_error=d.detail)
                retried += 1
                log.info("notification %d (%s) retried in %s: %s", o.n.id, o.n.channel, delay, d.detail)
            # state = pending: a row another dispatcher finished meanwhile (after our claim expired) keeps
            # its outcome; our attempt is journaled all the same
            conn.execute(update(notifications).where(n.id == o.n.id, n.state == "pending").values(**values))
    return DispatchCounts(sent, retried, failed)


def dispatch_due(
    engine: Engine,
    channels: Mapping[str, Channel],
    now: datetime,
    *,
    limit: int = 100,
    claim_s: float = 60.0,
    base_backoff_s: float,
    max_backoff_s: float,
    max_attempts: int,
    monotonic: Callable[[], float] = time.monotonic,
) -> DispatchCounts:
    """One round: claim up to ``limit`` due notifications, send each, record each outcome.

    ``monotonic`` measures the round's real duration (to stop before the claims run out); tests may pass
    a fake one.
    """
    policy = _Policy(base_backoff_s, max_backoff_s, max_attempts)
    claimed = claim_due(engine, now, limit=limit, claim_s=claim_s)
    started = monotonic()
    totals = DispatchCounts()
    buffered: list[_Outcome] = []

    def flush() -> None:
        nonlocal totals, buffered
        if buffered:
            got = _record(engine, buffered, now, policy)
            totals = DispatchCounts(
                totals.sent + got.sent, totals.retried + got.retried, totals.failed + got.failed
            )
            buffered = []

    for i, n in enumerate(claimed):
        if monotonic() - started > claim_s / 2:
            flush()
            rest = [x.id for x in claimed[i:]]
            _release(engine, rest, now + timedelta(seconds=claim_s))
            log.warning("notification round out of time: %d claims handed back", len(rest))
            break
        buffered.append(_Outcome(n, _send(channels, n)))
        if n.channel not in INSTANT:
            flush()
    flush()
    return totals


async def run_dispatcher(
    engine: Engine,
    channels: Mapping[str, Channel],
    config: NotifyConfig,
    stop_event: asyncio.Event,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """Dispatch until ``stop_event`` is set: a round, then a pause of ``notify_every_s`` (none while a full
    batch shows a backlog). A failing round is logged and the loop goes on."""
    while not stop_event.is_set():
        counts = DispatchCounts()
        try:
            counts = await asyncio.to_thread(
                dispatch_due,
                engine,
                channels,
                clock(),
                limit=config.notify_batch,
                claim_s=config.notify_claim_s,
                base_backoff_s=config.notify_base_backoff_s,
                max_backoff_s=config.notify_max_backoff_s,
                max_attempts=config.notify_max_attempts,
            )
        except Exception:  # the database may be away for a moment: the rows wait in the outbox
            log.exception("a notification round failed")
        if counts.total:
            log.debug("notifications: %s", counts)
        if counts.total >= config.notify_batch:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop_event.wait(), timeout=config.notify_every_s)
