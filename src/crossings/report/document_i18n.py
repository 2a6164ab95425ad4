"""Languages of the report: gettext catalogues (Babel), plural forms, number and date formats.

Every visible string of the report goes through :func:`gettext` / :func:`ngettext` while a
language is active (:func:`language`). The catalogues are the ``.po`` files under
``crossings/report/locale/<lang>/LC_MESSAGES/crossings.po``; they are compiled in memory when
first used, so adding a language (Kazakh ``kk``, Kyrgyz ``ky``, Tajik ``tg``, Turkmen ``tk``,
Uzbek ``uz``) needs only its catalogue.

Examples
--------
>>> with language("ru"):
...     ngettext("%(num)d pair of focal areas", "%(num)d pairs of focal areas", 5) % {"num": 5}
'5 пар ключевых участков'
>>> with language("ru"):
...     number(1234.5, 1)
'1\\xa0234,5'
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import functools
import gettext as _gettext
import io
import re
from collections.abc import Iterator
from importlib import resources

from babel import Locale, dates, numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from crossings.errors import ConfigError, did_you_mean

__all__ = [
    "DOMAIN",
    "available_languages",
    "catalogue_path",
    "language",
    "current_language",
    "gettext",
    "ngettext",
    "pgettext",
    "N_",
    "NP_",
    "number",
    "percent",
    "date",
    "datetime",
    "month",
]

DOMAIN = "crossings"
_current: contextvars.ContextVar[str] = contextvars.ContextVar("report_language", default="en")


def N_(message: str) -> str:
    """Mark a string for the catalogues; it is translated where it is shown."""
    return message


def NP_(context: str, message: str) -> str:
    """Mark a string with a context (e.g. ``"species"``) for the catalogues."""
    return message


def _locale_root():
    return resources.files("crossings.report") / "locale"


def available_languages() -> tuple[str, ...]:
    """Languages that have a catalogue, e.g. ``("en", "ru")``."""
    root = _locale_root()
    return tuple(
        sorted(
            entry.name
            for entry in root.iterdir()
            if entry.is_dir() and (entry / "LC_MESSAGES" / f"{DOMAIN}.po").is_file()
        )
    )


def catalogue_path(lang: str):
    """The ``.po`` file of ``lang``."""
    return _locale_root() / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def _translations(lang: str) -> _gettext.GNUTranslations:
    with catalogue_path(lang).open("rb") as handle:
        catalog = read_po(handle, locale=lang, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return _gettext.GNUTranslations(buffer)


def check_language(lang: str) -> str:
    """``lang`` if it has a catalogue, else a :class:`ConfigError` listing the languages."""
    langs = available_languages()
    if lang not in langs:
        raise ConfigError(
            f"no catalogue for language {lang!r}; choose one of {', '.join(langs)}."
            + did_you_mean(lang, langs),
            field="lang",
        )
    return lang


@contextlib.contextmanager
def language(lang: str) -> Iterator[str]:
    """Make ``lang`` the language of :func:`gettext` and the formatters inside the block."""
    token = _current.set(check_language(lang))
    try:
        yield lang
    finally:
        _current.reset(token)


def current_language() -> str:
    return _current.get()


def gettext(message: str) -> str:
    """``message`` in the current language."""
    return _translations(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    """The plural form for ``count`` in the current language (Russian has three)."""
    return _translations(_current.get()).ngettext(singular, plural, count)


def pgettext(context: str, message: str) -> str:
    """``message`` in the current language, in a context (e.g. ``"species"`` names)."""
    return _translations(_current.get()).pgettext(context, message)


def _locale() -> Locale:
    return Locale.parse(_current.get())


def number(value: float | int, digits: int = 0) -> str:
    """``value`` with ``digits`` decimals, grouped and punctuated as the language writes numbers."""
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    return numbers.format_decimal(value, format=pattern, locale=_locale())


def percent(value: float, digits: int = 1) -> str:
    """A value already in percent (``58.5`` -> ``58.5 %`` or ``58,5 %``)."""
    locale = _locale()
    # The language's own pattern ("#,##0%" or "#,##0 %"), with the decimals asked for.
    pattern = locale.percent_formats[None].pattern
    if digits > 0:  # the last integer digit of the pattern gets the decimals
        pattern = re.sub(r"0(?=[^0#,]*$)", "0." + "0" * digits, pattern, count=1)
    return numbers.format_percent(value / 100, format=pattern, locale=locale)


def date(value: dt.date | dt.datetime) -> str:
    """A date in the language's long format (``1 December 2026``, ``1 декабря 2026 г.``)."""
    return dates.format_date(value, format="long", locale=_locale())


def datetime(value: dt.datetime) -> str:
    """A timestamp with time, in UTC, in the language's medium format."""
    return dates.format_datetime(value, format="medium", tzinfo=dt.timezone.utc, locale=_locale())


def month(value: str) -> str:
    """A ``YYYY-MM`` month as the language abbreviates it (``Jan 2023``, ``янв. 2023``).

    Anything that is not ``YYYY-MM`` is returned as it is.
    """
    try:
        first = dt.date(int(value[:4]), int(value[5:7]), 1)
    except (TypeError, ValueError):
        return value
    if len(value) != 7 or value[4] != "-":
        return value
    return dates.format_date(first, format="LLL y", locale=_locale())
