"""The languages the managers' web speaks: gettext catalogues (Babel) and the language of the
request being answered.

One context variable holds the language; the web sets it once per request (the user's choice,
else the browser's Accept-Language) and everything that builds page text reads it: the
templates through Jinja2's i18n extension, and Python that writes sentences or chart titles
through :func:`gettext` here. Outside a request (the CLI's reports) it stays English, except
where a store's language is asked for (a digest, in :func:`speaking`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from babel import Locale
    from babel.support import NullTranslations

# Babel is imported where it is used: the CLI names the languages (``peakend user add
# --language``) on hosts without the server's packages.

LOCALES = Path(__file__).parent / "locales"
DEFAULT = "en"
# The languages offered, by the tag pages and the users table use, with their own names (a
# person who cannot read the current language still finds theirs).
LANGUAGES: dict[str, str] = {"en": "English", "zh-Hans": "简体中文"}

_language: ContextVar[str] = ContextVar("language", default=DEFAULT)


def use(language: str) -> None:
    """Answer the current request in ``language`` (an unknown one falls back to English)."""
    _language.set(language if language in LANGUAGES else DEFAULT)


@contextmanager
def speaking(language: str) -> Iterator[None]:
    """Write in ``language`` inside the block, then as before: a digest is written in its
    store's language by a process that goes on to write the next store's."""
    token = _language.set(language if language in LANGUAGES else DEFAULT)
    try:
        yield
    finally:
        _language.reset(token)


def current() -> str:
    return _language.get()


def gettext(message: str) -> str:
    return catalogue(current()).ugettext(message)


def N_(message: str) -> str:
    """Marks text translated later, where it is shown (a table of labels built at import);
    the extraction finds it by this name."""
    return message


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form for ``n``; the caller fills in ``%(num)d`` (as the templates' ngettext does)."""
    return catalogue(current()).ungettext(singular, plural, n)


@cache
def catalogue(language: str) -> NullTranslations:
    """The compiled catalogue of ``language``; English is the source text itself."""
    from babel.support import NullTranslations, Translations

    if language == DEFAULT:
        return NullTranslations()
    return Translations.load(str(LOCALES), [babel_locale(language)], domain="messages")


def babel_locale(language: str) -> str:
    """The catalogue folder and Babel locale of a language tag: zh-Hans is zh_Hans. The pages'
    English is British (as is their text), so it writes dates as "Mon 2 Mar"."""
    return "en_GB" if language == DEFAULT else language.replace("-", "_")


def negotiate(accept_language: str | None) -> str:
    """The first language of a browser's Accept-Language we speak; English otherwise. Any
    Chinese but the traditional script's regions reads simplified characters."""
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if tag and q > 0:
            ranked.append((-q, i, tag.strip()))
    for _, _, tag in sorted(ranked):
        found = _ours(tag)
        if found:
            return found
    return DEFAULT


def _ours(tag: str) -> str | None:
    lower = tag.lower()
    if lower == "en" or lower.startswith("en-"):
        return "en"
    if lower == "zh" or lower.startswith("zh-"):
        if lower.startswith(("zh-hant", "zh-tw", "zh-hk", "zh-mo")):
            return None
        return "zh-Hans"
    return None


def locale() -> Locale:
    from babel import Locale, UnknownLocaleError

    try:
        return Locale.parse(babel_locale(current()))
    except (ValueError, UnknownLocaleError):
        return Locale.parse("en_GB")


def fmt_decimal(value: float | int | None, digits: int = 0) -> str:
    """A number as the current language writes it (grouping, decimal sign); "-" for none."""
    from babel.numbers import format_decimal

    if value is None:
        return "-"
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, format=pattern, locale=locale())


def fmt_index(value: float | None) -> str:
    """The Happy Index (0-100) to one decimal, as the language writes decimals."""
    return fmt_decimal(value, 1)


def fmt_share(value: float | None) -> str:
    """A share (0-1) as a percentage to one decimal, the language's percent sign and place."""
    from babel.numbers import format_percent

    if value is None:
        return "-"
    return format_percent(value, format="#,##0.0%", locale=locale())


def fmt_change_share(d: float) -> str:
    """Percentage points: 12 % -> 15 % is +3.0 pts, not +25 %."""
    from babel.numbers import format_decimal

    points = format_decimal(d * 100, format="+#,##0.0;-#,##0.0", locale=locale())
    return gettext("%(points)s pts") % {"points": points}


def fmt_datetime(moment: datetime | date, skeleton: str) -> str:
    """A moment as the current language writes it, from a CLDR skeleton ("Hm", "EHm", "MMMd"):
    each language orders and names the parts its own way."""
    from babel.dates import format_skeleton

    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day)
    return format_skeleton(skeleton, moment, tzinfo=moment.tzinfo, locale=locale())
