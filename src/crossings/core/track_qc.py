"""Quality control of GPS fixes before any analysis: duplicate times, spikes and data gaps.

The rules (documented in docs/tracks.md, section "Quality control"):

* **Duplicate timestamps.** Of several fixes of one individual at one time, the first in the
  file's order is kept and the others are flagged ``duplicate`` and dropped.
* **Data gaps.** A step longer than ``max_gap_hours`` starts a new *burst*; by default the
  limit is ``GAP_INTERVALS`` (6) times the individual's modal fix interval. No step, encounter,
  BaBA window or crossing spans two bursts, so a hole in a collar's record never becomes a
  crossing with an interpolated date.
* **Spikes.** A fix is a spike when the speeds into it and out of it both exceed
  ``spike_speed_factor`` (20) times the individual's median speed and the track turns back
  sharply there (cosine of the turning angle below ``spike_cos``, -0.97, i.e. a turn of more
  than about 166 degrees). This is the out-and-back rule of Bjørneraas et al. (2010, Screening
  GPS location data for errors using animal movement characteristics, Journal of Wildlife
  Management 74:1361-1366), with the speed limit scaled by each individual's own median speed
  instead of one absolute value. Spikes are dropped unless ``keep_outliers`` is set; the first
  and last fix of a burst have only one neighbour and are never spikes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crossings.core.tracks import Tracks, modal_interval_hours
from crossings.errors import ConfigError

__all__ = ["GAP_INTERVALS", "QCConfig", "QCResult", "quality_control", "step_flags"]

#: Default data gap, in modal fix intervals, beyond which a track is split into bursts.
GAP_INTERVALS = 6.0


@dataclass(frozen=True, slots=True)
class QCConfig:
    """Quality-control thresholds.

    Parameters
    ----------
    max_gap_hours : float, optional
        Longest step within a burst, hours; default ``GAP_INTERVALS`` times each individual's
        modal fix interval.
    spike_speed_factor : float
        A spike's speeds in and out exceed this multiple of the individual's median speed.
    spike_cos : float
        A spike's turning angle has a cosine below this (-1 is a full reversal).
    keep_outliers : bool
        Keep spikes in the analysis (they are still flagged).
    """

    max_gap_hours: float | None = None
    spike_speed_factor: float = 20.0
    spike_cos: float = -0.97
    keep_outliers: bool = False

    def __post_init__(self):
        if self.max_gap_hours is not None and not self.max_gap_hours > 0:
            raise ConfigError(
                f"must be a positive number of hours; got {self.max_gap_hours!r}",
                field="max_gap",
            )
        if not self.spike_speed_factor > 1:
            raise ConfigError(
                f"must be greater than 1; got {self.spike_speed_factor!r}",
                field="spike_speed_factor",
            )
        if not -1 <= self.spike_cos <= 1:
            raise ConfigError(f"must be within -1 and 1; got {self.spike_cos!r}", field="spike_cos")


@dataclass(frozen=True)
class QCResult:
    """Clean tracks with bursts, the flag of every input fix and a summary per individual.

    Attributes
    ----------
    tracks : Tracks
        Fixes kept for the analysis (duplicates dropped; spikes dropped unless kept), with
        ``burst`` numbers.
    fix_flag : ndarray of str
        Per fix of the input (sorted as :class:`Tracks` sorts): ``ok``, ``duplicate``, ``spike``
        (dropped) or ``spike_kept``.
    kept_spike : ndarray of bool
        Per row of ``tracks``: a spike kept because of ``keep_outliers``.
    dropped_before : ndarray of bool
        Per row of ``tracks``: a spike was dropped between this fix and the previous one.
    summary : dict of ndarray
        One row per individual: ``animal_id``, ``fixes``, ``duplicates``, ``spikes``,
        ``bursts``, ``gaps``, ``longest_gap_hours``, ``interval_hours``, ``max_gap_hours``,
        ``spike_speed_m_per_h``.
    interval_hours : dict
        Modal fix interval per individual.
    """

    tracks: Tracks
    fix_flag: np.ndarray
    kept_spike: np.ndarray
    dropped_before: np.ndarray
    summary: dict[str, np.ndarray]
    interval_hours: dict[str, float]

    def summary_line(self) -> str:
        """One line for the console: what was dropped and how tracks were split."""
        s = self.summary
        kept = " (kept: --keep-outliers)" if np.any(self.fix_flag == "spike_kept") else ""
        return (
            f"QC: {len(s['animal_id'])} individual(s), {int(s['fixes'].sum())} fixes; "
            f"{int(s['duplicates'].sum())} duplicate timestamp(s) dropped, "
            f"{int(s['spikes'].sum())} spike(s) flagged{kept}; {int(s['gaps'].sum())} data "
            f"gap(s) split the tracks into {int(s['bursts'].sum())} burst(s)"
        )


def _duplicates(tracks: Tracks) -> np.ndarray:
    """True for every fix after the first of one individual at one time (input order kept)."""
    same = (tracks.animal_id[1:] == tracks.animal_id[:-1]) & (tracks.time[1:] == tracks.time[:-1])
    return np.r_[False, same]


def _limits(tracks: Tracks, config: QCConfig) -> tuple[dict[str, float], dict[str, float]]:
    hours = tracks.hours
    interval = {name: modal_interval_hours(hours[rows]) for name, rows in tracks.individuals()}
    gap = {
        name: config.max_gap_hours or (GAP_INTERVALS * value if np.isfinite(value) else np.inf)
        for name, value in interval.items()
    }
    return interval, gap


def _bursts(tracks: Tracks, max_gap: dict[str, float]) -> np.ndarray:
    """Burst number per row: a new burst after every step longer than the individual's gap."""
    burst = np.zeros(tracks.n_fixes, dtype=np.int64)
    hours = tracks.hours
    for name, rows in tracks.individuals():
        steps = np.diff(hours[rows])
        burst[rows] = np.r_[0, np.cumsum(steps > max_gap[name])]
    return burst


def _with_bursts(tracks: Tracks, burst: np.ndarray) -> Tracks:
    return Tracks(
        tracks.animal_id, tracks.time, tracks.x, tracks.y, tracks.crs, tracks.source, burst
    )


def _spikes(tracks: Tracks, config: QCConfig) -> tuple[np.ndarray, dict[str, float]]:
    """Out-and-back spikes within bursts, and the speed limit used per individual (m/h)."""
    spike = np.zeros(tracks.n_fixes, dtype=bool)
    limit: dict[str, float] = {}
    hours = tracks.hours
    step = tracks.same_burst_steps()
    dx, dy = tracks.x[step + 1] - tracks.x[step], tracks.y[step + 1] - tracks.y[step]
    dt = hours[step + 1] - hours[step]
    speed = np.hypot(dx, dy) / dt
    owner = tracks.animal_id[step]
    for name, _ in tracks.individuals():
        mine = owner == name
        limit[name] = (
            float(config.spike_speed_factor * np.median(speed[mine])) if mine.any() else np.inf
        )
    fast = speed > np.array([limit[name] for name in owner]) if len(step) else speed > 0
    # consecutive steps (k, k+1) share the fix step[k] + 1
    pair = np.flatnonzero(step[1:] == step[:-1] + 1)
    inward, outward = pair, pair + 1
    dot = dx[inward] * dx[outward] + dy[inward] * dy[outward]
    norm = np.hypot(dx[inward], dy[inward]) * np.hypot(dx[outward], dy[outward])
    with np.errstate(invalid="ignore", divide="ignore"):
        sharp = dot / norm < config.spike_cos
    spike[step[outward][fast[inward] & fast[outward] & sharp]] = True
    return spike, limit


def quality_control(tracks: Tracks, config: QCConfig | None = None) -> QCResult:
    """Flag duplicates and spikes, split tracks at data gaps into bursts.

    Examples
    --------
    >>> fixes = [("a", f"2020-01-01T{h:02d}:00", 100.0 * h, 0.0) for h in range(6)]
    >>> fixes[2] = ("a", "2020-01-01T02:00", 200.0, 5000.0)  # 5 km out and back
    >>> fixes.append(("a", "2020-01-03T00:00", 600.0, 0.0))  # 43 hours later
    >>> qc = quality_control(Tracks.from_records(fixes))
    >>> qc.fix_flag.tolist().count("spike"), qc.tracks.n_fixes, qc.tracks.burst.tolist()
    (1, 6, [0, 0, 0, 0, 0, 1])
    """
    config = config or QCConfig()
    duplicate = _duplicates(tracks)
    unique = tracks.subset(~duplicate)
    interval, max_gap = _limits(unique, config)
    provisional = _with_bursts(unique, _bursts(unique, max_gap))
    spike, speed_limit = _spikes(provisional, config)
    keep = ~spike | config.keep_outliers
    clean = unique.subset(keep)
    clean = _with_bursts(clean, _bursts(clean, max_gap))
    fix_flag = np.full(tracks.n_fixes, "ok", dtype=object)
    fix_flag[duplicate] = "duplicate"
    unique_rows = np.flatnonzero(~duplicate)
    fix_flag[unique_rows[spike]] = "spike_kept" if config.keep_outliers else "spike"
    dropped = np.cumsum(~keep)[keep]  # spikes dropped up to each kept fix
    dropped_before = (
        np.r_[False, dropped[1:] != dropped[:-1]]
        & np.r_[False, clean.animal_id[1:] == clean.animal_id[:-1]]
    )
    summary = _summary(tracks, fix_flag, clean, interval, max_gap, speed_limit)
    kept_spike = spike[keep] if config.keep_outliers else np.zeros(clean.n_fixes, bool)
    return QCResult(clean, fix_flag, kept_spike, dropped_before, summary, interval)


def _summary(tracks, fix_flag, clean, interval, max_gap, speed_limit) -> dict[str, np.ndarray]:
    names = [name for name, _ in tracks.individuals()]
    hours = clean.hours
    rows_of = dict(clean.individuals())
    columns: dict[str, list] = {key: [] for key in _SUMMARY}
    for name in names:
        mine = tracks.animal_id == name
        rows = rows_of.get(name, slice(0, 0))
        steps = np.diff(hours[rows])
        gaps = steps[steps > max_gap[name]]
        columns["animal_id"].append(name)
        columns["fixes"].append(int(mine.sum()))
        columns["duplicates"].append(int(np.sum(fix_flag[mine] == "duplicate")))
        columns["spikes"].append(
            int(np.sum(np.char.startswith(fix_flag[mine].astype(str), "spike")))
        )
        columns["bursts"].append(int(clean.burst[rows].max() + 1) if rows.stop > rows.start else 0)
        columns["gaps"].append(len(gaps))
        columns["longest_gap_hours"].append(float(gaps.max()) if len(gaps) else 0.0)
        columns["interval_hours"].append(interval[name])
        columns["max_gap_hours"].append(max_gap[name])
        columns["spike_speed_m_per_h"].append(speed_limit.get(name, np.inf))
    return {key: np.asarray(values) for key, values in columns.items()}


_SUMMARY = (
    "animal_id",
    "fixes",
    "duplicates",
    "spikes",
    "bursts",
    "gaps",
    "longest_gap_hours",
    "interval_hours",
    "max_gap_hours",
    "spike_speed_m_per_h",
)


def step_flags(qc: QCResult, step_row: np.ndarray) -> np.ndarray:
    """QC flag of each step from row ``r`` to ``r + 1`` of ``qc.tracks``.

    ``ok``, or ``;``-joined: ``near_gap`` (the step begins or ends a burst that borders a data
    gap), ``outlier`` (it touches a kept spike), ``near_outlier`` (a dropped spike lay inside it)
    and ``missed_fixes`` (it lasts more than twice the modal interval, below the gap limit).
    """
    t = qc.tracks
    row = np.asarray(step_row, dtype=np.int64)
    nxt = row + 1
    n = t.n_fixes
    same_animal_before = np.r_[False, t.animal_id[1:] == t.animal_id[:-1]]
    new_burst = np.r_[False, t.burst[1:] != t.burst[:-1]] & same_animal_before
    gap_after = np.r_[new_burst[1:], False]
    flags = {
        "near_gap": new_burst[row] | gap_after[np.minimum(nxt, n - 1)],
        "outlier": qc.kept_spike[row] | qc.kept_spike[np.minimum(nxt, n - 1)],
        "near_outlier": qc.dropped_before[np.minimum(nxt, n - 1)],
    }
    interval = np.array([qc.interval_hours.get(a, np.nan) for a in t.animal_id[row]], float)
    hours = t.hours
    with np.errstate(invalid="ignore"):
        flags["missed_fixes"] = hours[np.minimum(nxt, n - 1)] - hours[row] > 2 * interval
    text = np.full(len(row), "", dtype=object)
    for name, mask in flags.items():
        text = np.where(mask, np.where(text == "", name, text + ";" + name), text)
    return np.where(text == "", "ok", text).astype(object)
