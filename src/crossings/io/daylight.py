"""Day, twilight and night of camera-trap events from sunrise and sunset at the deployment.

Sun times come from the ``astral`` library (NOAA's solar equations) for the deployment's
latitude and longitude and the event's local date: an event between sunrise and sunset is
``day``, between civil dawn (sun 6 degrees below the horizon) and sunrise or between sunset and
civil dusk is ``twilight``, otherwise ``night``. Where the sun never rises or sets on that day
(polar day or night), the sun's elevation at the event decides. A deployment without
coordinates gives ``""``.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence

import numpy as np
from astral import Observer
from astral.sun import dawn, dusk, elevation, sunrise, sunset

from crossings.core.camtrap import Deployment, Table

__all__ = ["sun_times", "light_of_events"]

_UTC = dt.timezone.utc


def sun_times(
    latitude: float, longitude: float, date: dt.date, zone: dt.tzinfo = _UTC
) -> dict[str, dt.datetime] | None:
    """Civil dawn, sunrise, sunset and civil dusk at a place on a date of time zone ``zone``.

    ``None`` when one of them does not happen that day (polar day or night).

    >>> import zoneinfo
    >>> t = sun_times(51.5074, -0.1278, dt.date(2021, 6, 21), zoneinfo.ZoneInfo("Europe/London"))
    >>> t["sunrise"].strftime("%H:%M"), t["sunset"].strftime("%H:%M")
    ('04:43', '21:21')
    """
    observer = Observer(latitude=latitude, longitude=longitude)
    try:
        return {
            "dawn": dawn(observer, date, tzinfo=zone),
            "sunrise": sunrise(observer, date, tzinfo=zone),
            "sunset": sunset(observer, date, tzinfo=zone),
            "dusk": dusk(observer, date, tzinfo=zone),
        }
    except ValueError:  # astral: the sun never reaches that depression/horizon that day
        return None


def _light(seconds: int, times: dict[str, dt.datetime] | None, observer: Observer) -> str:
    moment = dt.datetime.fromtimestamp(int(seconds), _UTC)
    if times is None:
        height = elevation(observer, moment)
        return "day" if height > -0.833 else ("twilight" if height > -6 else "night")
    # the sun times of the local date may straddle the UTC midnight: compare as instants
    if times["sunrise"] <= moment <= times["sunset"]:
        return "day"
    if times["dawn"] <= moment < times["sunrise"] or times["sunset"] < moment <= times["dusk"]:
        return "twilight"
    return "night"


def _zone(dep: Deployment) -> dt.tzinfo:
    if dep.timezone:
        return zoneinfo.ZoneInfo(dep.timezone)
    return dt.timezone(dt.timedelta(seconds=dep.utc_offset_s))


def light_of_events(events: Table, deployments: Sequence[Deployment]) -> np.ndarray:
    """``day``, ``twilight`` or ``night`` per event (``""`` where the site has no coordinates).

    The sun times are computed once per (deployment, local date) and the events compared with
    them as whole arrays; only polar days and nights fall back to the sun's elevation per event.
    """
    light = np.full(len(events), "", dtype=object)
    if not len(events):
        return light
    keys: dict[tuple[str, str], int] = {}
    pairs = zip(events["deployment_id"], events["local_date"], strict=True)
    key_of_event = np.fromiter(
        (keys.setdefault(pair, len(keys)) for pair in pairs),
        dtype=np.int64,
        count=len(events),
    )
    by_id = {d.deployment_id: d for d in deployments}
    bounds, state = _bounds_of_keys(list(keys), by_id)
    start = np.asarray(events["start"]).astype(np.int64)
    _classify_with_sun_times(light, start, key_of_event, bounds, state == _TIMED)
    _classify_polar(light, start, key_of_event, state == _POLAR, list(keys), by_id)
    return light


_NO_SITE, _TIMED, _POLAR = 0, 1, 2
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=_UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


def _bounds_of_keys(keys: list[tuple[str, str]], by_id: dict[str, Deployment]):
    """Dawn, sunrise, sunset, dusk in integer microseconds since 1970 (exact comparisons)."""
    bounds = np.zeros((len(keys), 4), dtype=np.int64)
    state = np.full(len(keys), _NO_SITE, dtype=np.int8)
    for k, (dep_id, date) in enumerate(keys):
        dep = by_id.get(dep_id)
        if dep is None or dep.latitude is None or dep.longitude is None:
            continue
        times = sun_times(dep.latitude, dep.longitude, dt.date.fromisoformat(date), _zone(dep))
        if times is None:
            state[k] = _POLAR
            continue
        state[k] = _TIMED
        bounds[k] = [(times[name] - _EPOCH) // _MICROSECOND for name in _SUN_EVENTS]
    return bounds, state


_SUN_EVENTS = ("dawn", "sunrise", "sunset", "dusk")
_NAMES = np.array(["night", "twilight", "day"], dtype=object)


def _classify_with_sun_times(light, start, key_of_event, bounds, timed_key) -> None:
    rows = np.flatnonzero(timed_key[key_of_event])
    moment = start[rows] * 1_000_000
    dawn_, rise, set_, dusk_ = bounds[key_of_event[rows]].T
    day = (rise <= moment) & (moment <= set_)
    twilight = ((dawn_ <= moment) & (moment < rise)) | ((set_ < moment) & (moment <= dusk_))
    light[rows] = _NAMES[np.where(day, 2, np.where(twilight, 1, 0))]


def _classify_polar(light, start, key_of_event, polar_key, keys, by_id) -> None:
    for k in np.flatnonzero(polar_key[key_of_event]):
        dep = by_id[keys[key_of_event[k]][0]]
        light[k] = _light(start[k], None, Observer(dep.latitude, dep.longitude))
