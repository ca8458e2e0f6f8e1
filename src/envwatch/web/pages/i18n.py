"""Locales of the pages: Chinese by default, English on request (issue 4).

The catalogs live in ``web/i18n/<locale>/LC_MESSAGES/messages.po`` with the compiled ``messages.mo``
beside them (committed, so a fresh clone serves translated pages without a build step; ``make i18n``
extracts, updates and recompiles, and ``tests/web/pages/test_i18n.py`` fails when a .mo lags its .po or a
string has no Chinese translation).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from babel.support import NullTranslations, Translations
from fastapi import Request

CATALOGS = Path(__file__).resolve().parent.parent / "i18n"
DOMAIN = "messages"
DEFAULT = "zh_CN"
LOCALES = ("zh_CN", "en")  # the order of the language switch
LANG_COOKIE = "lang"
HTML_LANG = {"zh_CN": "zh-CN", "en": "en"}
LABELS = {"zh_CN": "中文", "en": "English"}  # each in its own language, as switches show them


def N_(message: str) -> str:
    """Marks a string for extraction whose translation happens later (labels kept in Python tables)."""
    return message


@cache
def translations(locale: str) -> NullTranslations:
    """The compiled catalog of ``locale``; ``Translations.load`` falls back to the msgids if absent."""
    return Translations.load(str(CATALOGS), [locale], DOMAIN)


def _from_accept_language(header: str) -> str | None:
    """The first supported language of an Accept-Language header, by quality then order."""
    offers: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        offers.append((-quality, index, tag.strip().lower()))
    for quality, _index, tag in sorted(offers):
        if quality >= 0:  # q=0 means "not this one"
            continue
        if tag.startswith("zh"):
            return "zh_CN"
        if tag.startswith("en"):
            return "en"
    return None


def locale_of(request: Request) -> str:
    """``lang`` cookie (set by the switch), else Accept-Language, else zh_CN."""
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LOCALES:
        return chosen
    return _from_accept_language(request.headers.get("accept-language", "")) or DEFAULT
