"""A report's tables read back and compared with the CSVs they name (for the report tests)."""

from __future__ import annotations

import csv
import re
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

from babel.numbers import parse_decimal

#: What a table shows for an empty or non-finite CSV value.
DASH = "–"


class _Tables(HTMLParser):
    """Tables of the report: attributes, column kinds and cell texts."""

    def __init__(self):
        super().__init__()
        self.tables, self._cell, self._row = [], None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.tables.append({"attrs": attrs, "columns": [], "rows": []})
        elif tag == "th" and "data-column" in attrs and self.tables:
            self.tables[-1]["columns"].append(attrs)
        elif tag == "tr" and self.tables:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = []

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row:
            self.tables[-1]["rows"].append(self._row)
            self._row = None


def tables(page: str) -> list[dict]:
    parser = _Tables()
    parser.feed(page)
    return parser.tables


def shown_number(text: str, lang: str) -> Decimal:
    text = text.replace("%", "").replace("\xa0", "").replace("\u202f", "").strip()
    return parse_decimal(text.replace(" ", ""), locale=lang)


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def table_from(page: str, source: str) -> dict:
    """The table of ``page`` that shows ``source`` (run-relative CSV path)."""
    return next(t for t in tables(page) if t["attrs"].get("data-source") == source)


def check_tables_equal_csvs(page: str, root: Path, lang: str) -> int:
    """Assert every per-row table shows its CSV's numbers; return how many cells were compared.

    An empty CSV value must be shown as a dash; a number is compared after rounding the CSV
    value to the column's digits.
    """
    checked = 0
    for table in (t for t in tables(page) if t["attrs"].get("data-per-row") == "yes"):
        rows = csv_rows(root / table["attrs"]["data-source"])
        assert len(table["rows"]) == len(rows), table["attrs"]
        for i, column in enumerate(table["columns"]):
            kind, digits = column["data-kind"], int(column["data-digits"])
            if kind not in ("number", "integer", "percent"):
                continue
            for shown, row in zip(table["rows"], rows, strict=True):
                value = row[column["data-column"]]
                if value.strip() in ("", "nan", "inf", "-inf"):
                    assert shown[i] == DASH, (column, shown[i])
                else:
                    expected = round(Decimal(value), digits)
                    assert shown_number(shown[i], lang) == expected, (column, shown[i])
                checked += 1
    return checked


def without_data_uris(page: str) -> str:
    """The page without its embedded base64 images and fonts (searched separately, decoded)."""
    return re.sub(r"base64,[A-Za-z0-9+/=]+", "base64,", page)
