"""Channel adapters against real servers on loopback: an SMTP server (aiosmtpd) and an HTTP server in a thread."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from envwatch.alarms.channels import (
    Delivery,
    InAppChannel,
    OutgoingNotification,
    SmsChannel,
    SmtpChannel,
    WebhookChannel,
    http_status_delivery,
)

SUBJECT = '超标报警：甲厂 总排口 化学需氧量 & "COD"'
BODY = "小时均值 123.4 mg/L，限值 100 mg/L（超标 0.23 倍）"


def note(recipient: str, channel: str = "webhook", **kw: Any) -> OutgoingNotification:
    fields: dict[str, Any] = {
        "id": 17,
        "topic": "alarm",
        "ref_id": 41,
        "event": "opened",
        "channel": channel,
        "recipient": recipient,
        "subject": SUBJECT,
        "body": BODY,
        "payload": {"factor": "w01018", "peak": "123.4"},
    }
    return OutgoingNotification(**{**fields, **kw})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- a real HTTP server on loopback ---------------------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def query(self) -> dict[str, list[str]]:
        return urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)


@dataclass
class LoopbackHttp:
    """An HTTP server answering each path with the next status of its script (200 when the script is
    empty), recording every request. ``delay_s`` makes it slow."""

    script: dict[str, list[int]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    delay_s: float = 0.0
    base: str = ""

    def __post_init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                owner.seen.append(Seen(self.command, self.path, dict(self.headers.items()), body))
                if owner.delay_s:
                    time.sleep(owner.delay_s)
                path = urllib.parse.urlsplit(self.path).path
                queue = owner.script.get(path, [])
                status = queue.pop(0) if queue else 200
                answer = f'{{"status": {status}, "msg": "回执"}}'.encode()
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", f"{owner.base}/moved")
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:  # keep the test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def http() -> Iterator[LoopbackHttp]:
    server = LoopbackHttp()
    yield server
    server.close()


# ---- status rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "ok", "permanent"),
    [
        (200, True, False),
        (204, True, False),
        (299, True, False),
        (300, False, True),
        (302, False, True),
        (399, False, True),
        (400, False, True),
        (404, False, True),
        (407, False, True),
        (408, False, False),
        (409, False, True),
        (424, False, True),
        (425, False, False),
        (428, False, True),
        (429, False, False),
        (430, False, True),
        (499, False, True),
        (500, False, False),
        (503, False, False),
        (599, False, False),
    ],
)
def test_http_status_rules(status: int, ok: bool, permanent: bool) -> None:
    d = http_status_delivery(status, "answer")
    assert (d.ok, d.permanent, d.detail.startswith(f"HTTP {status}: answer")) == (ok, permanent, True)


def test_inapp_is_always_delivered() -> None:
    assert InAppChannel().send(note("enterprise:1", "inapp")) == Delivery(True, False, "in the inbox")


# ---- webhook --------------------------------------------------------------------------------------


def test_webhook_posts_the_json_envelope(http: LoopbackHttp) -> None:
    channel = WebhookChannel(timeout=5, headers={"Authorization": "Bearer s3cret"})
    d = channel.send(note(f"{http.base}/hook?access_token=tok123"))
    assert d == Delivery(True, False, 'HTTP 200: {"status": 200, "msg": "回执"}')
    [req] = http.seen
    assert (req.method, req.path) == ("POST", "/hook?access_token=tok123")
    assert req.headers["Content-Type"] == "application/json; charset=utf-8"
    assert req.headers["Authorization"] == "Bearer s3cret"
    assert json.loads(req.body.decode("utf-8")) == {
        "id": 17,
        "topic": "alarm",
        "ref_id": 41,
        "event": "opened",
        "subject": SUBJECT,
        "body": BODY,
        "data": {"factor": "w01018", "peak": "123.4"},
    }
    assert "s3cret" not in repr(channel)


@pytest.mark.parametrize(("status", "permanent"), [(400, True), (429, False), (500, False), (503, False)])
def test_webhook_failures(http: LoopbackHttp, status: int, permanent: bool) -> None:
    http.script["/hook"] = [status]
    d = WebhookChannel(timeout=5).send(note(f"{http.base}/hook?access_token=tok123"))
    assert (d.ok, d.permanent) == (False, permanent)
    assert d.detail.startswith(f"HTTP {status}")
    assert "tok123" not in d.detail and "127.0.0.1" not in d.detail  # no URL (tokens live in them)


def test_webhook_redirect_is_not_followed(http: LoopbackHttp) -> None:
    http.script["/hook"] = [307]
    d = WebhookChannel(timeout=5).send(note(f"{http.base}/hook"))
    assert (d.ok, d.permanent) == (False, True)
    assert "register the final URL" in d.detail
    assert [s.path for s in http.seen] == ["/hook"]  # /moved was never asked


def test_webhook_unreachable_and_slow(http: LoopbackHttp) -> None:
    closed = free_port()
    d = WebhookChannel(timeout=2).send(note(f"http://127.0.0.1:{closed}/hook"))
    assert (d.ok, d.permanent) == (False, False)
    assert d.detail.startswith("not reachable") and "refused" in d.detail.lower()
    http.delay_s = 1.0
    d = WebhookChannel(timeout=0.2).send(note(f"{http.base}/slow"))
    assert (d.ok, d.permanent) == (False, False)
    assert "timed out" in d.detail
    d = WebhookChannel(timeout=2).send(note("mailto:duty@example.com"))
    assert d == Delivery(False, True, "the recipient is not an http(s) URL")


# ---- SMS gateway ----------------------------------------------------------------------------------


def test_sms_get_fills_the_url_template(http: LoopbackHttp) -> None:
    channel = SmsChannel(f"{http.base}/send?key=KEY42&to={{phone}}&msg={{text}}&ref={{id}}", timeout=5)
    d = channel.send(note("+8613800138000", "sms"))
    assert d.ok and "KEY42" not in d.detail and "KEY42" not in repr(channel)
    [req] = http.seen
    assert req.method == "GET" and req.body == b""
    assert req.query == {
        "key": ["KEY42"],
        "to": ["+8613800138000"],
        "msg": [f"{SUBJECT}\n{BODY}"],
        "ref": ["17"],
    }


def test_sms_post_json_body(http: LoopbackHttp) -> None:
    template = '{"mobile": "{phone}", "content": "【环保监控】{text}", "title": "{subject}", "n": {id}}'
    channel = SmsChannel(f"{http.base}/api", template, "post", timeout=5, max_text_chars=10)
    tricky = 'a "quoted" \\ {phone} title'
    assert channel.send(note("13800138000", "sms", subject=tricky)).ok
    [req] = http.seen
    assert (req.method, req.path, req.headers["Content-Type"]) == (
        "POST",
        "/api",
        "application/json; charset=utf-8",
    )
    assert json.loads(req.body) == {
        "mobile": "13800138000",
        "content": "【环保监控】" + tricky[:10],  # text cut to max_text_chars
        "title": tricky,  # "{phone}" inside a value is not replaced again
        "n": 17,
    }


def test_sms_post_form_body_and_status_rules(http: LoopbackHttp) -> None:
    channel = SmsChannel(f"{http.base}/form", "to={phone}&msg={text}", "POST", timeout=5)
    http.script["/form"] = [500, 400]
    first, second, third = (channel.send(note("13800138000", "sms")) for _ in range(3))
    assert (first.ok, first.permanent) == (False, False)
    assert (second.ok, second.permanent) == (False, True)
    assert third.ok
    req = http.seen[-1]
    assert req.headers["Content-Type"] == "application/x-www-form-urlencoded; charset=utf-8"
    assert urllib.parse.parse_qs(req.body.decode()) == {"to": ["13800138000"], "msg": [f"{SUBJECT}\n{BODY}"]}


def test_sms_configuration_errors() -> None:
    with pytest.raises(ValueError, match="GET or POST, not 'PUT'"):
        SmsChannel("https://sms.example/send", method="PUT")
    with pytest.raises(ValueError, match="body template needs ENVWATCH_SMS_METHOD=POST"):
        SmsChannel("https://sms.example/send", "to={phone}", "GET")
    with pytest.raises(ValueError, match="not valid JSON once filled in"):
        SmsChannel("https://sms.example/send", '{"to": {phone}}', "POST")  # unquoted placeholder
    with pytest.raises(ValueError, match="must be an http\\(s\\) URL"):
        SmsChannel("sms.example/send?to={phone}")


# ---- SMTP -----------------------------------------------------------------------------------------


class Mailbox:
    """An aiosmtpd handler: refuses gone@ (550) and full@ (452), refuses messages whose subject says spam."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.startswith("gone@"):
            return "550 5.1.1 no such user"
        if address.startswith("full@"):
            return "452 4.2.2 mailbox full"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(msg, EmailMessage)
        if "spam" in str(msg["Subject"]):
            return "554 5.7.1 rejected as spam"
        self.messages.append((list(envelope.rcpt_tos), msg))
        return "250 accepted"


def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"envwatch", b"pa55word")
    return AuthResult(success=ok, handled=False)  # not handled: the server answers 535 itself


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(
        box, hostname="127.0.0.1", port=port, authenticator=authenticate, auth_require_tls=False
    )
    controller.start()
    yield box, port
    controller.stop()


def test_smtp_delivers_utf8_mail(smtp: tuple[Mailbox, int]) -> None:
    box, port = smtp
    channel = SmtpChannel("127.0.0.1", port, "alarms@envwatch.example", timeout=5)
    d = channel.send(note("duty@plant.example", "email"))
    assert d == Delivery(True, False, f"accepted by 127.0.0.1:{port}")
    [(to, msg)] = box.messages
    assert to == ["duty@plant.example"]
    assert (msg["From"], msg["To"], msg["Subject"]) == (
        "alarms@envwatch.example",
        "duty@plant.example",
        SUBJECT,
    )
    assert msg["X-Envwatch-Notification"] == "17"
    assert msg.get_content_charset() == "utf-8"
    assert msg.get_content().replace("\r\n", "\n") == BODY + "\n"


def test_smtp_login(smtp: tuple[Mailbox, int]) -> None:
    box, port = smtp
    good = SmtpChannel("127.0.0.1", port, "alarms@envwatch.example", "envwatch", "pa55word", timeout=5)
    assert good.send(note("duty@plant.example", "email")).ok
    bad = SmtpChannel("127.0.0.1", port, "alarms@envwatch.example", "envwatch", "wrong-pa55", timeout=5)
    d = bad.send(note("duty@plant.example", "email"))
    assert (d.ok, d.permanent) == (False, False)  # fixable configuration: retried
    assert "login refused" in d.detail and "wrong-pa55" not in d.detail and "wrong-pa55" not in repr(bad)
    assert len(box.messages) == 1


@pytest.mark.parametrize(
    ("recipient", "subject", "permanent", "detail"),
    [
        ("gone@plant.example", SUBJECT, True, "recipient refused: 550 5.1.1 no such user"),
        ("full@plant.example", SUBJECT, False, "recipient refused: 452 4.2.2 mailbox full"),
        ("duty@plant.example", "spam 报警", True, "message refused: 554 5.7.1 rejected as spam"),
    ],
)
def test_smtp_refusals(
    smtp: tuple[Mailbox, int], recipient: str, subject: str, permanent: bool, detail: str
) -> None:
    box, port = smtp
    d = SmtpChannel("127.0.0.1", port, "alarms@envwatch.example", timeout=5).send(
        note(recipient, "email", subject=subject)
    )
    assert d == Delivery(False, permanent, detail)
    assert box.messages == []


def test_smtp_unreachable_and_starttls_missing(smtp: tuple[Mailbox, int]) -> None:
    _, port = smtp
    closed = free_port()
    d = SmtpChannel("127.0.0.1", closed, "alarms@envwatch.example", timeout=2).send(
        note("a@b.example", "email")
    )
    assert (d.ok, d.permanent) == (False, False)
    assert d.detail.startswith(f"SMTP server 127.0.0.1:{closed} not reachable: ConnectionRefusedError")
    tls = SmtpChannel("127.0.0.1", port, "alarms@envwatch.example", starttls=True, timeout=5)
    d = tls.send(note("a@b.example", "email"))
    assert (d.ok, d.permanent) == (False, False)
    assert "does not support" in d.detail and "STARTTLS" in d.detail


def test_smtp_needs_host_and_sender() -> None:
    with pytest.raises(ValueError, match="ENVWATCH_SMTP_HOST"):
        SmtpChannel("", 25, "a@b.example")
    with pytest.raises(ValueError, match="ENVWATCH_SMTP_SENDER"):
        SmtpChannel("mail.example", 25, "")
