"""Licences of the data sources, in the report's language.

Sources (``metadata.json`` beside a run's inputs) state their licence in English. The report
shows its name and a one-line summary through the catalogues, keeping the licence identifier
(SPDX) and its URL as they are, and says when the binding text exists in English only.

Examples
--------
>>> from crossings.report.document_i18n import language
>>> with language("ru"):
...     shown = licence("CC-BY-4.0")
>>> shown.name, shown.identifier, shown.url
('Creative Commons «С указанием авторства» 4.0', 'CC-BY-4.0', 'https://creativecommons.org/licenses/by/4.0/')
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from crossings.report import document_i18n as i18n
from crossings.report.document_i18n import N_

__all__ = ["ShownLicence", "licence", "layer_name", "KNOWN"]


@dataclass(frozen=True)
class KnownLicence:
    name: str
    summary: str
    url: str = ""


#: SPDX identifiers (and plain statements seen in sources) -> name, summary, URL.
KNOWN: dict[str, KnownLicence] = {
    "CC-BY-4.0": KnownLicence(
        N_("Creative Commons Attribution 4.0"),
        N_("use, share and adapt, naming the source"),
        "https://creativecommons.org/licenses/by/4.0/",
    ),
    "CC-BY-SA-4.0": KnownLicence(
        N_("Creative Commons Attribution-ShareAlike 4.0"),
        N_("use, share and adapt, naming the source; adaptations under the same licence"),
        "https://creativecommons.org/licenses/by-sa/4.0/",
    ),
    "CC-BY-NC-4.0": KnownLicence(
        N_("Creative Commons Attribution-NonCommercial 4.0"),
        N_("use, share and adapt for non-commercial purposes, naming the source"),
        "https://creativecommons.org/licenses/by-nc/4.0/",
    ),
    "CC0-1.0": KnownLicence(
        N_("Creative Commons Zero 1.0 (public domain dedication)"),
        N_("no conditions: the authors gave up their rights"),
        "https://creativecommons.org/publicdomain/zero/1.0/",
    ),
    "ODbL-1.0": KnownLicence(
        N_("Open Database License 1.0"),
        N_("use and adapt, naming the source; shared databases under the same licence"),
        "https://opendatacommons.org/licenses/odbl/1-0/",
    ),
    "MIT": KnownLicence(
        N_("MIT licence"),
        N_("use freely, keeping the copyright notice"),
        "https://opensource.org/license/mit",
    ),
    "public domain": KnownLicence(N_("public domain"), N_("no conditions on use")),
    "public domain (US Government)": KnownLicence(
        N_("public domain (work of the US Government)"), N_("no conditions on use")
    ),
    "NASA LP DAAC, no use restrictions": KnownLicence(
        N_("NASA LP DAAC data policy"), N_("no restrictions on use; citing the source is asked")
    ),
}

#: Layer names the bundled sources use (others are shown as written).
LAYER_NAMES = (
    N_("countries, borders, water"),
    N_("elevation, slope"),
    N_("land cover"),
    N_("protected areas"),
    N_("species ranges"),
)

_IDENTIFIER = re.compile(
    r"\b(" + "|".join(re.escape(k) for k in KNOWN if " " not in k) + r")\b", re.IGNORECASE
)
_URL = re.compile(r"https?://[^\s)\]>,;]+")


@dataclass(frozen=True)
class ShownLicence:
    """A licence as the report shows it.

    ``english_only`` says the original text was shown untranslated (no catalogue entry).
    """

    name: str
    summary: str
    identifier: str
    url: str
    english_only: bool


def _known(text: str) -> tuple[str, KnownLicence | None]:
    plain = " ".join(text.split())
    for key, known in KNOWN.items():
        if plain.lower() == key.lower():
            return ("" if " " in key else key), known
    match = _IDENTIFIER.search(plain)
    if match:
        key = next(k for k in KNOWN if k.lower() == match.group(1).lower())
        return key, KNOWN[key]
    return "", None


def licence(text: str) -> ShownLicence:
    """``text`` (a source's licence statement) in the current language."""
    text = str(text or "").strip()
    identifier, known = _known(text)
    urls = _URL.findall(text)
    if known is None:
        return ShownLicence(text, "", "", urls[0] if urls else "", english_only=bool(text))
    return ShownLicence(
        i18n.gettext(known.name),
        i18n.gettext(known.summary),
        identifier,
        urls[0] if urls else known.url,
        english_only=False,
    )


def layer_name(text: str) -> str:
    """A source's layer name, translated where the catalogue has it."""
    return i18n.gettext(text) if text in LAYER_NAMES else text
