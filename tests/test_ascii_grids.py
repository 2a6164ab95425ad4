"""ASCII grid values read with array operations: the same doubles as ``float``, messy files read,
bad values named by file, line and value."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

import crossings.io.ascii_numbers as numbers
import crossings.io.circuitscape as cs
from crossings.errors import InputFileError


def _bits(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).view(np.int64)


def _awkward_doubles() -> np.ndarray:
    rng = np.random.default_rng(11)
    spread = 10.0 ** rng.uniform(-30, 30, 4000) * rng.choice([-1, 1], 4000)
    edges = [0.0, -0.0, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 2.0**53,
             2.0**53 + 2, 1e22, 1e23, 1e-22, 0.1, 1 / 3, -9999.0]  # fmt: skip
    return np.concatenate([spread, rng.uniform(0, 100, 4000), edges])


@pytest.mark.parametrize(
    "fmt", ["%.15g", "%.17g", "%.6g", "%.8f", "%.18e", "%.3E", "%+.5f", "%.0f", "%.25f"]
)
def test_numbers_equal_float_bit_for_bit(fmt):
    tokens = [fmt % v for v in _awkward_doubles()]
    parsed = numbers.parse_numbers(" ".join(tokens).encode("ascii"))
    np.testing.assert_array_equal(_bits(parsed), _bits([float(t) for t in tokens]))


def test_special_and_short_forms_read_as_float_reads_them():
    text = b".5 5. -.5 +5 1E5 1e-5 -0 00012 1e+05 nan NaN -inf +inf Infinity 7"
    parsed = numbers.parse_numbers(text)
    np.testing.assert_array_equal(_bits(parsed), _bits([float(t) for t in text.split()]))


def test_chunks_split_at_line_ends_give_the_same_values(monkeypatch):
    rng = np.random.default_rng(3)
    lines = [" ".join(f"{v:.9g}" for v in row) for row in rng.uniform(-5, 5, (50, 13))]
    text = ("\r\n".join(lines) + "\r\n").encode("ascii")
    whole = numbers.parse_numbers(text)
    monkeypatch.setattr(numbers, "_CHUNK_BYTES", 40)
    np.testing.assert_array_equal(numbers.parse_numbers(text), whole)
    assert whole.size == 50 * 13


@pytest.mark.parametrize(
    "token",
    [
        "x",
        "1_0",
        "2,5",
        "--2",
        "2e",
        "e5",
        ".",
        "-",
        "1.2.3",
        "1e5e5",
        "1e+-5",
        "5-",
        "0x10",
        "1\x002",
        "9" * 40 + "x",
        "1d5",
    ],  # fmt: skip
)
def test_a_token_that_is_no_number_is_named_with_its_offset(token):
    with pytest.raises(numbers.NotANumberError) as caught:
        numbers.parse_numbers(b"1 2\n" + token.encode("ascii") + b" 4")
    assert caught.value.token == token.encode("ascii") and caught.value.offset == 4


def _messy_grid(values: np.ndarray, *, newline: str, wrap: bool) -> str:
    rows, cols = values.shape
    header = [f"ncols\t{cols}", f"NROWS {rows}  ", "xllcorner 0", "yllcorner 0", "cellsize 10",
              "NODATA_value -9999"]  # fmt: skip
    body = []
    for row in np.where(np.isnan(values), -9999, values):
        cells = [f"{v:.10g}" for v in row]
        if wrap:  # a row over two lines, as some writers wrap long rows
            body += [" ".join(cells[:3]), "\t".join(cells[3:]) + "   "]
        else:
            body.append(" ".join(cells) + " ")
    return newline.join(header + body + [""])


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("wrap", [False, True])
@pytest.mark.parametrize("zipped", [False, True])
def test_messy_ascii_grids_read_to_the_values_written(tmp_path, newline, wrap, zipped):
    values = np.random.default_rng(8).uniform(1, 100, (6, 7))
    values[2, 3] = np.nan
    text = _messy_grid(values, newline=newline, wrap=wrap).encode("ascii")
    path = tmp_path / ("grid.asc.gz" if zipped else "grid.asc")
    path.write_bytes(gzip.compress(text) if zipped else text)
    grid, meta = cs.read_grid(path)
    expected = np.array([float(f"{v:.10g}") for v in values.ravel()]).reshape(values.shape)
    np.testing.assert_array_equal(grid, expected)
    assert (meta.nrows, meta.ncols, meta.cellsize) == (6, 7, 10.0)


def test_a_bad_grid_value_names_the_file_line_and_value(tmp_path):
    path = tmp_path / "bad.asc"
    rows = ["1 2 3", "4 5 6", "7 8,5 9"]
    header = "ncols 3\r\nnrows 3\r\nxllcorner 0\r\nyllcorner 0\r\ncellsize 1\r\n"
    path.write_text(header + "\r\n".join(rows) + "\r\n", newline="")
    with pytest.raises(InputFileError) as caught:
        cs.read_grid(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: line 8: '8,5' is not a number.")
    assert "\n" not in message


def test_a_short_grid_says_how_many_values_it_holds(tmp_path):
    path = tmp_path / "short.asc"
    path.write_text("ncols 3\nnrows 2\nxllcorner 0\nyllcorner 0\ncellsize 1\n1 2 3\n4 5\n")
    with pytest.raises(InputFileError, match="header says 2 x 3 cells but the file holds 5"):
        cs.read_grid(path)


def test_numbers_after_an_offset_report_offsets_in_the_whole_text():
    np.testing.assert_array_equal(numbers.parse_numbers(b"ncols 2\n1 2.5\n", 8), [1.0, 2.5])
    with pytest.raises(numbers.NotANumberError) as caught:
        numbers.parse_numbers(b"ncols 2\n1 x\n", 8)
    assert caught.value.offset == 10


@pytest.mark.parametrize("long_share", [0.05, 0.6])
def test_long_decimals_mixed_with_short_ones_equal_float(long_share):
    """Few long tokens go to numpy's parser on their own, many take the whole chunk there."""
    values = _awkward_doubles()
    long = np.random.default_rng(2).random(values.size) < long_share
    tokens = [("%.18e" if wide else "%.6g") % v for v, wide in zip(values, long, strict=True)]
    parsed = numbers.parse_numbers("\n".join(tokens).encode("ascii"))
    np.testing.assert_array_equal(_bits(parsed), _bits([float(t) for t in tokens]))
