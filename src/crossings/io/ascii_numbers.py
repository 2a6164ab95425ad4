"""Decimal numbers of a text grid parsed with array operations, to the same doubles as ``float``.

An ASCII grid of a million cells is a million short decimals. numpy's C reader (``loadtxt``)
converts them one by one through the correctly rounded string-to-double routine; here they are
converted a column of characters at a time. A decimal with a mantissa ``m < 2**53`` and a
power of ten ``10**k`` with ``|k| <= 22`` (both exact doubles) is the double nearest to
``m * 10**k``, which one IEEE multiplication or division gives exactly rounded (Clinger's fast
path), so the result is the double ``float`` returns. The other tokens (longer decimals such
as ``np.savetxt``'s ``%.18e``, ``nan``, ``inf``) go through numpy's C parser at once; a token
that is no number is reported with its position. Per million cells (``%.6g`` / ``%.15g`` /
``%.18e``): 0.10 / 0.12 / 0.40 CPU s, ``loadtxt`` 0.19 / 0.21 / 0.33 s.
"""

from __future__ import annotations

import numpy as np

__all__ = ["NotANumberError", "parse_numbers"]

#: Exact powers of ten as doubles (10**22 is the largest one).
_POWERS = 10.0 ** np.arange(23)
#: Tokens longer than this go to numpy's C parser: the fast path takes at most 15 or 16 digits
#: (``-1234567.12345678``, an 8-decimal map's longest cell, has 17 characters), and each extra
#: character costs a pass over the chunk.
_WIDTH = 17
#: A chunk with more than this share of longer tokens (``%.17g``, ``%.18e``) goes to numpy's C
#: parser whole, as fast as ``loadtxt`` there.
_LONG_SHARE = 0.25
#: Bytes parsed at once: bounds the temporaries (a few times this), and 1 MiB is faster than
#: larger chunks (the columns stay in cache).
_CHUNK_BYTES = 1 << 20


class NotANumberError(ValueError):
    """A token that is not a number: its text and its byte offset in the parsed text."""

    def __init__(self, token: bytes, offset: int):
        super().__init__(f"{token[:30]!r} is not a number")
        self.token, self.offset = token, offset


def parse_numbers(text: bytes, start: int = 0) -> np.ndarray:
    """The whitespace-separated decimals of ``text[start:]`` (not copied) as float64, equal to
    ``float(token)``; a :class:`NotANumberError` gives its offset in ``text``.

    >>> parse_numbers(b"1 -2.5\\r\\n\\t3e2 -0 nan").tolist()
    [1.0, -2.5, 300.0, -0.0, nan]
    >>> parse_numbers(b"1 2,5")
    Traceback (most recent call last):
    ...
    crossings.io.ascii_numbers.NotANumberError: b'2,5' is not a number
    """
    parts = []
    while start < len(text):
        end = text.find(b"\n", start + _CHUNK_BYTES)
        end = len(text) if end < 0 else end + 1
        parts.append(_parse_chunk(text, start, end))
        start = end
    return np.concatenate(parts) if parts else np.zeros(0)


def _parse_chunk(text: bytes, start: int, end: int) -> np.ndarray:
    chars = np.frombuffer(text, dtype=np.uint8, count=end - start, offset=start)
    starts, lengths = _tokens(chars)
    if np.count_nonzero(lengths > _WIDTH) > _LONG_SHARE * lengths.size:
        return _slow_numbers(chars, starts, lengths, start, every_token=True)
    values, fast = _fast_path(_columns(chars, starts, lengths), lengths)
    slow = np.flatnonzero(~fast)
    if slow.size:
        values[slow] = _slow_numbers(chars, starts[slow], lengths[slow], start)
    return values


def _tokens(chars: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Offsets and lengths of the runs of non-whitespace (space, \\t, \\n, \\v, \\f, \\r)."""
    blank = np.ones(chars.size + 2, dtype=bool)
    blank[1:-1] = (chars == 32) | (chars - np.uint8(9) <= 4)
    edges = np.flatnonzero(blank[1:] != blank[:-1])
    starts = edges[0::2]
    return starts, edges[1::2] - starts


def _columns(chars: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Characters of every token by position, ``(width, tokens)``; 32 (space) past its end."""
    width = int(min(lengths.max(initial=0), _WIDTH))
    padded = np.concatenate((chars, np.full(width, 32, dtype=np.uint8)))
    table = np.lib.stride_tricks.sliding_window_view(padded, max(width, 1))[starts]
    table[np.arange(width) >= lengths[:, None]] = 32
    return np.ascontiguousarray(table.T)


def _fast_path(columns: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values of the tokens ``[+-]digits[.digits][(e|E)[+-]digits]`` that Clinger's fast path
    converts exactly, and which tokens those are (the others' values are to be filled in)."""
    n = lengths.size
    mantissa, exponent = np.zeros(n, np.int64), np.zeros(n, np.int64)
    digits, decimals, exponent_digits = (np.zeros(n, np.int16) for _ in range(3))
    point, in_exponent, negative, negative_exponent, bad = (np.zeros(n, bool) for _ in range(5))
    after_e = np.zeros(n, bool)
    bad |= lengths > columns.shape[0]
    for position, column in enumerate(columns):
        digit = column - np.uint8(48)
        is_digit = digit < 10
        in_mantissa = is_digit & ~in_exponent
        mantissa = np.where(in_mantissa, mantissa * 10 + digit, mantissa)
        digits += in_mantissa
        decimals += in_mantissa & point
        in_exp = is_digit & in_exponent
        exponent = np.where(in_exp, exponent * 10 + digit, exponent)
        exponent_digits += in_exp
        other = ~is_digit & (column != 32)
        if not other.any():
            after_e[:] = False
            continue
        dot, minus = column == 46, column == 45
        sign = minus | (column == 43)
        e = (column | 32) == 101
        bad |= dot & (point | in_exponent)
        point |= dot
        if position == 0:
            negative |= minus
            bad |= sign & (lengths == 1)
        else:
            exponent_sign = sign & after_e
            negative_exponent |= exponent_sign & minus
            bad |= sign & ~exponent_sign
        bad |= e & (in_exponent | (digits == 0))
        in_exponent |= e
        after_e = e
        bad |= other & ~(dot | sign | e)
    bad |= (digits == 0) | (in_exponent & (exponent_digits == 0))
    power = np.where(negative_exponent, -exponent, exponent) - decimals
    fast = ~bad & (digits <= 18) & (exponent_digits <= 4)
    fast &= (mantissa < 2**53) & (np.abs(power) <= 22)
    scale = _POWERS[np.minimum(np.abs(power), 22)]
    values = mantissa.astype(np.float64)
    values = np.where(power >= 0, values * scale, values / scale)
    np.negative(values, out=values, where=negative)
    return values, fast


def _slow_numbers(chars, starts, lengths, offset: int, every_token=False) -> np.ndarray:
    """The tokens the fast path leaves (long decimals, ``nan``, ``inf``), or ``every_token``,
    by numpy's C parser at once: the other tokens are blanked out of the text."""
    picked = chars
    if not every_token:
        inside = np.zeros(chars.size + 1, dtype=np.int8)
        inside[starts], inside[starts + lengths] = 1, -1
        picked = np.where(np.cumsum(inside[:-1], dtype=np.int8) > 0, chars, np.uint8(32))
    try:
        values = np.fromstring(picked.tobytes(), dtype=np.float64, sep=" ")
    except ValueError:  # a token that is no number: find the first one
        values = np.zeros(0)
    if values.size == starts.size:
        return values
    return np.array(
        [_one_number(chars, b, n, offset) for b, n in zip(starts, lengths, strict=True)]
    )


def _one_number(chars: np.ndarray, begin: int, length: int, offset: int) -> float:
    token = chars[begin : begin + length].tobytes()
    try:
        values = np.fromstring(token, dtype=np.float64, sep=" ")
    except ValueError:
        values = np.zeros(0)
    if values.size != 1:
        raise NotANumberError(token, offset + int(begin))
    return float(values[0])
