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
    """``day``, ``twilight`` or ``night`` per event (``""`` where the site has no coordinates)."""
    by_id = {d.deployment_id: d for d in deployments}
    light = np.full(len(events), "", dtype=object)
    cache: dict[tuple[str, str], dict | None] = {}
    for k, (dep_id, date, start) in enumerate(
        zip(events["deployment_id"], events["local_date"], events["start"], strict=True)
    ):
        dep = by_id.get(dep_id)
        if dep is None or dep.latitude is None or dep.longitude is None:
            continue
        key = (dep_id, date)
        if key not in cache:
            day = dt.date.fromisoformat(date)
            cache[key] = sun_times(dep.latitude, dep.longitude, day, _zone(dep))
        light[k] = _light(start, cache[key], Observer(dep.latitude, dep.longitude))
    return light
