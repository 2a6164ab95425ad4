"""Read, quality-check and tabulate a tracks analysis: the steps every tracks front end shares.

:func:`load_analysis` reads GPS fixes and fences (any supported format, column names, time
format and zone), reprojects, runs quality control (:mod:`crossings.core.track_qc`) and reads
the optional openings and side polygons. :func:`crossing_table`, :func:`rank_table` and
:func:`type_summary` build the output tables, each carrying the fence attributes
(``type``, ``country_pair``, ``permeability`` and any other column of the fence layer).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from crossings.core.baba import EVENT_TYPES, BabaEvents, FenceRanking, rank_with_crossings
from crossings.core.passages import (
    Openings,
    SideAreas,
    name_sides,
    passages,
    passages_per_opening,
)
from crossings.core.track_qc import QCConfig, QCResult, quality_control, step_flags
from crossings.core.tracks import FenceCrossings, FenceLayer, Tracks
from crossings.io.gps import (
    FenceInput,
    TrackColumns,
    events_frame,
    read_fence_layer,
    read_opening_points,
    read_side_areas,
    read_tracks,
    to_projected,
)

__all__ = [
    "TrackInputs",
    "LoadedTracks",
    "load_analysis",
    "locate_passages",
    "crossing_table",
    "events_table",
    "rank_table",
    "type_summary",
    "opening_table",
    "qc_table",
]


@dataclass(frozen=True)
class TrackInputs:
    """Where the fixes, fences, openings and sides are and how to read them."""

    tracks: Path
    fences: Path
    fmt: str = "auto"
    crs: str | None = None
    columns: TrackColumns = TrackColumns()
    time_format: str | None = None
    timezone: str | None = None
    layer: str | None = None
    fence_id: str | None = None
    openings: Path | None = None
    opening_id_column: str | None = None
    opening_tolerance: float = 50.0
    sides: Path | None = None
    sides_column: str | None = None


@dataclass(frozen=True)
class LoadedTracks:
    """Quality-checked fixes in the analysis CRS with their fences, openings and sides."""

    qc: QCResult
    layer: FenceLayer
    fences: FenceInput
    crs: str
    openings: Openings | None
    sides: SideAreas | None

    @property
    def tracks(self) -> Tracks:
        return self.qc.tracks


def load_analysis(inputs: TrackInputs, qc_config: QCConfig, *, distance: float) -> LoadedTracks:
    """Read every input, reproject to one projected CRS and run quality control."""
    raw = read_tracks(
        inputs.tracks, fmt=inputs.fmt, crs=inputs.crs, columns=inputs.columns,
        time_format=inputs.time_format, timezone=inputs.timezone,
    )  # fmt: skip
    fence_input = read_fence_layer(inputs.fences, layer=inputs.layer, id_column=inputs.fence_id)
    tracks, fences, crs = to_projected(raw, fence_input.fences, fence_input.crs, distance=distance)
    openings = (
        read_opening_points(inputs.openings, target_crs=crs, id_column=inputs.opening_id_column)
        if inputs.openings
        else None
    )
    sides = (
        read_side_areas(inputs.sides, target_crs=crs, name_column=inputs.sides_column)
        if inputs.sides
        else None
    )
    return LoadedTracks(
        quality_control(tracks, qc_config),
        FenceLayer.from_fences(fences),
        fence_input,
        crs,
        openings,
        sides,
    )


def locate_passages(loaded: LoadedTracks, tolerance: float) -> FenceCrossings:
    """Crossings and gap passages, assigned to openings, sides named, QC flags set."""
    found = passages(loaded.tracks, loaded.layer, loaded.openings, tolerance)
    if loaded.sides is not None:
        found = name_sides(found, loaded.tracks, loaded.sides)
    return found.with_columns(qc_flag=step_flags(loaded.qc, found.step_row))


def _attributes(fences: FenceInput) -> pd.DataFrame:
    frame = fences.attributes.copy()
    frame["fence_id"] = frame["fence_id"].astype(str)
    return frame


def _with_attributes(frame: pd.DataFrame, fences: FenceInput) -> pd.DataFrame:
    """``frame`` with the fence layer's columns joined on ``fence_id`` (prefixed ``fence_``
    where a name is already taken)."""
    attrs = _attributes(fences)
    taken = set(frame.columns) - {"fence_id"}
    attrs = attrs.rename(columns={c: f"fence_{c}" for c in attrs.columns if c in taken})
    return frame.merge(attrs, on="fence_id", how="left")


def _iso(values) -> list[str]:
    return [f"{t}Z" for t in np.asarray(values).astype("datetime64[s]")]


def crossing_table(crossings: FenceCrossings, fences: FenceInput) -> pd.DataFrame:
    """One row per crossing or gap passage, with its QC flag, opening and fence attributes."""
    columns = crossings.columns()
    frame = pd.DataFrame({k: v for k, v in columns.items()})
    for name in ("time", "step_start", "step_end"):
        frame[name] = _iso(frame[name])
    return _with_attributes(frame, fences)


def events_table(events: BabaEvents, fences: FenceInput) -> pd.DataFrame:
    """BaBA's classification table plus the nearest fence's attributes."""
    return _with_attributes(events_frame(events), fences)


def rank_table(
    ranking: FenceRanking, crossings: FenceCrossings, fences: FenceInput
) -> pd.DataFrame:
    """Every fence crossed or encountered (BaRanking plus observed crossings), sorted."""
    return _with_attributes(pd.DataFrame(rank_with_crossings(ranking, crossings)), fences)


def type_summary(rank: pd.DataFrame) -> pd.DataFrame | None:
    """Encounter classes, encounters and crossings summed per fence ``type`` (None without)."""
    if "type" not in rank:
        return None
    sums = ["total_enc", "crossings", *EVENT_TYPES]
    grouped = rank.assign(type=rank["type"].fillna("").astype(str)).groupby("type")
    table = grouped[sums].sum()
    table.insert(0, "fences", grouped.size())
    return table.reset_index()


def opening_table(crossings: FenceCrossings) -> pd.DataFrame:
    """Passages per opening, month (UTC) and direction."""
    return pd.DataFrame(passages_per_opening(crossings))


def qc_table(qc: QCResult) -> pd.DataFrame:
    """The per-individual quality-control summary."""
    return pd.DataFrame(qc.summary)


def output_stem(out: str | os.PathLike) -> Path:
    """The path of ``out`` without its suffix, the stem of the side tables."""
    return Path(out).with_suffix("")
