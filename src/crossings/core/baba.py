"""Barrier Behaviour Analysis (BaBA): GPS encounters with fences, classified as the R package does.

Reference: Xu W, Dejid N, Herrmann V, Sawyer H, Middleton AD (2021), Barrier Behaviour Analysis
(BaBA) reveals extensive effects of fencing on wide-ranging ungulates, Journal of Applied Ecology
58(4):690-698. The rules below follow the R package ``BaBA`` (wx-ecology, MIT licence, commit
caefdc88a5bf58bd21f40c422c68dc76864fc523) decision by decision, including its quirks (fix numbering
by row, padded lines for short events, windows counted per continuous section). Where the R code
stops with an error, this module makes a documented choice instead:

* a stationary animal (zero path length) has no straightness: such baseline windows are left out
  of the baseline, and a mid-length event whose own straightness is undefined is ``unknown``;
* bridgeable gaps that contain no fix are bridged even when no fix was ever fetched before (R fails
  on ``fetched_pts`` not existing);
* no fix inside any buffer gives an empty result with a message, not an error.

Times are hours (the R default ``units = "hours"``); distances in the CRS unit (metres).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely

from crossings.core.fences import Fence
from crossings.core.tracks import (
    FenceCrossings,
    FenceLayer,
    Tracks,
    check_regularity,
    warn_short_tracks,
)
from crossings.errors import ConfigError

__all__ = [
    "EVENT_TYPES",
    "BabaConfig",
    "FenceLayer",
    "BabaEvents",
    "BabaResult",
    "classify",
    "encounter_mask",
    "count_crossings",
    "straightness",
    "FenceRanking",
    "rank_fences",
    "rank_with_crossings",
]

EVENT_TYPES = (
    "Quick_Cross",
    "Bounce",
    "Average_Movement",
    "Back_n_forth",
    "Trace",
    "Trapped",
    "unknown",
)
# A buffer drawn with 5 segments per quarter circle lies between d*cos(9 deg) and d of the fence:
# fixes closer than this need no exact polygon test.
_SURELY_INSIDE = math.cos(math.pi / 20) * (1 - 1e-9)


@dataclass(frozen=True, slots=True)
class BabaConfig:
    """BaBA parameters; time values in hours, ``distance`` in metres.

    Parameters
    ----------
    distance : float
        Buffer half-width ``d`` around every fence; fixes within it are encounter fixes.
    interval : float, optional
        Fix interval; by default the most frequent time step, which must agree between individuals.
    b_time : float
        Events lasting at most this long are short (Bounce, Quick_Cross or unknown).
    p_time : float
        Events lasting longer are Trapped.
    w : float
        Total width of the time window around an event for its straightness baseline.
    tolerance : float
        In-buffer gaps ``g`` with ``2 * interval <= g <= interval + tolerance`` are bridged.
    max_cross : int
        Trace and Back_n_forth need at most this many crossings, otherwise ``unknown``.
    sd_multiplier : float
        Width of the normal straightness band in standard deviations.
    exclude_buffer : bool
        Leave the animal's encounter fixes out of the baseline windows.
    round_fixes : bool
        Round time steps to whole hours when finding the interval.
    """

    distance: float
    interval: float | None = None
    b_time: float = 4.0
    p_time: float = 36.0
    w: float = 168.0
    tolerance: float = 0.0
    max_cross: int = 0
    sd_multiplier: float = 1.0
    exclude_buffer: bool = False
    round_fixes: bool = False

    def __post_init__(self):
        positive = {"distance": self.distance, "b_time": self.b_time, "p_time": self.p_time}
        positive["w"] = self.w
        if self.interval is not None:
            positive["interval"] = self.interval
        for name, value in positive.items():
            if not (isinstance(value, (int, float)) and value > 0 and math.isfinite(value)):
                raise ConfigError(f"must be a positive number; got {value!r}", field=name)
        for name in ("tolerance", "max_cross", "sd_multiplier"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value >= 0):
                raise ConfigError(f"must be a number >= 0; got {value!r}", field=name)


@dataclass(frozen=True)
class BabaEvents:
    """One row per encounter event, with BaBA's columns plus the nearest fence.

    Times are ``datetime64[s]`` UTC; ``str_i``, ``str_mean``, ``str_sd`` are NaN where R gives NA.
    ``fence_id`` is the fence nearest to the event's first fix.
    """

    animal_id: np.ndarray
    burst_id: np.ndarray
    easting: np.ndarray
    northing: np.ndarray
    start_time: np.ndarray
    end_time: np.ndarray
    duration_hours: np.ndarray
    cross: np.ndarray
    str_i: np.ndarray
    str_mean: np.ndarray
    str_sd: np.ndarray
    event_type: np.ndarray
    fence_id: np.ndarray

    def __len__(self) -> int:
        return len(self.animal_id)

    def columns(self) -> dict[str, np.ndarray]:
        """Columns named as in BaBA's ``$classification`` (plus ``fence_id``)."""
        return {
            "AnimalID": self.animal_id,
            "burstID": self.burst_id,
            "easting": self.easting,
            "northing": self.northing,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "duration_hours": self.duration_hours,
            "cross": self.cross,
            "str_i": self.str_i,
            "str_mean": self.str_mean,
            "str_sd": self.str_sd,
            "eventTYPE": self.event_type,
            "fence_id": self.fence_id,
        }

    def class_counts(self) -> dict[str, int]:
        """Number of events per class, every class listed."""
        return {k: int(np.sum(self.event_type == k)) for k in EVENT_TYPES}


@dataclass(frozen=True)
class BabaResult:
    """Output of :func:`classify`.

    Attributes
    ----------
    events : BabaEvents
        One row per event.
    point_rows : ndarray of int
        Rows of the (sorted) tracks that make up the events, in event order.
    point_event : ndarray of int
        Event index of each of ``point_rows``.
    point_fetched : ndarray of bool
        True for fixes outside the buffer pulled in by tolerance bridging.
    interval : float
        Fix interval used, hours.
    config : BabaConfig
    message : str
        Why the result is empty, if it is.
    """

    events: BabaEvents
    point_rows: np.ndarray
    point_event: np.ndarray
    point_fetched: np.ndarray
    interval: float
    config: BabaConfig
    message: str = ""

    def __repr__(self) -> str:
        counts = ", ".join(f"{k} {v}" for k, v in self.events.class_counts().items())
        return f"BabaResult({len(self.events)} events: {counts}; interval {self.interval:g} h)"


def encounter_mask(x: np.ndarray, y: np.ndarray, layer: FenceLayer, distance: float) -> np.ndarray:
    """True for fixes inside (or on the edge of) the union of fence buffers of ``distance``.

    The buffer is GEOS's round buffer with 5 segments per quarter circle, as in BaBA; only fixes
    that lie in the thin band where the polygon and the true distance can disagree are tested
    against the polygon.
    """
    points = shapely.points(np.asarray(x, float), np.asarray(y, float))
    inside = np.zeros(len(points), dtype=bool)
    pt_idx, fence_idx = layer.tree.query(points, predicate="dwithin", distance=distance)
    if pt_idx.size == 0:
        return inside
    gap = shapely.distance(points[pt_idx], layer.geometries[fence_idx])
    sure = gap <= distance * _SURELY_INSIDE
    inside[pt_idx[sure]] = True
    check = ~sure & ~inside[pt_idx]
    if check.any():
        fences = np.unique(fence_idx[check])
        buffers = dict(
            zip(
                fences, shapely.buffer(layer.geometries[fences], distance, quad_segs=5), strict=True
            )
        )
        polys = np.array([buffers[f] for f in fence_idx[check]], dtype=object)
        hit = shapely.intersects(points[pt_idx[check]], polys)
        inside[pt_idx[check][hit]] = True
    return inside


def count_crossings(lines: Sequence[np.ndarray], layer: FenceLayer) -> np.ndarray:
    """Number of intersection points of each polyline with the fences, counted as BaBA does.

    Every fence feature counts separately; a collinear overlap counts its vertices. Polylines
    with fewer than two vertices count 0.
    """
    counts = np.zeros(len(lines), dtype=np.int64)
    valid = [i for i, c in enumerate(lines) if len(c) >= 2]
    if not valid:
        return counts
    geoms = np.array([shapely.linestrings(lines[i]) for i in valid], dtype=object)
    line_idx, fence_idx = layer.tree.query(geoms, predicate="intersects")
    if line_idx.size:
        cut = shapely.intersection(geoms[line_idx], layer.geometries[fence_idx])
        per_line = np.bincount(
            line_idx, weights=shapely.get_num_coordinates(cut), minlength=len(valid)
        )
        counts[valid] = per_line.astype(np.int64)
    return counts


def _path_length(x: np.ndarray, y: np.ndarray) -> float:
    # R sums step lengths in extended precision (long double), in order.
    steps = np.sqrt(np.diff(x) ** 2 + np.diff(y) ** 2)
    return float(np.sum(steps.astype(np.longdouble)))


def straightness(x: np.ndarray, y: np.ndarray, seconds: np.ndarray | None = None) -> float:
    """Straight-line distance from first to last fix over the path length (BaBA's ``strtns``).

    NaN for one fix, for duplicated times, and for a zero path length.

    >>> straightness(np.array([0.0, 3, 3]), np.array([0.0, 0, 4]))
    0.7142857142857143
    """
    if len(x) < 2 or (seconds is not None and len(np.unique(seconds)) < len(seconds)):
        return float("nan")
    euclid = math.sqrt((x[-1] - x[0]) ** 2 + (y[-1] - y[0]) ** 2)
    path = _path_length(x, y)
    return euclid / path if path > 0 else float("nan")


def _window_straightness(x: np.ndarray, y: np.ndarray, steps: int, count: int) -> np.ndarray:
    """Straightness of ``count`` windows of ``steps`` steps starting at fixes 0, 1, ..."""
    seg = np.sqrt(np.diff(x) ** 2 + np.diff(y) ** 2)
    path = np.zeros(count, dtype=np.longdouble)
    for j in range(steps):  # sequential long-double sums, as R's sum()
        path += seg[j : j + count].astype(np.longdouble)
    start = np.arange(count)
    euclid = np.sqrt((x[start + steps] - x[start]) ** 2 + (y[start + steps] - y[start]) ** 2)
    path = path.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(path > 0, euclid / path, np.nan)


def _r_number(value: float) -> str:
    """Format a number as R's ``paste`` does (15 significant digits, shorter of fixed/sci).

    >>> [_r_number(v) for v in (14.0, 2.5, -1.0, 0.1 + 0.2, 100000.0, 123456.0, 0.0001)]
    ['14', '2.5', '-1', '0.3', '1e+05', '123456', '1e-04']
    """
    if value == int(value) and abs(value) < 1e15:
        fixed = str(int(value))
    else:
        fixed = f"{value:.15g}"
        if "e" in fixed:
            fixed = np.format_float_positional(float(f"{value:.15g}"), trim="-")
    mantissa, exponent = f"{value:.15e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    sci = f"{mantissa}e{int(exponent):+03d}"
    return sci if len(sci) < len(fixed) else fixed


def _round1(values: np.ndarray) -> np.ndarray:
    """Round to one decimal as R does: by the exact value of each double, ties to even.

    numpy's ``round`` scales by 10 first and so rounds some values the other way:

    >>> _round1(np.array([0.15, 0.25, 0.45])).tolist(), np.round([0.15, 0.45], 1).tolist()
    ([0.1, 0.2, 0.5], [0.2, 0.4])
    """
    return np.array([round(float(v), 1) for v in values], dtype=float)


def _check_interval(tracks: Tracks, config: BabaConfig) -> float:
    per_individual = check_regularity(
        tracks, interval=config.interval, round_fixes=config.round_fixes
    )
    if config.interval is not None:
        interval = float(config.interval)
    else:
        known = [v for v in per_individual.values() if np.isfinite(v)]
        if not known:
            raise ConfigError(
                "every individual has a single fix; BaBA needs tracks of at least two fixes",
                source=tracks.source,
                field="timestamp",
            )
        interval = known[0]
    b_steps = config.b_time / interval
    if b_steps < 1:
        raise ConfigError(
            f"b_time {config.b_time:g} h is shorter than the fix interval {interval:g} h; "
            "give an interval no larger than b_time",
            field="b_time",
        )
    for name in ("b_time", "p_time"):
        steps = getattr(config, name) / interval
        if round(steps) != steps:
            raise ConfigError(
                f"{name} {getattr(config, name):g} h must be a multiple of the fix interval "
                f"{interval:g} h",
                field=name,
            )
    return interval


def _individual_points(
    hours: np.ndarray, inside: np.ndarray, interval: float, tolerance: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local fix indices of one individual's event table, their burst sums and fetched flags."""
    enc = np.flatnonzero(inside)
    timediff = np.r_[interval, np.diff(hours[enc])]
    extra = _round1(timediff - interval)
    bridge = (extra >= interval) & (extra <= tolerance)
    fetched = [np.arange(enc[j - 1] + 1, enc[j]) for j in np.flatnonzero(bridge)]
    extra[bridge] = 0.0
    fetched_idx = np.concatenate(fetched) if fetched else np.zeros(0, dtype=np.int64)
    idx = np.r_[enc, fetched_idx]
    extra = np.r_[extra, np.zeros(len(fetched_idx))]
    is_fetched = np.r_[np.zeros(len(enc), bool), np.ones(len(fetched_idx), bool)]
    order = np.argsort(idx, kind="stable")
    return idx[order], np.cumsum(extra[order]), is_fetched[order]


def _event_table(tracks: Tracks, inside: np.ndarray, interval: float, tolerance: float):
    """Rows, burst labels and fetched flags of every event fix, in R's order."""
    hours = tracks.hours
    rows, labels, fetched = [], [], []
    segments = tracks.segments()
    bursts_of = {}
    for name, _, _ in segments:
        bursts_of[name] = bursts_of.get(name, 0) + 1
    for name, burst, sl in segments:
        if not inside[sl].any():
            continue
        local, sums, is_fetched = _individual_points(hours[sl], inside[sl], interval, tolerance)
        rows.append(local + sl.start)
        # R's label is AnimalID_sum; a burst of a split track adds its number so that events
        # of two bursts never merge.
        prefix = name if bursts_of[name] == 1 else f"{name}.burst{burst + 1}"
        labels.extend(f"{prefix}_{_r_number(s)}" for s in sums)
        fetched.append(is_fetched)
    labels_arr = np.array(labels, dtype=str)
    _, first, inverse = np.unique(labels_arr, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    event_of_point = rank[inverse]
    order = np.argsort(event_of_point, kind="stable")
    return (
        np.concatenate(rows)[order],
        event_of_point[order],
        np.concatenate(fetched)[order],
        labels_arr[order],
    )


@dataclass
class _Event:
    rows: np.ndarray
    track: slice
    start: float
    end: float

    @property
    def duration(self) -> float:
        return (self.end - self.start) / 3600.0


def _padded_line(tracks: Tracks, event: _Event) -> tuple[np.ndarray, bool]:
    """Fixes from one before to one after the event (by row); True if both neighbours exist."""
    first = max(int(event.rows[0]) - 1, event.track.start)
    last = min(int(event.rows[-1]) + 1, event.track.stop - 1)
    coords = np.column_stack([tracks.x[first : last + 1], tracks.y[first : last + 1]])
    return coords, len(coords) == len(event.rows) + 2


def _baseline(
    tracks: Tracks, event: _Event, interval: float, config: BabaConfig, excluded: np.ndarray
) -> np.ndarray:
    """Straightness of every window of the event's duration within ``w/2`` around it."""
    sl = event.track
    seconds = tracks.time[sl].astype(np.int64).astype(float)
    half = config.w / 2 * 3600.0
    keep = (seconds >= event.start - half) & (seconds <= event.end + half)
    if config.exclude_buffer:
        keep &= ~excluded[sl]
    seconds, x, y = seconds[keep], tracks.x[sl][keep], tracks.y[sl][keep]
    if len(seconds) == 0:
        return np.zeros(0)
    breaks = _round1(np.diff(seconds) / 3600.0) != interval
    section = np.r_[0, np.cumsum(breaks)]
    bounds = np.flatnonzero(np.r_[True, section[1:] != section[:-1], True])
    duration_s = event.end - event.start
    steps = int(math.floor(event.duration / interval + 1e-10))
    values = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        sec = seconds[a:b]
        if sec[-1] - sec[0] < duration_s:
            continue
        count = int(np.sum(sec <= sec[-1] - duration_s))
        values.append(_window_straightness(x[a:b], y[a:b], steps, count))
    return np.concatenate(values) if values else np.zeros(0)


def _mean_sd(values: np.ndarray) -> tuple[float, float]:
    if values.size == 0:
        return float("nan"), float("nan")
    ext = values.astype(np.longdouble)
    mean = ext.sum() / ext.size
    mean += (ext - mean).sum() / ext.size  # R's two-pass mean
    if values.size < 2:
        return float(mean), float("nan")
    dev = values - float(mean)
    var = (dev.astype(np.longdouble) ** 2).sum() / (values.size - 1)
    return float(mean), float(np.sqrt(var))


def _classify_middle(
    str_i: float, cross: int, values: np.ndarray, interval: float, config: BabaConfig
) -> tuple[str, float, float]:
    """Trace / Back_n_forth / Average_Movement / unknown for a mid-length event."""
    values = values[np.isfinite(values)]  # stationary windows have no straightness
    mean, sd = _mean_sd(values)
    if values.size < (config.w / interval + 1) / 4 or not (np.isfinite(str_i) and np.isfinite(sd)):
        return "unknown", mean, sd
    upper = mean + config.sd_multiplier * sd
    lower = mean - config.sd_multiplier * sd
    if str_i < lower:
        return ("Back_n_forth" if cross <= config.max_cross else "unknown"), mean, sd
    if str_i > upper:
        return ("Trace" if cross <= config.max_cross else "unknown"), mean, sd
    return "Average_Movement", mean, sd


def _empty_events() -> BabaEvents:
    f, i, s = np.zeros(0), np.zeros(0, np.int64), np.zeros(0, dtype=str)
    t = np.zeros(0, dtype="datetime64[s]")
    return BabaEvents(s, s, f, f, t, t, f, i, f, f, f, s, s)


def _nearest_fence(x: np.ndarray, y: np.ndarray, layer: FenceLayer) -> np.ndarray:
    if len(x) == 0:
        return np.zeros(0, dtype=str)
    pt_idx, fence_idx = layer.tree.query_nearest(shapely.points(x, y))
    # ties (equidistant fences): the first fence of the layer wins
    order = np.lexsort((fence_idx, pt_idx))
    pt_idx, fence_idx = pt_idx[order], fence_idx[order]
    first = np.r_[True, pt_idx[1:] != pt_idx[:-1]]
    nearest = np.empty(len(x), dtype=np.int64)
    nearest[pt_idx[first]] = fence_idx[first]
    return layer.fence_ids[nearest]


def classify(tracks: Tracks, fences: FenceLayer | Sequence[Fence], config: BabaConfig):
    """Find encounter events with fences and classify them as the BaBA R package does.

    Parameters
    ----------
    tracks : Tracks
        Fixes in the fences' projected CRS (metres).
    fences : FenceLayer or sequence of Fence
        The barrier lines.
    config : BabaConfig
        Distance and BaBA parameters.

    Returns
    -------
    BabaResult
        Events in BaBA's order (individuals by id, then time); an empty result with a message if
        no fix lies within ``distance`` of a fence.

    Raises
    ------
    ConfigError
        Duplicate timestamps, individuals with different fix intervals, or ``b_time``/``p_time``
        not multiples of the interval.
    """
    layer = fences if isinstance(fences, FenceLayer) else FenceLayer.from_fences(fences)
    interval = _check_interval(tracks, config)
    inside = encounter_mask(tracks.x, tracks.y, layer, config.distance)
    if not inside.any():
        message = (
            f"no fix lies within {config.distance:g} m of a fence; no encounter to classify "
            "(check that tracks and fences overlap and share a CRS)"
        )
        empty = np.zeros(0, dtype=np.int64)
        return BabaResult(
            _empty_events(), empty, empty, empty.astype(bool), interval, config, message
        )
    warn_short_tracks(tracks, int(math.ceil((config.w / interval + 1) / 4)), "straightness windows")
    rows, event_of_point, fetched, labels = _event_table(tracks, inside, interval, config.tolerance)
    return _classify_events(tracks, layer, config, interval, rows, event_of_point, fetched, labels)


def _classify_events(tracks, layer, config, interval, rows, event_of_point, fetched, labels):
    seconds = tracks.time.astype(np.int64).astype(float)
    seg_start = np.zeros(tracks.n_fixes, dtype=np.int64)
    seg_stop = np.zeros(tracks.n_fixes, dtype=np.int64)
    for _, _, sl in tracks.segments():
        seg_start[sl], seg_stop[sl] = sl.start, sl.stop
    bounds = np.flatnonzero(np.r_[True, event_of_point[1:] != event_of_point[:-1], True])
    excluded = np.zeros(tracks.n_fixes, dtype=bool)
    excluded[rows] = True
    events = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        ev_rows = rows[a:b]
        first = ev_rows[0]  # windows and padding stay within the event's burst
        track = slice(int(seg_start[first]), int(seg_stop[first]))
        events.append(_Event(ev_rows, track, seconds[ev_rows[0]], seconds[ev_rows[-1]]))
    short = np.array([ev.duration <= config.b_time for ev in events])
    lines, complete = [], []
    for ev, is_short in zip(events, short, strict=True):
        if is_short:
            coords, ok = _padded_line(tracks, ev)
        else:
            coords, ok = np.column_stack([tracks.x[ev.rows], tracks.y[ev.rows]]), True
        lines.append(coords)
        complete.append(ok)
    crosses = count_crossings(lines, layer)
    n = len(events)
    str_i, str_mean, str_sd = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    types = np.empty(n, dtype=object)
    for k, ev in enumerate(events):
        str_i[k] = straightness(tracks.x[ev.rows], tracks.y[ev.rows], seconds[ev.rows])
        if short[k]:
            if crosses[k] == 0:
                types[k] = "Bounce" if complete[k] else "unknown"
            else:
                types[k] = "Quick_Cross"
        elif ev.duration > config.p_time:
            types[k] = "Trapped"
        else:
            values = _baseline(tracks, ev, interval, config, excluded)
            types[k], str_mean[k], str_sd[k] = _classify_middle(
                str_i[k], int(crosses[k]), values, interval, config
            )
    first_rows = rows[bounds[:-1]]
    events_table = BabaEvents(
        animal_id=tracks.animal_id[first_rows],
        burst_id=labels[bounds[:-1]],
        easting=tracks.x[first_rows],
        northing=tracks.y[first_rows],
        start_time=tracks.time[first_rows],
        end_time=tracks.time[rows[bounds[1:] - 1]],
        duration_hours=np.array([ev.duration for ev in events]),
        cross=crosses,
        str_i=str_i,
        str_mean=str_mean,
        str_sd=str_sd,
        event_type=types.astype(str),
        fence_id=_nearest_fence(tracks.x[first_rows], tracks.y[first_rows], layer),
    )
    return BabaResult(events_table, rows, event_of_point, fetched, interval, config)


@dataclass(frozen=True)
class FenceRanking:
    """BaRanking: encounter classes per fence and the impermeability index (0-1).

    Only fences with at least one event start within ``distance`` are listed (the R package gives
    the other fences NA). ``index`` is ``((Bounce + Back_n_forth + Trace + Trapped) / total_enc) *
    unique_ind`` rescaled to 0-1 over the fences with ``total_enc >= min_total_enc`` (NaN for the
    others, and for all when every fence has the same value).
    """

    fence_id: np.ndarray
    class_counts: dict[str, np.ndarray]
    unique_ind: np.ndarray
    total_enc: np.ndarray
    index: np.ndarray

    def __len__(self) -> int:
        return len(self.fence_id)

    def columns(self) -> dict[str, np.ndarray]:
        """``fence_id``, one column per class, ``unique_ind``, ``total_enc``, ``index``."""
        return {
            "fence_id": self.fence_id,
            **self.class_counts,
            "unique_ind": self.unique_ind,
            "total_enc": self.total_enc,
            "index": self.index,
        }


def rank_fences(
    events: BabaEvents, layer: FenceLayer, distance: float, *, min_total_enc: int = 0
) -> FenceRanking:
    """Rank fences by barrier effect as BaBA's ``BaRanking`` does.

    Each event is joined to every fence within ``distance`` of its first fix, so one event can
    count for several fences.

    Examples
    --------
    >>> layer = FenceLayer.from_fences([Fence("f", [(0, 0), (0, 100)])])
    >>> ev = BabaEvents(*[np.array(v) for v in (["a", "b"], ["a_0", "b_0"], [5.0, 8.0],
    ...     [50.0, 60.0], ["2020-01-01"] * 2, ["2020-01-01"] * 2, [0.0, 0.0], [0, 1],
    ...     [np.nan] * 2, [np.nan] * 2, [np.nan] * 2, ["Bounce", "Quick_Cross"], ["f", "f"])])
    >>> r = rank_fences(ev, layer, 10)
    >>> r.class_counts["Bounce"].tolist(), r.unique_ind.tolist(), r.total_enc.tolist()
    ([1], [2], [2])
    """
    points = shapely.points(np.asarray(events.easting, float), np.asarray(events.northing, float))
    event_idx, fence_idx = layer.tree.query(points, predicate="dwithin", distance=distance)
    fences = np.unique(fence_idx)
    column = np.searchsorted(fences, fence_idx)
    counts = {}
    for name in EVENT_TYPES:
        is_type = events.event_type[event_idx] == name
        counts[name] = np.bincount(column[is_type], minlength=len(fences)).astype(np.int64)
    total = np.sum(list(counts.values()), axis=0).astype(np.int64) if counts else np.zeros(0)
    pairs = np.unique(np.column_stack([column, _codes(events.animal_id)[event_idx]]), axis=0)
    unique_ind = np.bincount(pairs[:, 0], minlength=len(fences)).astype(np.int64)
    barrier = counts["Bounce"] + counts["Back_n_forth"] + counts["Trace"] + counts["Trapped"]
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = np.where(total >= min_total_enc, barrier / total * unique_ind, np.nan)
        known = raw[np.isfinite(raw)]
        low, high = (known.min(), known.max()) if known.size else (np.nan, np.nan)
        index = (raw - low) / (high - low)
    return FenceRanking(layer.fence_ids[fences], counts, unique_ind, total, index)


def _codes(values: np.ndarray) -> np.ndarray:
    return np.unique(values, return_inverse=True)[1].reshape(-1)


def rank_with_crossings(ranking: FenceRanking, crossings: FenceCrossings) -> dict[str, np.ndarray]:
    """Every fence that was crossed or encountered: BaRanking's columns plus ``crossings``.

    Fences crossed without any encounter event get zero class counts and a NaN index. Rows are
    sorted by index (highest first, NaN last), then encounters, crossings and fence id.

    Examples
    --------
    >>> empty = FenceRanking(np.array(["f"]), {k: np.array([0]) for k in EVENT_TYPES},
    ...                      np.array([1]), np.array([0]), np.array([np.nan]))
    >>> c = FenceCrossings(*[np.array(v) for v in (["a"], ["g"], [0.0], [0.0],
    ...     ["2020-01-01"], ["2020-01-01"], ["2020-01-01"], ["left"], ["right"])])
    >>> table = rank_with_crossings(empty, c)
    >>> table["fence_id"].tolist(), table["crossings"].tolist(), table["total_enc"].tolist()
    (['g', 'f'], [1, 0], [0, 0])
    """
    crossed, counts = np.unique(np.asarray(crossings.fence_id).astype(str), return_counts=True)
    ids = np.asarray(ranking.fence_id).astype(str)
    extra = np.setdiff1d(crossed, ids)
    all_ids = np.r_[ids, extra]
    pad = np.zeros(len(extra), dtype=np.int64)
    columns = {"fence_id": all_ids}
    for name, values in ranking.class_counts.items():
        columns[name] = np.r_[values, pad]
    columns["unique_ind"] = np.r_[ranking.unique_ind, pad]
    columns["total_enc"] = np.r_[ranking.total_enc, pad]
    columns["index"] = np.r_[ranking.index, np.full(len(extra), np.nan)]
    observed = dict(zip(crossed, counts, strict=True))
    columns["crossings"] = np.array([observed.get(f, 0) for f in all_ids], dtype=np.int64)
    index = np.where(np.isfinite(columns["index"]), columns["index"], -np.inf)
    order = np.lexsort((all_ids, -columns["crossings"], -columns["total_enc"], -index))
    return {name: values[order] for name, values in columns.items()}
