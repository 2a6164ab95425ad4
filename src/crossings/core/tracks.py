"""GPS tracks as arrays: fixes of several individuals, their regularity and their steps.

Times are numpy ``datetime64[s]`` values in UTC (the io layer converts timezone-aware inputs);
coordinates are in a projected CRS in metres. Rows are kept sorted by individual, then time, as
the BaBA rules number fixes in that order.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely

from crossings.core.fences import Fence
from crossings.errors import ConfigError, CrossingsWarning

__all__ = [
    "Tracks",
    "FenceLayer",
    "FenceCrossings",
    "modal_interval_hours",
    "check_regularity",
    "locate_crossings",
    "crossings_per_month",
    "simulate_fence_walks",
]

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
    burst : ndarray of int, shape (n,), optional
        Burst number of each fix within its individual (0, 1, ... in time order). A burst is a
        run of fixes without a data gap (see :func:`crossings.core.tracks_qc.quality_control`);
        no step, encounter, window or crossing spans two bursts. Default: one burst each.

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
    burst: np.ndarray | None = None

    def __post_init__(self):
        animal_id = np.asarray(self.animal_id).astype(str)
        n = len(animal_id)
        burst = np.zeros(n, np.int64) if self.burst is None else np.asarray(self.burst, np.int64)
        time = np.asarray(self.time).astype("datetime64[s]")
        x = np.asarray(self.x, dtype=float)
        y = np.asarray(self.y, dtype=float)
        for name, values in (("time", time), ("x", x), ("y", y), ("burst", burst)):
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
        order = np.lexsort((time, burst, animal_id))
        columns = {"animal_id": animal_id, "time": time, "x": x, "y": y, "burst": burst}
        for name, values in columns.items():
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

    def segments(self) -> list[tuple[str, int, slice]]:
        """``(animal_id, burst, slice of rows)`` per burst of each individual, in row order."""
        if self.n_fixes == 0:
            return []
        change = (self.animal_id[1:] != self.animal_id[:-1]) | (self.burst[1:] != self.burst[:-1])
        starts = np.flatnonzero(np.r_[True, change])
        stops = np.r_[starts[1:], self.n_fixes]
        return [
            (str(self.animal_id[a]), int(self.burst[a]), slice(int(a), int(b)))
            for a, b in zip(starts, stops, strict=True)
        ]

    def same_burst_steps(self) -> np.ndarray:
        """Row ``r`` of every step from fix ``r`` to fix ``r + 1`` within one burst."""
        same = (self.animal_id[1:] == self.animal_id[:-1]) & (self.burst[1:] == self.burst[:-1])
        return np.flatnonzero(same)

    def subset(self, rows: np.ndarray) -> Tracks:
        """A new Tracks with the given rows (indices or boolean mask)."""
        return Tracks(
            self.animal_id[rows],
            self.time[rows],
            self.x[rows],
            self.y[rows],
            self.crs,
            self.source,
            self.burst[rows],
        )

    def moved(self, x: np.ndarray, y: np.ndarray, crs: str) -> Tracks:
        """The same fixes at new coordinates (e.g. reprojected)."""
        return Tracks(self.animal_id, self.time, x, y, crs, self.source, self.burst)


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
            f"{count} duplicate timestamp(s); first: individual {str(tracks.animal_id[row])!r} at "
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
                "give --interval with the largest interval, or round time steps to whole hours "
                "(--round-fixes)",
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


@dataclass(frozen=True)
class FenceLayer:
    """Fence geometries keyed by ``fence_id`` (parts sharing an id form one MultiLineString).

    BaBA counts intersection points per barrier feature, so the parts of one GeoPackage feature
    must stay one geometry for exact agreement with the R package.

    Examples
    --------
    >>> layer = FenceLayer.from_fences([Fence("a", [(0, 0), (1, 0)]), Fence("a", [(2, 0), (3, 0)])])
    >>> layer.fence_ids.tolist(), shapely.get_num_geometries(layer.geometries).tolist()
    (['a'], [2])
    """

    fence_ids: np.ndarray
    geometries: np.ndarray
    country_pairs: np.ndarray
    tree: shapely.STRtree = field(repr=False, compare=False)

    @classmethod
    def from_fences(cls, fences: Sequence[Fence]) -> FenceLayer:
        """Group ``Fence`` parts by ``fence_id`` (first-appearance order)."""
        if len(fences) == 0:
            raise ConfigError("no fence given; the fence layer must hold at least one line")
        parts: dict[str, list[np.ndarray]] = {}
        pairs: dict[str, str] = {}
        for fence in fences:
            parts.setdefault(fence.fence_id, []).append(fence.coords)
            pairs.setdefault(fence.fence_id, fence.country_pair)
        geoms = [
            shapely.linestrings(c[0])
            if len(c) == 1
            else shapely.multilinestrings([shapely.linestrings(part) for part in c])
            for c in parts.values()
        ]
        geometries = np.array(geoms, dtype=object)
        return cls(
            np.array(list(parts), dtype=str),
            geometries,
            np.array([pairs[k] for k in parts], dtype=str),
            shapely.STRtree(geometries),
        )


@dataclass(frozen=True)
class FenceCrossings:
    """Every place where a GPS step crosses a fence line.

    Attributes
    ----------
    animal_id, fence_id : ndarray of str
    x, y : ndarray of float
        Crossing point on the fence (CRS of the tracks).
    time : ndarray of datetime64[s]
        Estimated crossing time, interpolated along the step by distance (UTC).
    step_start, step_end : ndarray of datetime64[s]
        Times of the fixes before and after the crossing.
    from_side, to_side : ndarray of str
        Country (or side) left and entered. A fence's ``country_pair`` ``"A-B"`` puts A on the
        left and B on the right of the fence as digitised (first vertex to last); without a
        country pair the sides are ``left`` and ``right``.
    step_row : ndarray of int
        Row (in the sorted tracks) of the fix that starts the crossing step.
    qc_flag : ndarray of str
        ``ok`` or the quality-control flags of the step (see :mod:`crossings.core.track_qc`);
        ``not_checked`` until the flags are set.
    kind : ndarray of str
        ``fence`` (the step cuts a fence line) or ``gap`` (it passes through a gap in a fence
        broken at its openings).
    opening_id : ndarray of str
        Opening within the tolerance of the crossing point (``""`` for none).
    opening_distance : ndarray of float
        Distance from the crossing point to that opening, metres (NaN for none).
    """

    animal_id: np.ndarray
    fence_id: np.ndarray
    x: np.ndarray
    y: np.ndarray
    time: np.ndarray
    step_start: np.ndarray
    step_end: np.ndarray
    from_side: np.ndarray
    to_side: np.ndarray
    step_row: np.ndarray | None = None
    qc_flag: np.ndarray | None = None
    kind: np.ndarray | None = None
    opening_id: np.ndarray | None = None
    opening_distance: np.ndarray | None = None

    def __post_init__(self):
        n = len(self.animal_id)
        defaults = {
            "step_row": np.full(n, -1, np.int64),
            "qc_flag": np.full(n, "not_checked", dtype=object),
            "kind": np.full(n, "fence", dtype=object),
            "opening_id": np.full(n, "", dtype=object),
            "opening_distance": np.full(n, np.nan),
        }
        for name, default in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, default)

    def __len__(self) -> int:
        return len(self.animal_id)

    def take(self, rows: np.ndarray) -> FenceCrossings:
        """The crossings selected by a boolean mask or an index array."""
        return FenceCrossings(
            **{f.name: np.asarray(getattr(self, f.name))[rows] for f in dataclasses.fields(self)}
        )

    def concat(self, other: FenceCrossings) -> FenceCrossings:
        """These crossings followed by ``other``'s, sorted by individual and time."""
        both = {
            f.name: np.concatenate([getattr(self, f.name), getattr(other, f.name)])
            for f in dataclasses.fields(self)
        }
        order = np.lexsort((both["time"], both["animal_id"]))
        return FenceCrossings(**{k: v[order] for k, v in both.items()})

    def with_columns(self, **columns) -> FenceCrossings:
        """A copy with some columns replaced."""
        return dataclasses.replace(self, **columns)

    @property
    def direction(self) -> np.ndarray:
        """``"from A to B"`` per crossing."""
        pairs = zip(self.from_side, self.to_side, strict=True)
        return np.array([f"from {a} to {b}" for a, b in pairs], dtype=str)

    def columns(self) -> dict[str, np.ndarray]:
        """Columns for a table, one row per crossing."""
        return {
            "animal_id": self.animal_id,
            "fence_id": self.fence_id,
            "x": self.x,
            "y": self.y,
            "time": self.time,
            "step_start": self.step_start,
            "step_end": self.step_end,
            "from_side": self.from_side,
            "to_side": self.to_side,
            "direction": self.direction,
            "kind": self.kind,
            "opening_id": self.opening_id,
            "opening_distance": self.opening_distance,
            "qc_flag": self.qc_flag,
        }


def fence_segments(layer: FenceLayer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start and end vertices of every straight piece of every fence, and its fence index."""
    parts, fence_of_part = shapely.get_parts(layer.geometries, return_index=True)
    coords, part_of_vertex = shapely.get_coordinates(parts, return_index=True)
    same_part = part_of_vertex[1:] == part_of_vertex[:-1]
    starts, ends = coords[:-1][same_part], coords[1:][same_part]
    return starts, ends, fence_of_part[part_of_vertex[:-1][same_part]]


def _sides(pair: str) -> tuple[str, str]:
    left, sep, right = pair.partition("-")
    return (
        (left.strip(), right.strip())
        if sep and left.strip() and right.strip()
        else ("left", "right")
    )


def locate_crossings(tracks: Tracks, layer: FenceLayer) -> FenceCrossings:
    """Locate every crossing of a GPS step (straight line between consecutive fixes) and a fence.

    A fix lying exactly on a fence counts once (for the step that leaves it); steps running along
    a fence (collinear) are not crossings.

    Examples
    --------
    >>> layer = FenceLayer.from_fences([Fence("f", [(0, -10), (0, 10)], country_pair="KAZ-UZB")])
    >>> fixes = [("a", "2020-01-01T00:00", -5, 0), ("a", "2020-01-01T02:00", 15, 0)]
    >>> t = Tracks.from_records(fixes)
    >>> c = locate_crossings(t, layer)
    >>> c.fence_id.tolist(), c.time.tolist()[0].isoformat(), c.direction.tolist()
    (['f'], '2020-01-01T00:30:00', ['from KAZ to UZB'])
    """
    step = tracks.same_burst_steps()
    a = np.column_stack([tracks.x[step], tracks.y[step]])
    b = np.column_stack([tracks.x[step + 1], tracks.y[step + 1]])
    seg_a, seg_b, seg_fence = fence_segments(layer)
    tree = shapely.STRtree(shapely.linestrings(np.stack([seg_a, seg_b], axis=1)))
    moving = np.any(a != b, axis=1)
    steps_geom = np.full(len(step), None, dtype=object)
    steps_geom[moving] = shapely.linestrings(np.stack([a[moving], b[moving]], axis=1))
    i, j = tree.query(steps_geom, predicate="intersects")
    v, s = b[i] - a[i], seg_b[j] - seg_a[j]
    denom = v[:, 0] * s[:, 1] - v[:, 1] * s[:, 0]
    ok = np.abs(denom) > 1e-12 * np.hypot(*v.T) * np.hypot(*s.T)
    i, j, v, s, denom = i[ok], j[ok], v[ok], s[ok], denom[ok]
    w = seg_a[j] - a[i]
    t = (w[:, 0] * s[:, 1] - w[:, 1] * s[:, 0]) / denom
    keep = t < 1.0  # a fix on the fence: counted for the step leaving it
    i, j, v, s, t = i[keep], j[keep], v[keep], s[keep], np.clip(t[keep], 0.0, 1.0)
    point = a[i] + t[:, None] * v
    fence = seg_fence[j]
    # a crossing through a vertex joins two pieces of one fence: keep it once
    key = np.column_stack([i, fence, np.round(point, 6)])
    _, first = np.unique(key, axis=0, return_index=True)
    first = np.sort(first)
    i, s, v, t, point, fence = i[first], s[first], v[first], t[first], point[first], fence[first]
    to_left = s[:, 0] * v[:, 1] - s[:, 1] * v[:, 0] > 0
    sides = np.array([_sides(p) for p in layer.country_pairs], dtype=str).reshape(-1, 2)
    left, right = sides[fence, 0], sides[fence, 1]
    rows = step[i]
    t0 = tracks.time[rows].astype(np.int64)
    dt = tracks.time[rows + 1].astype(np.int64) - t0
    return FenceCrossings(
        animal_id=tracks.animal_id[rows],
        fence_id=layer.fence_ids[fence],
        x=point[:, 0],
        y=point[:, 1],
        time=(t0 + np.round(t * dt).astype(np.int64)).astype("datetime64[s]"),
        step_start=tracks.time[rows],
        step_end=tracks.time[rows + 1],
        from_side=np.where(to_left, right, left),
        to_side=np.where(to_left, left, right),
        step_row=rows,
    )


def crossings_per_month(crossings: FenceCrossings) -> dict[str, np.ndarray]:
    """Number of crossings per fence and calendar month (UTC), with the direction split.

    Returns columns ``fence_id``, ``month`` (``YYYY-MM``), ``direction`` and ``crossings``.
    """
    if len(crossings) == 0:
        empty = np.zeros(0, dtype=str)
        return {
            "fence_id": empty,
            "month": empty,
            "direction": empty,
            "crossings": np.zeros(0, int),
        }
    month = crossings.time.astype("datetime64[M]").astype(str)
    key = np.column_stack([crossings.fence_id, month, crossings.direction])
    groups, counts = np.unique(key, axis=0, return_counts=True)
    return {
        "fence_id": groups[:, 0],
        "month": groups[:, 1],
        "direction": groups[:, 2],
        "crossings": counts,
    }


def simulate_fence_walks(
    layer: FenceLayer,
    starts: np.ndarray,
    target: tuple[float, float],
    *,
    n_fixes: int,
    seed: int,
    openings: np.ndarray | None = None,
    passage_radius: float = 100.0,
    step_mean: float = 1500.0,
    heading_sd: float = 0.8,
    interval_hours: float = 2.0,
    start_time: str = "2021-10-01T00:00:00",
) -> Tracks:
    """SYNTHETIC migration tracks towards ``target`` that meet fences (for demos and tests).

    Each animal takes a biased correlated random walk (gamma step lengths with mean
    ``step_mean`` metres, heading towards ``target`` plus normal noise of ``heading_sd``
    radians). A step that would cross a fence goes through only if an opening lies within
    ``passage_radius`` metres of the crossing point; otherwise the animal is deflected along the
    fence, 10-60 m from it on its own side (it traces the fence). The result is not a model of
    any real animal.

    Parameters
    ----------
    layer : FenceLayer
    starts : ndarray, shape (n, 2)
        Start positions, one animal each.
    target : (float, float)
        Where the animals head.
    n_fixes : int
        Fixes per animal.
    seed : int
        Seed of the random generator.
    openings : ndarray, shape (m, 2), optional
        Opening positions; without them no fence can be crossed.

    Examples
    --------
    >>> layer = FenceLayer.from_fences([Fence("f", [(-1e5, 0), (1e5, 0)])])
    >>> t = simulate_fence_walks(layer, np.array([[0.0, 20000.0]]), (0.0, -50000.0),
    ...                          n_fixes=60, seed=1)
    >>> bool((t.y > 0).all())  # no opening: the fence holds
    True
    """
    rng = np.random.default_rng(seed)
    hole_tree = None
    if openings is not None and len(openings):
        hole_tree = shapely.STRtree(shapely.points(np.asarray(openings, float)))
    seg_a, seg_b, _ = fence_segments(layer)
    seg_tree = shapely.STRtree(shapely.linestrings(np.stack([seg_a, seg_b], axis=1)))
    ids, xs, ys = [], [], []
    for k, start in enumerate(np.asarray(starts, float)):
        path = _walk(rng, start, np.asarray(target, float), n_fixes, step_mean, heading_sd)
        path = _enforce_fences(path, rng, seg_tree, seg_a, seg_b, hole_tree, passage_radius)
        ids += [f"synthetic_{k + 1:02d}"] * n_fixes
        xs.append(path[:, 0])
        ys.append(path[:, 1])
    step = np.timedelta64(int(interval_hours * 3600), "s")
    times = np.datetime64(start_time, "s") + step * np.arange(n_fixes)
    return Tracks(
        np.array(ids), np.tile(times, len(starts)), np.concatenate(xs), np.concatenate(ys)
    )


def _walk(rng, start, target, n_fixes, step_mean, heading_sd):
    """Random step lengths and heading noise per fix, with the start and the target."""
    lengths = rng.gamma(2.0, step_mean / 2.0, n_fixes)
    noise = rng.normal(0.0, heading_sd, n_fixes)
    return np.column_stack([lengths, noise]), start, target


def _enforce_fences(walk, rng, seg_tree, seg_a, seg_b, hole_tree, passage_radius) -> np.ndarray:
    (steps, start, target) = walk
    path = [np.asarray(start, float)]
    for length, noise in steps[1:]:
        here = path[-1]
        aim = target - here
        heading = np.arctan2(aim[1], aim[0]) + noise
        proposal = here + length * np.array([np.cos(heading), np.sin(heading)])
        path.append(_move(here, proposal, rng, seg_tree, seg_a, seg_b, hole_tree, passage_radius))
    return np.array(path)


def _first_cut(here, there, seg_tree, seg_a, seg_b):
    """Fence piece first hit on the way from ``here`` to ``there``: (fraction, piece) or None."""
    if np.all(here == there):
        return None
    hits = seg_tree.query(shapely.linestrings([here, there]), predicate="intersects")
    best = None
    for j in hits:
        v, s, w = there - here, seg_b[j] - seg_a[j], seg_a[j] - here
        denom = v[0] * s[1] - v[1] * s[0]
        if abs(denom) < 1e-12:
            continue
        t = (w[0] * s[1] - w[1] * s[0]) / denom
        if best is None or t < best[0]:
            best = (t, j)
    return best


def _move(here, proposal, rng, seg_tree, seg_a, seg_b, hole_tree, radius) -> np.ndarray:
    cut = _first_cut(here, proposal, seg_tree, seg_a, seg_b)
    if cut is None:
        return proposal
    t, j = cut
    point = here + t * (proposal - here)
    if hole_tree is not None and hole_tree.query(shapely.Point(point), "dwithin", radius).size:
        return proposal  # through an opening
    tangent = (seg_b[j] - seg_a[j]) / np.hypot(*(seg_b[j] - seg_a[j]))
    along = np.dot(proposal - here, tangent) * tangent
    normal = np.array([-tangent[1], tangent[0]])
    own_side = np.sign(np.dot(here - seg_a[j], normal)) or 1.0
    deflected = point + along * (1 - t) + normal * own_side * rng.uniform(10.0, 60.0)
    if _first_cut(here, deflected, seg_tree, seg_a, seg_b) is not None:
        return here.copy()  # cornered: stays put for this step
    return deflected
