"""The report's catalogues are complete; plural forms and number/date formats follow the locale."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from babel.messages.pofile import read_po, write_po

from crossings.errors import ConfigError
from crossings.report import document_i18n as i18n
from crossings.report.document_catalogue import (
    LOCALE_DIR,
    catalogue_file,
    extract_catalogue,
    missing_translations,
)
from crossings.report.document_context import SPECIES, ReportContext


def test_every_string_is_translated_in_every_catalogue():
    template = extract_catalogue()
    assert len(template) > 150  # the extraction found the report's strings
    assert missing_translations(template) == []
    assert set(i18n.available_languages()) >= {"en", "ru"}


def test_an_untranslated_or_fuzzy_string_is_reported(tmp_path):
    shutil.copytree(LOCALE_DIR, tmp_path / "locale")
    path = tmp_path / "locale" / "ru" / "LC_MESSAGES" / "crossings.po"
    with open(path, "rb") as handle:
        catalog = read_po(handle, locale="ru")
    catalog["Summary"].string = ""
    catalog["Contents"].flags.add("fuzzy")
    plural = next(m for m in catalog if isinstance(m.id, tuple))
    plural.string = (plural.string[0], plural.string[1], "")
    with open(path, "wb") as handle:
        write_po(handle, catalog)
    problems = missing_translations(locale_dir=tmp_path / "locale")
    assert "ru: untranslated 'Summary'" in problems
    assert "ru: fuzzy 'Contents'" in problems
    assert f"ru: plural forms incomplete for {plural.id[0]!r}" in problems


def test_every_template_string_is_extracted():
    ids = {m.id for m in extract_catalogue()}
    assert "What was generalised or withheld" in ids  # from the Jinja2 template
    assert "the exact fence alignment is border infrastructure" in ids  # from crossings.security


@pytest.mark.parametrize(
    "count, text",
    [(1, "1 пара"), (2, "2 пары"), (5, "5 пар"), (11, "11 пар"), (21, "21 пара"), (22, "22 пары")],
)
def test_russian_has_three_plural_forms(count, text):
    with i18n.language("ru"):
        shown = i18n.ngettext("%(num)d pair of focal areas", "%(num)d pairs of focal areas", count)
    assert (shown % {"num": count}).startswith(text)


def test_numbers_and_dates_follow_the_language():
    day = dt.date(2026, 12, 1)
    with i18n.language("en"):
        assert i18n.number(1234.5, 1) == "1,234.5"
        assert i18n.percent(58.47) == "58.5%"
        assert i18n.date(day) == "December 1, 2026"
    with i18n.language("ru"):
        assert i18n.number(1234.5, 1) == "1\xa0234,5"
        assert i18n.percent(58.47).replace("\xa0", " ") == "58,5 %"
        assert i18n.date(day).replace("\u202f", " ") == "1 декабря 2026 г."


def test_species_show_latin_and_vernacular_where_the_catalogue_has_one():
    ctx = ReportContext("public", [])
    with i18n.language("ru"):
        assert ctx.species("Gazella subgutturosa") == "Gazella subgutturosa (джейран)"
        assert ctx.species("Panthera uncia") == "Panthera uncia"
    with i18n.language("en"):
        assert ctx.species("Equus hemionus") == "Equus hemionus (kulan)"
    assert "Saiga tatarica" in SPECIES


def test_a_language_without_catalogue_is_a_clear_error():
    with pytest.raises(ConfigError, match="no catalogue for language 'kk'; choose one of en, ru"):
        with i18n.language("kk"):
            pass


def test_catalogue_file_is_inside_the_package():
    assert catalogue_file("ru").is_file()
