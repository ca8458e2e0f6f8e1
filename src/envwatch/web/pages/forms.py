"""What the pages with forms of their own (marks, filings) share: the text field of a posted form, an
error shown in the form it came from, and datetime-local values (China time) in and out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from fastapi import Form, HTTPException

from envwatch.core.clock import to_china
from envwatch.core.errors import InvalidInput
from envwatch.web.api.common import parse_time

Text = Annotated[str, Form(max_length=4000)]


@dataclass
class FormProblem:
    """An error shown in a form: which form (``where``), the translated lead-in (a msgid, with ``args``),
    the service's own text after it, and what the user typed (given back)."""

    where: str
    lead: str
    text: str = ""
    values: dict[str, str] = field(default_factory=dict)
    args: dict[str, Any] = field(default_factory=dict)


def local_input(moment: datetime) -> str:
    """A time as a datetime-local input value (China time, minutes)."""
    return to_china(moment).strftime("%Y-%m-%dT%H:%M")


def form_time(name: str, text: str) -> datetime:
    """A datetime-local value (China time) as an aware time; InvalidInput (shown in the form) for a
    missing or unreadable one."""
    try:
        moment = parse_time(name, text)
    except HTTPException as exc:
        raise InvalidInput(str(exc.detail)) from None
    if moment is None:
        raise InvalidInput(f"{name} is required")
    return moment
