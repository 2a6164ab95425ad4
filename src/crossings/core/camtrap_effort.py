"""Effort-aware camera-trap tables over time: per month, per user-defined season, per year.

Camera-days are split at local midnights (the deployment's UTC offset at its start, or its IANA
zone's offset then: a daylight-saving change inside a deployment moves one hour of effort
between two days) and summed per opening and period. Events fall in the period of their local
start date. Every (opening, period) with effort has a row, with species ``""`` and 0 events
where nothing was seen, so that rates of zero are not lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from crossings.core.camtrap import SECONDS_PER_DAY, Deployment, Table, local_offsets
from crossings.errors import ConfigError

__all__ = ["Season", "parse_season", "daily_effort", "effort_table", "effort_tables"]


@dataclass(frozen=True, slots=True)
class Season:
    """A named window of the year from ``start`` to ``end`` (``MM-DD``, both included).

    A window whose end comes before its start runs over the new year and is labelled with the
    year it starts in.
    """

    name: str
    start: str
    end: str

    def __post_init__(self):
        for value in (self.start, self.end):
            try:
                np.datetime64(f"2000-{value}")
            except ValueError:
                raise ConfigError(
                    f"season {self.name!r}: {value!r} is not a month-day like 03-15",
                    field="seasons",
                ) from None

    def label(self, dates: np.ndarray) -> np.ndarray:
        """``"<name> <year>"`` for dates in the window, ``""`` outside it."""
        dates = np.asarray(dates, dtype="datetime64[D]")
        month_day = np.char.add(
            np.char.zfill(_month(dates).astype(str), 2),
            np.char.add("-", np.char.zfill(_day(dates).astype(str), 2)),
        )
        year = dates.astype("datetime64[Y]").astype(int) + 1970
        if self.start <= self.end:
            inside = (month_day >= self.start) & (month_day <= self.end)
            first_year = year
        else:
            inside = (month_day >= self.start) | (month_day <= self.end)
            first_year = np.where(month_day >= self.start, year, year - 1)
        return np.where(inside, np.char.add(f"{self.name} ", first_year.astype(str)), "")


def parse_season(text: str) -> Season:
    """``"spring:03-15:05-31"`` -> Season("spring", "03-15", "05-31").

    >>> winter = parse_season("winter:12-01:02-28")
    >>> winter.label(np.array(["2021-01-10", "2021-06-01"], "M8[D]")).tolist()
    ['winter 2020', '']
    """
    parts = text.split(":")
    if len(parts) != 3 or not parts[0].strip():
        raise ConfigError(
            f"a season is NAME:MM-DD:MM-DD (e.g. spring:03-15:05-31); got {text!r}",
            field="seasons",
        )
    return Season(parts[0].strip(), parts[1].strip(), parts[2].strip())


def _month(dates: np.ndarray) -> np.ndarray:
    return dates.astype("datetime64[M]").astype(int) % 12 + 1


def _day(dates: np.ndarray) -> np.ndarray:
    return (dates - dates.astype("datetime64[M]").astype("datetime64[D]")).astype(int) + 1


def daily_effort(deployments: Sequence[Deployment]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deployment index, local date and camera-days of every day each deployment was active.

    >>> d = Deployment("d", "C", "F", "O", 0, 86400 * 2 + 43200, utc_offset_s=0)
    >>> index, dates, days = daily_effort([d])
    >>> dates.astype(str).tolist(), days.tolist()
    (['1970-01-01', '1970-01-02', '1970-01-03'], [1.0, 1.0, 0.5])
    """
    index, dates, days = [], [], []
    starts = np.array([d.start for d in deployments], dtype=np.int64)
    offsets = local_offsets(starts, np.arange(len(deployments)), deployments)
    for k, dep in enumerate(deployments):
        a, b = dep.start + offsets[k], dep.end + offsets[k]
        first = a // 86400
        edges = np.arange(first, b // 86400 + 2) * 86400
        seconds = np.clip(np.minimum(edges[1:], b) - np.maximum(edges[:-1], a), 0, None)
        keep = seconds > 0
        index.append(np.full(int(keep.sum()), k, dtype=np.int64))
        dates.append((edges[:-1][keep] // 86400).astype("datetime64[D]"))
        days.append(seconds[keep] / SECONDS_PER_DAY)
    if not index:
        return np.zeros(0, np.int64), np.zeros(0, "datetime64[D]"), np.zeros(0)
    return np.concatenate(index), np.concatenate(dates), np.concatenate(days)


def _period_labels(dates: np.ndarray, kind: str, season: Season | None = None) -> np.ndarray:
    dates = np.asarray(dates, dtype="datetime64[D]")
    if kind == "month":
        return np.datetime_as_string(dates.astype("datetime64[M]")).astype(object)
    if kind == "year":
        return np.datetime_as_string(dates.astype("datetime64[Y]")).astype(object)
    return season.label(dates).astype(object)


def effort_table(
    events: Table, deployments: Sequence[Deployment], kind: str, seasons: Sequence[Season] = ()
) -> Table:
    """Events, individuals, camera-days and events per 100 camera-days per opening, period and
    species; ``kind`` is ``month``, ``year`` or ``season`` (one block of rows per season)."""
    dep_index, dates, days = daily_effort(deployments)
    opening = np.array([f"{d.fence_id}\x1f{d.opening_id}" for d in deployments] + [""])
    event_dates = np.asarray(events["local_date"]).astype("datetime64[D]")
    event_opening = np.array(
        [f"{f}\x1f{o}" for f, o in zip(events["fence_id"], events["opening_id"], strict=True)],
        dtype=object,
    )
    blocks = [(s, s.name) for s in seasons] if kind == "season" else [(None, "")]
    rows: dict[str, list] = {k: [] for k in _COLUMNS}
    for season, _ in blocks:
        effort_period = _period_labels(dates, kind, season)
        event_period = _period_labels(event_dates, kind, season)
        _add_rows(
            rows, opening[dep_index], effort_period, days, events, event_opening, event_period
        )
    columns = {k: np.asarray(v, dtype=object if k in _TEXT else None) for k, v in rows.items()}
    if not rows["events"]:
        columns = {k: np.zeros(0, dtype=object if k in _TEXT else float) for k in _COLUMNS}
    columns["period"] = columns.pop("period")
    return Table({k: columns[k] for k in _COLUMNS})


_COLUMNS = ("fence_id", "opening_id", "period", "species", "events", "individuals",
            "camera_days", "events_per_100_camera_days")  # fmt: skip
_TEXT = ("fence_id", "opening_id", "period", "species")


def _add_rows(rows, effort_opening, effort_period, days, events, event_opening, event_period):
    active = effort_period != ""
    key = np.char.add(np.char.add(effort_opening[active].astype(str), "\x1f"),
                      effort_period[active].astype(str))  # fmt: skip
    keys, inverse = np.unique(key, return_inverse=True)
    camera_days = np.bincount(inverse.reshape(-1), days[active], len(keys))
    seen = event_period != ""
    ev_key = np.char.add(
        np.char.add(event_opening[seen].astype(str), "\x1f"), event_period[seen].astype(str)
    )
    species = np.asarray(events["species"])[seen].astype(str)
    count = np.asarray(events["count"])[seen].astype(float)
    pair = np.char.add(np.char.add(ev_key, "\x1e"), species)
    pairs, pair_inverse = np.unique(pair, return_inverse=True)
    n_events = np.bincount(pair_inverse.reshape(-1), minlength=len(pairs))
    n_ind = np.bincount(pair_inverse.reshape(-1), count, len(pairs))
    by_key: dict[str, list[tuple[str, int, float]]] = {}
    for p, e, c in zip(pairs, n_events, n_ind, strict=True):
        k, name = p.split("\x1e")
        by_key.setdefault(k, []).append((name, int(e), float(c)))
    for k, effort in zip(keys, camera_days, strict=True):
        fence, opening_id, period = k.split("\x1f")
        for name, e, c in by_key.get(k, [("", 0, 0.0)]):
            rows["fence_id"].append(fence)
            rows["opening_id"].append(opening_id)
            rows["period"].append(period)
            rows["species"].append(name)
            rows["events"].append(e)
            rows["individuals"].append(int(c))
            rows["camera_days"].append(float(effort))
            rows["events_per_100_camera_days"].append(100.0 * e / effort if effort > 0 else np.nan)


def effort_tables(
    events: Table, deployments: Sequence[Deployment], seasons: Sequence[Season] = ()
) -> dict[str, Table]:
    """The ``month``, ``year`` and (with seasons) ``season`` tables."""
    kinds = ("month", "year") + (("season",) if seasons else ())
    return {kind: effort_table(events, deployments, kind, seasons) for kind in kinds}
