"""The header of an Arc/Info ASCII grid (``ncols``, ``nrows``, corner, cell size, NoData).

Kept apart from :mod:`crossings.io.raster` because reading it needs no GDAL: the Circuitscape
reader parses ASCII grids itself, and importing rasterio and pyproj would cost a tenth of a
second of a small job's run (``bench/circuit.py --cases startup``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from crossings.errors import InputFileError

__all__ = ["ASCII_HEADER_KEYS", "HEADER_FIX", "parse_ascii_header"]

#: Keys of an Arc/Info ASCII grid header (corners or centres; GDAL also takes dx / dy).
ASCII_HEADER_KEYS = (
    "ncols", "nrows", "xllcorner", "yllcorner", "xllcenter", "yllcenter", "cellsize", "dx",
    "dy", "nodata_value",
)  # fmt: skip
HEADER_FIX = (
    "An ASCII grid starts with 'ncols N', 'nrows N', 'xllcorner X', 'yllcorner Y', "
    "'cellsize C' and optionally 'NODATA_value V' lines"
)


def parse_ascii_header(lines: Sequence[str], path: str | os.PathLike) -> tuple[dict, int]:
    """The header of an Arc/Info ASCII grid and the index of its first data line.

    Errors name the file, the line and the key:

    >>> parse_ascii_header(["ncols 3", "nrows 2", "1 2 3"], "g.asc")
    ({'ncols': 3.0, 'nrows': 2.0}, 2)
    >>> parse_ascii_header(["ncols three"], "g.asc")
    Traceback (most recent call last):
    ...
    crossings.errors.InputFileError: g.asc: line 1: ncols must be a number; got 'three'. ...
    """
    header: dict[str, float] = {}
    for index, line in enumerate(lines):
        parts = line.split()
        if not parts or parts[0][0].isdigit() or parts[0][0] in "-+.":
            return header, index
        key, where = parts[0].lower(), f"line {index + 1}"
        if key not in ASCII_HEADER_KEYS:
            raise InputFileError(
                path, f"{where}: {parts[0]!r} is not a grid header key", HEADER_FIX
            )
        if len(parts) != 2:
            raise InputFileError(
                path, f"{where}: {parts[0]} needs one value; got {line.strip()[:60]!r}", HEADER_FIX
            )
        try:
            value = float(parts[1])
        except ValueError:
            raise InputFileError(
                path, f"{where}: {parts[0]} must be a number; got {parts[1][:30]!r}", HEADER_FIX
            ) from None
        if key in ("ncols", "nrows") and not (value >= 1 and value == int(value)):
            raise InputFileError(
                path,
                f"{where}: {parts[0]} must be a whole number >= 1; got {parts[1]!r}",
                HEADER_FIX,
            )
        header[key] = value
    return header, len(lines)
