"""The report's gettext catalogues: extract every visible string, merge, and check completeness.

Strings are extracted from the report's Python modules (``gettext``, ``_``, ``ngettext``,
``N_``, ``NP_``), from :mod:`crossings.security` (the reasons it states) and from the Jinja2
templates. A catalogue is complete when every extracted string has a translation that is neither
empty nor fuzzy, with every plural form of its language.
"""

from __future__ import annotations

import io
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po, write_po

from crossings.report.document_i18n import DOMAIN

__all__ = [
    "LOCALE_DIR",
    "KEYWORDS",
    "extract_catalogue",
    "update_catalogue",
    "missing_translations",
]

_PACKAGE = Path(__file__).resolve().parents[1]
LOCALE_DIR = Path(__file__).with_name("locale")
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "pgettext": ((1, "c"), 2),
    "N_": None,
    "NP_": ((1, "c"), 2),
}


def _sources() -> list[tuple[Path, str]]:
    report = _PACKAGE / "report"
    files = [(p, "python") for p in sorted(report.rglob("*.py"))]
    files.append((_PACKAGE / "security.py", "python"))
    files += [(p, "jinja2.ext:babel_extract") for p in sorted((report / "templates").glob("*.j2"))]
    return files


def extract_catalogue() -> Catalog:
    """Every visible string of the report, as a template catalogue."""
    catalog = Catalog(domain=DOMAIN, project="crossings", fuzzy=False)
    for path, method in _sources():
        options = (
            {"extensions": "jinja2.ext.i18n", "trimmed": "false"} if "jinja2" in method else {}
        )
        for lineno, message, comments, context in extract_from_file(
            method, str(path), keywords=KEYWORDS, options=options, strip_comment_tags=True
        ):
            location = (path.relative_to(_PACKAGE.parent).as_posix(), lineno)
            catalog.add(message, None, [location], auto_comments=comments, context=context)
    return catalog


def _file_in(locale_dir: Path, lang: str) -> Path:
    return Path(locale_dir) / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def catalogue_file(lang: str) -> Path:
    """The ``.po`` file of ``lang`` in the package."""
    return _file_in(LOCALE_DIR, lang)


def _read(lang: str, locale_dir: Path | None = None) -> Catalog:
    path = catalogue_file(lang) if locale_dir is None else _file_in(locale_dir, lang)
    if not path.is_file():
        return Catalog(locale=lang, domain=DOMAIN, project="crossings")
    with open(path, "rb") as handle:
        return read_po(handle, locale=lang, domain=DOMAIN)


def update_catalogue(template: Catalog, lang: str) -> Path:
    """Merge ``template`` into ``lang``'s catalogue (new strings empty, changed ones fuzzy)."""
    catalog = _read(lang)
    catalog.update(template, no_fuzzy_matching=False)
    path = catalogue_file(lang)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    write_po(
        buffer, catalog, width=100, omit_header=False, ignore_obsolete=True, include_lineno=False
    )
    path.write_bytes(buffer.getvalue())
    return path


def missing_translations(
    template: Catalog | None = None, locale_dir: Path | None = None
) -> list[str]:
    """One line per string a catalogue lacks, has fuzzy, or lacks a plural form of."""
    template = template or extract_catalogue()
    locale_dir = Path(locale_dir or LOCALE_DIR)
    problems = []
    for lang_dir in sorted(p for p in locale_dir.iterdir() if p.is_dir()):
        catalog = _read(lang_dir.name, locale_dir)
        forms = catalog.num_plurals
        for message in template:
            if not message.id:
                continue
            found = catalog.get(message.id, context=message.context)
            key = message.id if isinstance(message.id, str) else message.id[0]
            if found is None:
                problems.append(f"{lang_dir.name}: missing {key!r}")
            elif found.fuzzy:
                problems.append(f"{lang_dir.name}: fuzzy {key!r}")
            elif isinstance(found.string, (tuple, list)):
                if len(found.string) != forms or not all(found.string):
                    problems.append(f"{lang_dir.name}: plural forms incomplete for {key!r}")
            elif not found.string:
                problems.append(f"{lang_dir.name}: untranslated {key!r}")
    return problems
