"""Channel adapters (通知渠道): how one outbox row reaches its recipient.

Theory of operation
-------------------
A channel gets one :class:`OutgoingNotification` and answers a :class:`Delivery`: sent, worth retrying, or
a permanent failure that retrying cannot fix (a refused recipient, a 4xx answer). The dispatcher decides
what happens next (``alarms.dispatch``); adapters never touch the database and never sleep.

- ``inapp``: the row in ``notifications`` *is* the delivery (the web inbox reads it): always ok.
- ``email``: SMTP (smtplib), UTF-8 subject and body. 5xx on the recipient or the message = permanent;
  4xx, refused connections, timeouts and login/TLS problems (configuration that can be fixed) = retry.
- ``webhook``: POST of a JSON envelope (urllib, no extra dependency). 2xx ok; 4xx permanent except
  408/425/429 (the receiver asks to come back); 3xx permanent (register the final URL: a redirected POST
  would lose its body); 5xx, timeouts and connection errors retry.
- ``sms``: an HTTP SMS gateway adapter. The phone and the text go into a configured URL template (values
  percent-encoded) and, for POST, a body template (JSON-escaped in a JSON body, form-encoded otherwise);
  the same status rules as the webhook.

Delivery is at least once: a dispatcher that dies after sending and before recording sends again later.
Webhook and SMS gateway receivers can deduplicate on the notification id (``id`` in the JSON, ``{id}`` in a
template).

No secrets in details or logs: URLs (webhook tokens, SMS API keys sit in them), headers and the SMTP
password never appear in a :class:`Delivery` detail; only status codes, the answer's first bytes and error
classes do.
"""

from __future__ import annotations

import http.client
import json
import smtplib
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Final, Protocol

DETAIL_MAX: Final = 500  # characters of an answer kept in a detail
ANSWER_BYTES: Final = 300  # bytes of an HTTP answer read for the detail
RETRY_4XX: Final = frozenset({408, 425, 429})  # Request Timeout, Too Early, Too Many Requests
USER_AGENT: Final = "envwatch-notify/1"


@dataclass(frozen=True)
class OutgoingNotification:
    """One outbox row as a channel sees it."""

    id: int
    topic: str
    ref_id: int
    event: str
    channel: str
    recipient: str
    subject: str
    body: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    attempts: int = 0


@dataclass(frozen=True)
class Delivery:
    """A channel's answer: ``ok``; else ``permanent`` says retrying cannot help; ``detail`` is for people."""

    ok: bool
    permanent: bool
    detail: str


class Channel(Protocol):
    """A delivery adapter; ``send`` never raises for a delivery problem, it answers a :class:`Delivery`."""

    @property
    def name(self) -> str: ...

    def send(self, n: OutgoingNotification) -> Delivery: ...


def _ok(detail: str) -> Delivery:
    return Delivery(True, False, detail[:DETAIL_MAX])


def _retry(detail: str) -> Delivery:
    return Delivery(False, False, detail[:DETAIL_MAX])


def _permanent(detail: str) -> Delivery:
    return Delivery(False, True, detail[:DETAIL_MAX])


def webhook_envelope(n: OutgoingNotification) -> dict[str, Any]:
    """The JSON a webhook receives: what happened, in words and as data, with the id to deduplicate on."""
    return {
        "id": n.id,
        "topic": n.topic,
        "ref_id": n.ref_id,
        "event": n.event,
        "subject": n.subject,
        "body": n.body,
        "data": dict(n.payload),
    }


# ---- in-app ---------------------------------------------------------------------------------------


class InAppChannel:
    """The inbox reads ``notifications`` itself: dispatching an in-app row only marks it delivered."""

    name: Final = "inapp"

    def send(self, n: OutgoingNotification) -> Delivery:
        return _ok("in the inbox")


# ---- e-mail (SMTP) --------------------------------------------------------------------------------


class SmtpChannel:
    """E-mail through one SMTP server (a relay of the operator's own mail system, usually)."""

    name: Final = "email"

    def __init__(
        self,
        host: str,
        port: int = 25,
        sender: str = "",
        username: str = "",
        password: str = "",
        starttls: bool = False,
        timeout: float = 30.0,
    ) -> None:
        if not host:
            raise ValueError("SmtpChannel needs a host (ENVWATCH_SMTP_HOST)")
        if not sender:
            raise ValueError("SmtpChannel needs a sender address (ENVWATCH_SMTP_SENDER)")
        self.host, self.port, self.sender = host, port, sender
        self.username, self._password = username, password
        self.starttls, self.timeout = starttls, timeout

    def __repr__(self) -> str:  # never shows the password
        return f"SmtpChannel({self.host}:{self.port}, sender={self.sender!r}, starttls={self.starttls})"

    def message(self, n: OutgoingNotification) -> EmailMessage:
        msg = EmailMessage()  # default policy: RFC 2047 encoded subject, UTF-8 body
        msg["From"] = self.sender
        msg["To"] = n.recipient
        msg["Subject"] = n.subject
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        msg["Message-ID"] = make_msgid(idstring=f"envwatch.{n.id}")
        msg["X-Envwatch-Notification"] = str(n.id)
        msg.set_content(n.body, charset="utf-8")
        return msg

    def send(self, n: OutgoingNotification) -> Delivery:
        msg = self.message(n)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.ehlo()
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if self.username:
                    smtp.login(self.username, self._password)
                smtp.send_message(msg, from_addr=self.sender, to_addrs=[n.recipient])
        except smtplib.SMTPRecipientsRefused as exc:
            code, answer = next(iter(exc.recipients.values()), (0, b""))
            return _smtp_answer("recipient refused", code, answer)
        except smtplib.SMTPDataError as exc:
            return _smtp_answer("message refused", exc.smtp_code, exc.smtp_error)
        except smtplib.SMTPAuthenticationError as exc:
            # the configured account is wrong: retried, so that mail goes out once the setting is fixed
            return _retry(f"SMTP login refused ({exc.smtp_code}); check ENVWATCH_SMTP_USERNAME/PASSWORD")
        except smtplib.SMTPSenderRefused as exc:
            return _retry(f"SMTP sender refused: {_smtp_text(exc.smtp_code, exc.smtp_error)}")
        except smtplib.SMTPNotSupportedError as exc:
            return _retry(f"SMTP server does not support what is configured: {exc}")
        except smtplib.SMTPResponseException as exc:
            return _smtp_answer("SMTP error", exc.smtp_code, exc.smtp_error)
        except (smtplib.SMTPException, OSError) as exc:  # refused connection, timeout, TLS, disconnect
            return _retry(f"SMTP server {self.host}:{self.port} not reachable: {type(exc).__name__}: {exc}")
        return _ok(f"accepted by {self.host}:{self.port}")


def _smtp_text(code: int, answer: bytes | str) -> str:
    text = answer.decode("utf-8", "replace") if isinstance(answer, bytes) else str(answer)
    return f"{code} {text}".strip()


def _smtp_answer(what: str, code: int, answer: bytes | str) -> Delivery:
    detail = f"{what}: {_smtp_text(code, answer)}"
    # RFC 5321 §4.2.1: 5yz is a permanent negative completion, 4yz transient
    return _permanent(detail) if 500 <= code < 600 else _retry(detail)


# ---- HTTP (webhook, SMS gateway) ------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as an error: urllib would turn a POST into a GET and drop the body."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER: Final = urllib.request.build_opener(_NoRedirect)


def http_status_delivery(status: int, answer: str) -> Delivery:
    """The status rules shared by the webhook and the SMS gateway."""
    detail = f"HTTP {status}" + (f": {answer}" if answer else "")
    if 200 <= status < 300:
        return _ok(detail)
    if status in RETRY_4XX or status >= 500:
        return _retry(detail)
    if 300 <= status < 400:
        return _permanent(detail + " (a redirect: register the final URL)")
    return _permanent(detail)


def _answer_text(raw: bytes) -> str:
    return " ".join(raw.decode("utf-8", "replace").split())


def http_deliver(request: urllib.request.Request, timeout: float) -> Delivery:
    """Send ``request`` and judge the answer; never raises for network trouble. No URL in the detail."""
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            status = response.status
            try:
                raw = response.read(ANSWER_BYTES)
            except (OSError, http.client.HTTPException):  # the status arrived: that is the answer
                raw = b""
        return http_status_delivery(status, _answer_text(raw))
    except urllib.error.HTTPError as exc:
        try:
            raw = exc.read(ANSWER_BYTES)
        except (OSError, ValueError, http.client.HTTPException):  # the answer broke off: the status is enough
            raw = b""
        finally:
            exc.close()
        return http_status_delivery(exc.code, _answer_text(raw))
    except urllib.error.URLError as exc:  # refused, DNS, TLS: the reason names no URL
        return _retry(f"not reachable: {exc.reason}")
    except (TimeoutError, http.client.HTTPException, OSError) as exc:
        return _retry(f"no answer: {type(exc).__name__}: {exc}")


def _is_http_url(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


class WebhookChannel:
    """POST the notification as JSON to the recipient URL (a chat robot, a ticket system, a SCADA …)."""

    name: Final = "webhook"

    def __init__(self, timeout: float = 10.0, headers: Mapping[str, str] | None = None) -> None:
        self.timeout = timeout
        self._headers = dict(headers or {})

    def __repr__(self) -> str:  # headers may carry tokens
        return f"WebhookChannel(timeout={self.timeout}, headers={sorted(self._headers)})"

    def send(self, n: OutgoingNotification) -> Delivery:
        if not _is_http_url(n.recipient):
            return _permanent("the recipient is not an http(s) URL")
        data = json.dumps(webhook_envelope(n), ensure_ascii=False).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            **self._headers,
        }
        request = urllib.request.Request(n.recipient, data=data, headers=headers, method="POST")
        return http_deliver(request, self.timeout)


class SmsChannel:
    """An HTTP SMS gateway (短信网关): fills the phone and the text into configured templates.

    Placeholders: ``{phone}``, ``{text}`` (subject, a new line, body, cut to ``max_text_chars``),
    ``{subject}`` and ``{id}`` (the notification id, to deduplicate on). Only these are replaced, so a
    JSON body template keeps its own braces. In the URL every value is percent-encoded; in a body template
    that is JSON (it starts with ``{`` or ``[``) values are JSON-escaped, otherwise form-encoded.

    Examples: ``https://sms.example/send?key=K&to={phone}&msg={text}`` with GET;
    ``https://sms.example/api`` with POST and ``{"mobile": "{phone}", "content": "{text}"}``.
    """

    name: Final = "sms"
    PLACEHOLDERS: Final = ("{phone}", "{text}", "{subject}", "{id}")

    def __init__(
        self,
        url_template: str,
        body_template: str = "",
        method: str = "GET",
        timeout: float = 10.0,
        max_text_chars: int = 500,
    ) -> None:
        self.method = method.upper()
        if self.method not in ("GET", "POST"):
            raise ValueError(f"SMS gateway method must be GET or POST, not {method!r} (ENVWATCH_SMS_METHOD)")
        if self.method == "GET" and body_template:
            raise ValueError("an SMS body template needs ENVWATCH_SMS_METHOD=POST")
        if not _is_http_url(url_template.replace("{", "").replace("}", "")):
            raise ValueError(
                "the SMS gateway URL template must be an http(s) URL (ENVWATCH_SMS_URL_TEMPLATE)"
            )
        self._url_template, self._body_template = url_template, body_template
        self.json_body = body_template.lstrip().startswith(("{", "["))
        self.timeout, self.max_text_chars = timeout, max_text_chars
        if self.json_body:  # a broken template is found at start-up, not at the first alarm
            sample = self.body(
                OutgoingNotification(0, "alarm", 0, "opened", "sms", "+8613800138000", '"\\{x}', '"')
            )
            try:
                json.loads(sample)
            except ValueError as exc:
                raise ValueError(f"the SMS body template is not valid JSON once filled in: {exc}") from None

    def __repr__(self) -> str:  # the templates hold the gateway's key
        return f"SmsChannel(method={self.method}, timeout={self.timeout})"

    def text(self, n: OutgoingNotification) -> str:
        text = f"{n.subject}\n{n.body}" if n.body else n.subject
        return text[: self.max_text_chars]

    def _values(self, n: OutgoingNotification) -> dict[str, str]:
        return {"{phone}": n.recipient, "{text}": self.text(n), "{subject}": n.subject, "{id}": str(n.id)}

    @staticmethod
    def _fill(template: str, values: Mapping[str, str], escape: Any) -> str:
        # one pass over the template, so a value that contains "{phone}" is not replaced again
        out, i = [], 0
        while i < len(template):
            for key, value in values.items():
                if template.startswith(key, i):
                    out.append(escape(value))
                    i += len(key)
                    break
            else:
                out.append(template[i])
                i += 1
        return "".join(out)

    def url(self, n: OutgoingNotification) -> str:
        return self._fill(self._url_template, self._values(n), lambda v: urllib.parse.quote(v, safe=""))

    def body(self, n: OutgoingNotification) -> str:
        if self.json_body:
            escape: Any = lambda v: json.dumps(v, ensure_ascii=False)[1:-1]  # noqa: E731
        else:
            escape = lambda v: urllib.parse.quote_plus(v)  # noqa: E731
        return self._fill(self._body_template, self._values(n), escape)

    def send(self, n: OutgoingNotification) -> Delivery:
        data: bytes | None = None
        headers = {"User-Agent": USER_AGENT}
        if self.method == "POST":
            data = self.body(n).encode("utf-8")
            headers["Content-Type"] = (
                "application/json; charset=utf-8"
                if self.json_body
                else "application/x-www-form-urlencoded; charset=utf-8"
            )
        request = urllib.request.Request(self.url(n), data=data, headers=headers, method=self.method)
        return http_deliver(request, self.timeout)
