"""The BaBA R package's Wyoming example data (tests/data/baba), read for the BaBA tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyogrio
import shapely

from crossings.core.fences import Fence
from crossings.core.tracks import Tracks

DATA = Path(__file__).parent / "data" / "baba"


def read_fences():
    """The fence features (a GeoDataFrame) and one :class:`Fence` per part of each."""
    frame = pyogrio.read_dataframe(DATA / "fences.gpkg")
    fences = [
        Fence(str(int(fid)), shapely.get_coordinates(part))
        for fid, geom in zip(frame["FID_Fence0"], frame.geometry.values, strict=True)
        for part in shapely.get_parts(geom)
    ]
    return frame, fences


def read_tracks(species: str) -> Tracks:
    """GPS fixes of ``species`` (``pronghorn`` or ``muleDeer``), times as naive UTC."""
    frame = pd.read_csv(DATA / f"{species}.csv")
    times = pd.to_datetime(frame["timestamp"], utc=True).dt.tz_localize(None).to_numpy()
    return Tracks(frame["id"].to_numpy(), times, frame["x"].to_numpy(), frame["y"].to_numpy())
