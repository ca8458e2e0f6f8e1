"""The outbox dispatcher on a real database (SQLite and PostgreSQL) with real servers on loopback."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.exc import DBAPIError

from envwatch.alarms.channels import Channel, Delivery, InAppChannel, OutgoingNotification, WebhookChannel
from envwatch.alarms.dispatch import (
    DispatchCounts,
    NotifyConfig,
    backoff,
    build_channels,
    claim_due,
    dispatch_due,
    run_dispatcher,
)
from envwatch.alarms.notify import Audience, announce
from envwatch.alarms.notify_schema import notification_attempts, notifications
from envwatch.alarms.notify_targets import add_target
from envwatch.core.db import engine_from_url
from tests.alarms.test_channels import LoopbackHttp, Mailbox, free_port

NOW = datetime(2026, 5, 1, 2, 0, tzinfo=UTC)
REGION = Audience(None, (), "350102")  # region targets need no registry rows
POLICY: dict[str, Any] = {"base_backoff_s": 30.0, "max_backoff_s": 3600.0, "max_attempts": 8}


@pytest.fixture
def http() -> Iterator[LoopbackHttp]:
    server = LoopbackHttp()
    yield server
    server.close()


def target(engine: Engine, channel: str, address: str) -> None:
    with engine.begin() as conn:
        add_target(conn, channel=channel, address=address, region_code="3501", created_by="t", now=NOW)


def queue(engine: Engine, ref_id: int = 1, subject: str = "超标报警", now: datetime = NOW) -> list[int]:
    """Announce one alarm to the region; the ids of the new rows."""
    with engine.begin() as conn:
        before = conn.execute(select(notifications.c.id).order_by(notifications.c.id.desc())).scalar() or 0
        announce(
            conn,
            topic="alarm",
            ref_id=ref_id,
            event="opened",
            subject=subject,
            body="小时均值 123.4",
            payload={"alarm_id": ref_id},
            audience=REGION,
            now=now,
        )
        query = select(notifications.c.id).where(notifications.c.id > before).order_by(notifications.c.id)
        return list(conn.execute(query).scalars())


def row(engine: Engine, nid: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(notifications).where(notifications.c.id == nid)).one()


def attempts(engine: Engine, nid: int) -> list[tuple[datetime, bool, bool, str]]:
    query = (
        select(notification_attempts)
        .where(notification_attempts.c.notification_id == nid)
        .order_by(notification_attempts.c.id)
    )
    with engine.connect() as conn:
        return [(a.at, a.ok, a.permanent, a.detail) for a in conn.execute(query)]


def run(engine: Engine, channels: dict[str, Channel], now: datetime, **kw: Any) -> DispatchCounts:
    return dispatch_due(engine, channels, now, **{**POLICY, **kw})


def test_backoff_doubles_and_caps() -> None:
    assert [backoff(n, 30, 3600).total_seconds() for n in range(9)] == [
        30, 60, 120, 240, 480, 960, 1920, 3600, 3600,
    ]  # fmt: skip
    assert backoff(6, 30, 1920) == timedelta(seconds=1920)  # exactly at the cap
    assert backoff(6, 30, 1919) == timedelta(seconds=1919)  # just under it
    assert backoff(10_000, 1, 5) == timedelta(seconds=5)  # no overflow for a huge count


def test_every_channel_delivers_once(engine: Engine, http: LoopbackHttp) -> None:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        target(engine, "webhook", f"{http.base}/hook")
        target(engine, "email", "duty@bureau.example")
        target(engine, "sms", "13800138000")
        ids = queue(engine, subject="超标报警：甲厂 总排口")
        config = NotifyConfig(
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_sender="alarms@envwatch.example",
            sms_url_template=f"{http.base}/sms?to={{phone}}&msg={{text}}",
        )
        counts = run(engine, build_channels(config), NOW)
    finally:
        controller.stop()
    assert counts == DispatchCounts(sent=4, retried=0, failed=0)
    for nid in ids:
        r = row(engine, nid)
        assert (r.state, r.attempts, r.sent_at, r.claimed_until, r.last_error) == ("sent", 1, NOW, None, None)
        [(at, ok, permanent, _)] = attempts(engine, nid)
        assert (at, ok, permanent) == (NOW, True, False)
    assert [m["Subject"] for _, m in box.messages] == ["超标报警：甲厂 总排口"]
    assert sorted(s.path.split("?")[0] for s in http.seen) == ["/hook", "/sms"]
    assert run(engine, build_channels(config), NOW + timedelta(hours=1)) == DispatchCounts()  # nothing twice


def test_retry_then_sent(engine: Engine, http: LoopbackHttp) -> None:
    target(engine, "webhook", f"{http.base}/hook")
    http.script["/hook"] = [500]
    [inapp, hook] = queue(engine)
    channels: dict[str, Channel] = {"inapp": InAppChannel(), "webhook": WebhookChannel(5)}
    assert run(engine, channels, NOW) == DispatchCounts(sent=1, retried=1, failed=0)
    r = row(engine, hook)
    assert (r.state, r.attempts, r.next_attempt_at, r.claimed_until) == (
        "pending",
        1,
        NOW + timedelta(seconds=30),
        None,
    )
    assert r.last_error.startswith("HTTP 500")
    assert (
        run(engine, channels, NOW + timedelta(seconds=29, microseconds=999999)) == DispatchCounts()
    )  # not due
    later = NOW + timedelta(seconds=30)
    assert run(engine, channels, later) == DispatchCounts(sent=1)
    r = row(engine, hook)
    assert (r.state, r.attempts, r.sent_at) == ("sent", 2, later)
    assert [(a[0], a[1], a[2]) for a in attempts(engine, hook)] == [(NOW, False, False), (later, True, False)]
    assert len(http.seen) == 2
    assert row(engine, inapp).state == "sent"


def test_backoff_schedule_until_max_attempts(engine: Engine) -> None:
    target(engine, "webhook", f"http://127.0.0.1:{free_port()}/closed")
    [_, hook] = queue(engine)
    channels: dict[str, Channel] = {"inapp": InAppChannel(), "webhook": WebhookChannel(2)}
    policy = {"base_backoff_s": 30.0, "max_backoff_s": 100.0, "max_attempts": 5}
    now, waits = NOW, []
    for _ in range(4):
        counts = run(engine, channels, now, **policy)
        assert counts.retried == 1 and counts.failed == 0
        r = row(engine, hook)
        waits.append((r.next_attempt_at - now).total_seconds())
        assert r.state == "pending" and r.last_error.startswith("not reachable")
        now = r.next_attempt_at
    assert waits == [30, 60, 100, 100]  # 120 capped at 100
    assert run(engine, channels, now, **policy) == DispatchCounts(failed=1)  # the 5th failure: given up
    r = row(engine, hook)
    assert (r.state, r.attempts, r.sent_at) == ("failed", 5, None)
    assert r.last_error.endswith("(gave up after 5 attempts)")
    assert [a[2] for a in attempts(engine, hook)] == [False] * 5  # none was a permanent answer
    assert run(engine, channels, now + timedelta(days=1), **policy) == DispatchCounts()


def test_permanent_failures(engine: Engine, http: LoopbackHttp) -> None:
    target(engine, "webhook", f"{http.base}/hook")
    target(engine, "email", "duty@bureau.example")
    http.script["/hook"] = [400]
    [_, hook, mail] = queue(engine)
    counts = run(engine, {"inapp": InAppChannel(), "webhook": WebhookChannel(5)}, NOW)  # no SMTP configured
    assert counts == DispatchCounts(sent=1, retried=0, failed=2)
    r = row(engine, hook)
    assert (r.state, r.attempts) == ("failed", 1) and r.last_error.startswith("HTTP 400")
    r = row(engine, mail)
    assert (r.state, r.last_error) == ("failed", "no SMTP server configured (ENVWATCH_SMTP_HOST)")
    assert attempts(engine, mail) == [(NOW, False, True, "no SMTP server configured (ENVWATCH_SMTP_HOST)")]


class Exploding:
    name = "webhook"

    def send(self, n: OutgoingNotification) -> Delivery:
        raise KeyError("bug")


def test_an_adapter_that_raises_is_retried(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    target(engine, "webhook", "https://hooks.example/x")
    [_, hook] = queue(engine)
    with caplog.at_level(logging.ERROR, logger="envwatch.notify"):
        assert run(engine, {"inapp": InAppChannel(), "webhook": Exploding()}, NOW) == DispatchCounts(1, 1, 0)
    assert row(engine, hook).last_error == "adapter error: KeyError: 'bug'"
    assert "the webhook adapter raised" in caplog.text


def test_claims_are_compare_and_set(engine: Engine) -> None:
    ids = queue(engine)  # one in-app row (the region)
    ids += queue(engine, 2, now=NOW + timedelta(seconds=5))
    assert [n.id for n in claim_due(engine, NOW, limit=10, claim_s=60)] == ids[
        :1
    ]  # the second is not due yet
    later = NOW + timedelta(seconds=5)
    assert [n.id for n in claim_due(engine, later, limit=10, claim_s=60)] == ids[1:]  # the first is held
    assert claim_due(engine, later, limit=10, claim_s=60) == []  # a second dispatcher gets nothing
    held_until = NOW + timedelta(seconds=60)
    assert claim_due(engine, held_until - timedelta(microseconds=1), limit=10, claim_s=60) == []
    assert [n.id for n in claim_due(engine, held_until, limit=10, claim_s=60)] == ids[
        :1
    ]  # expired: due again
    assert row(engine, ids[0]).claimed_until == held_until + timedelta(seconds=60)
    assert [n.id for n in claim_due(engine, NOW + timedelta(hours=1), limit=1, claim_s=60)] == ids[
        :1
    ]  # limit


def test_two_dispatchers_never_send_one_row_twice(engine: Engine, http: LoopbackHttp) -> None:
    target(engine, "webhook", f"{http.base}/hook")
    for ref in range(30):
        queue(engine, ref)
    channels: dict[str, Channel] = {"inapp": InAppChannel(), "webhook": WebhookChannel(5)}
    totals: list[DispatchCounts] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def dispatcher() -> None:
        try:
            start.wait()
            while (counts := run(engine, channels, NOW, limit=4)).total:  # each thread: its own connections
                totals.append(counts)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=dispatcher) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    delivered = sorted(int(s.body.split(b'"id": ')[1].split(b",")[0]) for s in http.seen)
    with engine.connect() as conn:
        hooks = sorted(
            conn.execute(select(notifications.c.id).where(notifications.c.channel == "webhook")).scalars()
        )
        states = set(conn.execute(select(notifications.c.state, notifications.c.attempts)).all())
        journal = conn.execute(select(notification_attempts.c.notification_id)).scalars().all()
    assert delivered == hooks and len(hooks) == 30  # each webhook row POSTed exactly once
    assert states == {("sent", 1)}
    assert len(journal) == len(set(journal)) == 60  # one attempt per row
    assert sum(c.sent for c in totals) == 60


def test_two_engines_on_one_sqlite_file(tmp_path: Path) -> None:
    """Two processes' worth of engines on the same SQLite file: the claim holds across connections."""
    from envwatch.migrations import upgrade

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first, second = engine_from_url(url), engine_from_url(url)
    try:
        upgrade(first)
        ids = queue(first)
        assert [n.id for n in claim_due(first, NOW, limit=10, claim_s=60)] == ids
        assert claim_due(second, NOW + timedelta(seconds=59), limit=10, claim_s=60) == []
        assert run(second, {"inapp": InAppChannel()}, NOW + timedelta(seconds=60)) == DispatchCounts(sent=1)
    finally:
        first.dispose()
        second.dispose()


def test_out_of_time_hands_claims_back(engine: Engine) -> None:
    ids = [queue(engine, ref)[0] for ref in range(3)]
    # the round starts at 0; row 1 at 0; row 2 at 30.0 = half of claim_s (still in time); row 3 past it
    ticks = iter([0.0, 0.0, 30.0, 30.1])

    counts = run(engine, {"inapp": InAppChannel()}, NOW, claim_s=60, monotonic=lambda: next(ticks))
    assert counts == DispatchCounts(sent=2)
    assert [row(engine, i).state for i in ids] == ["sent", "sent", "pending"]
    assert [row(engine, i).claimed_until for i in ids] == [None, None, None]
    assert [n.id for n in claim_due(engine, NOW, limit=10, claim_s=60)] == ids[2:]  # at once, not in 60 s


def test_attempts_are_append_only(engine: Engine) -> None:
    [nid] = queue(engine)
    run(engine, {"inapp": InAppChannel()}, NOW)
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(update(notification_attempts).values(detail="rewritten"))
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(delete(notification_attempts))
    assert [a[3] for a in attempts(engine, nid)] == ["in the inbox"]


def test_config(tmp_path: Path) -> None:
    config = NotifyConfig.from_settings(
        SimpleNamespace(**{**asdict(NotifyConfig()), "smtp_host": "mail.example"})
    )
    assert config.smtp_host == "mail.example" and config.notify_max_attempts == 8
    assert "smtp_password" not in repr(NotifyConfig(smtp_password="pw"))
    with pytest.raises(AttributeError, match="notify_claim_s"):
        NotifyConfig.from_settings(
            SimpleNamespace(**{k: v for k, v in asdict(config).items() if k != "notify_claim_s"})
        )
    with pytest.raises(ValueError, match="notify back-off"):
        NotifyConfig(notify_base_backoff_s=60, notify_max_backoff_s=30)
    with pytest.raises(ValueError, match="at least 1"):
        NotifyConfig(notify_max_attempts=0)
    assert sorted(build_channels(NotifyConfig())) == ["inapp", "webhook"]
    full = NotifyConfig(
        smtp_host="mail.example", smtp_sender="a@b.example", sms_url_template="https://s.example/?to={phone}"
    )
    assert sorted(build_channels(full)) == ["email", "inapp", "sms", "webhook"]


def test_run_dispatcher_sends_and_survives_failing_rounds(
    sqlite_engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ids = queue(sqlite_engine)
    config = NotifyConfig(notify_every_s=0.05)
    broken = engine_from_url(f"sqlite:///{tmp_path / 'empty.db'}")  # no tables: every round fails

    async def main() -> None:
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(
                run_dispatcher(sqlite_engine, {"inapp": InAppChannel()}, config, stop, clock=lambda: NOW)
            ),
            asyncio.create_task(
                run_dispatcher(broken, {"inapp": InAppChannel()}, config, stop, clock=lambda: NOW)
            ),
        ]
        for _ in range(100):
            await asyncio.sleep(0.05)
            if (
                row(sqlite_engine, ids[0]).state == "sent"
                and caplog.text.count("a notification round failed") >= 2
            ):
                break
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=5)  # both end when asked

    with caplog.at_level(logging.ERROR, logger="envwatch.notify"):
        asyncio.run(main())
    broken.dispose()
    assert row(sqlite_engine, ids[0]).state == "sent"
    assert caplog.text.count("a notification round failed") >= 2  # the broken loop went on
