"""Extract the report's strings into ``crossings.pot`` and merge them into every language's ``.po``.

Run after changing a visible string of the report, then translate the new or fuzzy entries:

    python scripts/report_catalogues.py            # update the catalogues
    python scripts/report_catalogues.py --check    # exit 1 if a catalogue lacks a string

Adding a language (e.g. Kazakh): ``python scripts/report_catalogues.py --add kk``, then translate
``src/crossings/report/locale/kk/LC_MESSAGES/crossings.po``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from crossings.report.document_catalogue import (
    LOCALE_DIR,
    extract_catalogue,
    missing_translations,
    update_catalogue,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report missing strings")
    parser.add_argument("--add", metavar="LANG", help="start a catalogue for a new language")
    args = parser.parse_args()
    template = extract_catalogue()
    if args.check:
        problems = missing_translations(template)
        for line in problems:
            print(line)
        return 1 if problems else 0
    langs = sorted(p.name for p in LOCALE_DIR.iterdir() if p.is_dir())
    if args.add:
        langs.append(args.add)
    for lang in sorted(set(langs)):
        path = update_catalogue(template, lang)
        print(f"updated {Path(path).as_posix()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
