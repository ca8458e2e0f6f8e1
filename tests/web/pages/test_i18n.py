"""The page catalogs: every string of the templates and page code has a Chinese translation, and the
committed .mo files say what their .po files say (so nothing depends on a build step)."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from envwatch.web.pages import i18n
from envwatch.web.pages.render import environment

ROOT = Path(__file__).resolve().parents[3]
WEB = ROOT / "src" / "envwatch" / "web"


def catalog(locale: str, suffix: str = "po") -> dict[str, str]:
    path = i18n.CATALOGS / locale / "LC_MESSAGES" / f"messages.{suffix}"
    with path.open("rb") as f:
        cat = read_mo(f) if suffix == "mo" else read_po(f, locale=locale)
    assert not [m.id for m in cat if m.id and m.fuzzy], f"{path}: fuzzy entries need a translator's look"
    return {str(m.id): str(m.string) for m in cat if m.id}


def source_msgids() -> set[str]:
    """What ``make i18n`` would extract (the same two methods as babel.cfg)."""
    found: set[str] = set()
    for where, method in ((WEB / "templates", "jinja2"), (WEB / "pages", "python")):
        pattern = "**.html" if method == "jinja2" else "**.py"
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(where), method_map=[(pattern, method)]
        ):
            found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_string_has_a_chinese_translation() -> None:
    zh = catalog("zh_CN")
    assert {"Log in", "Administrator"} <= source_msgids()  # templates and N_() labels are both seen
    missing_from_catalog = sorted(source_msgids() - set(zh))
    assert not missing_from_catalog, (
        f"not in the zh_CN catalog (run make i18n, then translate): {missing_from_catalog}"
    )
    untranslated = sorted(msgid for msgid, text in zh.items() if not text.strip())
    assert not untranslated, f"no Chinese for: {untranslated}"


def test_catalogs_have_the_same_strings() -> None:
    assert set(catalog("en")) == set(catalog("zh_CN"))


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_compiled_catalogs_are_current(locale: str) -> None:
    po = {k: v for k, v in catalog(locale).items() if v}
    mo = {k: v for k, v in catalog(locale, "mo").items() if v}
    assert mo == po, f"{locale}: messages.mo lags messages.po: run make i18n"


def test_placeholders_survive_translation() -> None:
    for msgid, text in catalog("zh_CN").items():
        for name in ("%(name)s", "%(code)s", "%(minutes)s", "%(first)s", "%(last)s"):
            assert (name in msgid) == (name in text), f"{msgid!r} → {text!r}: {name}"


def test_environments_translate() -> None:
    template = environment("zh_CN").from_string('{{ _("Log in") }}|{{ _("Region %(code)s", code="<b>") }}')
    assert template.render() == "登录|行政区划 &lt;b&gt;"  # newstyle gettext escapes the arguments
    assert environment("en").from_string('{{ _("Log in") }}').render() == "Log in"
