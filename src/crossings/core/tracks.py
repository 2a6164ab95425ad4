"""GPS tracks as arrays: fixes of several individuals, their regularity and their steps.

Times are numpy ``datetime64[s]`` values in UTC (the io layer converts timezone-aware inputs);
coordinates are in a projected CRS in metres. Rows are kept sorted by individual, then time, as
the BaBA rules number fixes in that order.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from crossings.errors import ConfigError, CrossingsWarning

__all__ = ["Tracks", "modal_interval_hours", "check_regularity"]

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class Tracks:
    """Fixes of one or more individuals.

    Parameters
    ----------
    animal_id : ndarray of str, shape (n,)
        Individual identifier per fix.
    time : ndarray of datetime64, shape (n,)
        Fix time in UTC (converted to ``datetime64[s]``).
    x, y : ndarray of float, shape (n,)
        Coordinates in ``crs`` (projected, metres).
    crs : str
        CRS of ``x`` and ``y`` (WKT, PROJ string or authority code).
    source : str
        Where the fixes came from (a file name), used in messages.

    Examples
    --------
    >>> t = Tracks.from_records([("a", "2020-01-01T02:00", 0, 0), ("a", "2020-01-01T00:00", 5, 0)])
    >>> t.x.tolist(), t.n_fixes
    ([5.0, 0.0], 2)
    """

    animal_id: np.ndarray
    time: np.ndarray
    x: np.ndarray
    y: np.ndarray
    crs: str = ""
    source: str = "tracks"

    def __post_init__(self):
        animal_id = np.asarray(self.animal_id).astype(str)
        time = np.asarray(self.time).astype("datetime64[s]")
        x = np.asarray(self.x, dtype=float)
        y = np.asarray(self.y, dtype=float)
        n = len(animal_id)
        for name, values in (("time", time), ("x", x), ("y", y)):
            if values.shape != (n,):
                raise ConfigError(
                    f"every column needs one value per fix ({n}); got shape {values.shape}",
                    source=self.source,
                    field=name,
                )
        if np.isnat(time).any():
            row = int(np.flatnonzero(np.isnat(time))[0])
            raise ConfigError(
                f"fix {row} has no time; drop fixes without a timestamp",
                source=self.source,
                field="timestamp",
            )
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            row = int(np.flatnonzero(~(np.isfinite(x) & np.isfinite(y)))[0])
            raise ConfigError(
                f"fix {row} has no finite coordinates; drop fixes without a location",
                source=self.source,
                field="x/y",
            )
        # Stable sort: ties (duplicate times) keep their input order, as dplyr::arrange does.
        order = np.lexsort((time, animal_id))
        for name, values in (("animal_id", animal_id), ("time", time), ("x", x), ("y", y)):
            object.__setattr__(self, name, values[order])

    @classmethod
    def from_records(cls, records, crs: str = "", source: str = "tracks") -> Tracks:
        """Build from ``(animal_id, time, x, y)`` tuples; times are ISO strings or datetime64."""
        ids, times, xs, ys = zip(*records, strict=True) if records else ((), (), (), ())
        return cls(
            np.array(ids, dtype=str),
            np.array(times, dtype="datetime64[s]"),
            np.array(xs, dtype=float),
            np.array(ys, dtype=float),
            crs=crs,
            source=source,
        )

    @property
    def n_fixes(self) -> int:
        """Number of fixes."""
        return len(self.animal_id)

    @property
    def hours(self) -> np.ndarray:
        """Fix times as float hours since the Unix epoch."""
        return self.time.astype(np.int64) / SECONDS_PER_HOUR

    def individuals(self) -> list[tuple[str, slice]]:
        """``(animal_id, slice of rows)`` per individual, in sorted id order."""
        if self.n_fixes == 0:
            return []
        starts = np.flatnonzero(np.r_[True, self.animal_id[1:] != self.animal_id[:-1]])
        stops = np.r_[starts[1:], self.n_fixes]
        return [
            (str(self.animal_id[a]), slice(int(a), int(b)))
            for a, b in zip(starts, stops, strict=True)
        ]

    def subset(self, rows: np.ndarray) -> Tracks:
        """A new Tracks with the given rows (indices or boolean mask)."""
        return Tracks(
            self.animal_id[rows], self.time[rows], self.x[rows], self.y[rows], self.crs, self.source
        )


def modal_interval_hours(hours: np.ndarray, round_fixes: bool = False) -> float:
    """Most frequent difference between consecutive times, in hours (ties: the smallest).

    This is BaBA's interval rule (``names(which.max(table(diff(date))))``).

    >>> modal_interval_hours(np.array([0.0, 2, 4, 5, 7, 9]))
    2.0
    """
    diffs = np.diff(np.asarray(hours, dtype=float))
    if round_fixes:
        diffs = np.round(diffs)
    if diffs.size == 0:
        return float("nan")
    values, counts = np.unique(diffs, return_counts=True)
    return float(values[np.argmax(counts)])


def _check_duplicates(tracks: Tracks) -> None:
    same = (tracks.animal_id[1:] == tracks.animal_id[:-1]) & (tracks.time[1:] == tracks.time[:-1])
    if same.any():
        row = int(np.flatnonzero(same)[0]) + 1
        count = int(same.sum())
        raise ConfigError(
            f"{count} duplicate timestamp(s); first: individual {tracks.animal_id[row]!r} at "
            f"{tracks.time[row]}Z. Keep one fix per individual and time (e.g. the most accurate) "
            "before the analysis",
            source=tracks.source,
            field="timestamp",
        )


def check_regularity(
    tracks: Tracks, *, interval: float | None = None, round_fixes: bool = False
) -> dict[str, float]:
    """Check that fixes are regular enough for BaBA and return the interval per individual.

    Parameters
    ----------
    tracks : Tracks
        Sorted fixes.
    interval : float, optional
        The fix interval in hours the user asked for; without it every individual must share one
        modal interval.
    round_fixes : bool
        Round time differences to whole hours before taking the mode.

    Returns
    -------
    dict
        Modal interval in hours per individual.

    Raises
    ------
    ConfigError
        Duplicate timestamps; individuals with different intervals (and no ``interval`` given);
        an individual whose interval is larger than ``interval``.
    """
    _check_duplicates(tracks)
    hours = tracks.hours
    per_individual = {
        name: modal_interval_hours(hours[rows], round_fixes) for name, rows in tracks.individuals()
    }
    known = {k: v for k, v in per_individual.items() if np.isfinite(v)}
    listing = ", ".join(f"{k}: {v:g} h" for k, v in known.items())
    if interval is None:
        if len(set(known.values())) > 1:
            raise ConfigError(
                f"individuals have different fix intervals ({listing}). Run them separately, "
                "or give --interval with the largest interval",
                source=tracks.source,
                field="timestamp",
            )
    else:
        too_long = {k: v for k, v in known.items() if v > interval}
        if too_long:
            raise ConfigError(
                f"interval {interval:g} h is shorter than the fix interval of "
                + ", ".join(f"{k} ({v:g} h)" for k, v in too_long.items())
                + ". Give an --interval no smaller than the data's interval",
                source=tracks.source,
                field="interval",
            )
    return per_individual


def warn_short_tracks(tracks: Tracks, min_fixes: int, purpose: str) -> list[str]:
    """Warn (CrossingsWarning) about individuals with fewer than ``min_fixes`` fixes."""
    short = [name for name, rows in tracks.individuals() if rows.stop - rows.start < min_fixes]
    if short:
        warnings.warn(
            f"{tracks.source}: individual(s) {', '.join(short)} have fewer than {min_fixes} "
            f"fixes, too few for {purpose}; their longer encounters will be 'unknown'",
            CrossingsWarning,
            stacklevel=2,
        )
    return short
