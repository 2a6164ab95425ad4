"""What each audience may see: generalise or withhold sensitive content, and record what was done.

One module shared by the report and the service, so both apply the same rules. An audience is one
of the sensitivity levels of :data:`crossings.io.runlog.SENSITIVITY_LEVELS` (``public`` <
``restricted`` < ``confidential``): it sees content whose level is at most its own. Content above
it is generalised to a coarser grid or withheld, as GBIF's practice for sensitive occurrence data
recommends (Chapman 2020, *Current Best Practices for Generalizing Sensitive Species Occurrence
Data*): coordinates are moved to the centre of a grid cell of a fixed precision category, and the
published record says the precision as provided and as published, and why.

Examples
--------
>>> generalise_point(-830893.3, 199012.2, 10_000)
(-835000.0, 195000.0)
>>> decide(ContentType.OPENING_LOCATION, "public").grid_m
10000
>>> decide(ContentType.FENCE_INFRASTRUCTURE, "restricted").action
'withheld'
>>> most_restrictive(["public", "confidential", "restricted"])
'confidential'
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from typing import Any

import numpy as np

from crossings.errors import ConfigError, did_you_mean
from crossings.io.runlog import SENSITIVITY_LEVELS

__all__ = [
    "AUDIENCES",
    "PRECISION_CATEGORIES_M",
    "ContentType",
    "Rule",
    "RULES",
    "Decision",
    "LedgerEntry",
    "Ledger",
    "check_level",
    "level_rank",
    "may_see",
    "most_restrictive",
    "decide",
    "generalise_point",
    "generalise_points",
    "generalise_geometries",
    "EQUAL_AREA_CRS",
    "coordinate_uncertainty_m",
    "block_mean",
    "N_",
]

#: Audiences, from the widest to the narrowest: the sensitivity levels themselves.
AUDIENCES = SENSITIVITY_LEVELS

#: GBIF's precision categories (about 0.001, 0.01, 0.1 and 1 degree) as equal-area grid metres.
PRECISION_CATEGORIES_M = (100, 1_000, 10_000, 100_000)


def N_(message: str) -> str:
    """Mark a string for translation without translating it here (the report translates it)."""
    return message


class ContentType(str, Enum):
    """Kinds of sensitive content that have their own rule."""

    OPENING_LOCATION = "opening_location"
    CAMERA_LOCATION = "camera_location"
    FENCE_INFRASTRUCTURE = "fence_infrastructure"
    FENCE_LINE = "fence_line"
    ANIMAL_LOCATION = "animal_location"
    PERSON_IMAGE = "person_image"


@dataclass(frozen=True)
class Rule:
    """How one kind of content is shown to each audience.

    Attributes
    ----------
    content : ContentType
    exact_level : str or None
        The widest audience that sees the content exactly (every narrower one does too);
        ``None`` means no audience does (always withheld).
    grid_m : mapping of str to int or None
        For each audience below ``exact_level``: the grid (metres, a GBIF precision category) the
        content is generalised to, or ``None`` to withhold it.
    reason : str
        Why (English; translated by the report).
    """

    content: ContentType
    exact_level: str | None
    grid_m: Mapping[str, int | None]
    reason: str


RULES: dict[ContentType, Rule] = {
    rule.content: rule
    for rule in (
        Rule(
            ContentType.OPENING_LOCATION,
            "confidential",
            {"restricted": 1_000, "public": 10_000},
            N_("exact positions of fence openings could help people cross the border unseen"),
        ),
        Rule(
            ContentType.CAMERA_LOCATION,
            "confidential",
            {"restricted": 1_000, "public": 10_000},
            N_("camera traps at exact positions can be found, avoided or stolen"),
        ),
        Rule(
            ContentType.FENCE_INFRASTRUCTURE,
            "confidential",
            {"restricted": None, "public": None},
            N_("border posts, checkpoints and their buffers are security infrastructure"),
        ),
        Rule(
            ContentType.FENCE_LINE,
            "restricted",
            {"public": 10_000},
            N_("the exact fence alignment is border infrastructure"),
        ),
        Rule(
            ContentType.ANIMAL_LOCATION,
            "confidential",
            {"restricted": 1_000, "public": 10_000},
            N_("exact locations of threatened animals could guide poachers"),
        ),
        Rule(
            ContentType.PERSON_IMAGE,
            None,
            {level: None for level in AUDIENCES},
            N_("images of people are personal data and never leave the owner"),
        ),
    )
}


def check_level(level: str, field_name: str = "audience") -> str:
    """``level`` if it is a sensitivity level, else a :class:`ConfigError` naming the choices."""
    if level not in AUDIENCES:
        raise ConfigError(
            f"must be one of {', '.join(AUDIENCES)}; got {level!r}."
            + did_you_mean(level, AUDIENCES),
            field=field_name,
        )
    return level


def level_rank(level: str) -> int:
    """0 for public, 1 for restricted, 2 for confidential."""
    return AUDIENCES.index(check_level(level, "sensitivity"))


def may_see(audience: str, level: str) -> bool:
    """Whether ``audience`` may see content of sensitivity ``level`` as it is."""
    return level_rank(level) <= level_rank(audience)


def most_restrictive(levels: Iterable[str]) -> str:
    """The narrowest of ``levels`` (``public`` if there are none)."""
    return max(levels, key=level_rank, default=AUDIENCES[0])


@dataclass(frozen=True)
class Decision:
    """What to do with one kind of content for one audience.

    ``action`` is ``"exact"``, ``"generalised"`` (to ``grid_m`` metres) or ``"withheld"``.
    """

    content: ContentType
    audience: str
    action: str
    grid_m: int | None
    reason: str


def decide(content: ContentType | str, audience: str) -> Decision:
    """The rule of ``content`` applied to ``audience``."""
    rule = RULES[ContentType(content)]
    check_level(audience)
    if rule.exact_level is not None and may_see(audience, rule.exact_level):
        return Decision(rule.content, audience, "exact", None, rule.reason)
    grid = rule.grid_m.get(audience)
    action = "withheld" if grid is None else "generalised"
    return Decision(rule.content, audience, action, grid, rule.reason)


def generalise_point(x: float, y: float, grid_m: float) -> tuple[float, float]:
    """Centre of the ``grid_m`` cell (projected metres, grid anchored at 0, 0) that holds ``x, y``.

    Every point of a cell maps to the same centre, so the published point says no more than
    which cell it lies in.
    """
    if not (grid_m > 0 and math.isfinite(grid_m)):
        raise ConfigError(f"grid must be a positive number of metres; got {grid_m!r}", field="grid")
    return (
        (math.floor(x / grid_m) + 0.5) * grid_m,
        (math.floor(y / grid_m) + 0.5) * grid_m,
    )


def generalise_points(xy: Any, grid_m: float) -> np.ndarray:
    """:func:`generalise_point` for an ``(n, 2)`` array of projected coordinates."""
    points = np.asarray(xy, dtype=float).reshape(-1, 2)
    generalise_point(0.0, 0.0, grid_m)  # validates grid_m
    return (np.floor(points / grid_m) + 0.5) * grid_m


#: The equal-area CRS whose grid :func:`generalise_geometries` uses (Central Asian Albers).
EQUAL_AREA_CRS = "+proj=aea +lat_1=38 +lat_2=50 +lat_0=44 +lon_0=68 +datum=WGS84 +units=m"


@lru_cache(maxsize=4)
def _to_and_from_equal_area(crs: str):
    from pyproj import Transformer

    return (
        Transformer.from_crs(crs, EQUAL_AREA_CRS, always_xy=True),
        Transformer.from_crs(EQUAL_AREA_CRS, crs, always_xy=True),
    )


def generalise_geometries(geometries: Any, grid_m: float, *, crs: str = "EPSG:4326") -> Any:
    """Move every vertex of shapely geometries (in ``crs``) to its ``grid_m`` cell centre.

    The grid is that of :func:`generalise_point`, laid in :data:`EQUAL_AREA_CRS`; the result is
    in ``crs`` again (the service serves EPSG:4326). Accepts one geometry or an array of them.

    >>> from shapely import Point
    >>> g = generalise_geometries(Point(58.123456, 44.654321), 10_000)
    >>> round(g.x, 6) != 58.123456 and round(g.y, 6) != 44.654321
    True
    """
    import shapely

    generalise_point(0.0, 0.0, grid_m)  # validates grid_m
    forward, back = _to_and_from_equal_area(crs)

    def snap(xy: np.ndarray) -> np.ndarray:
        x, y = forward.transform(xy[:, 0], xy[:, 1])
        cells = generalise_points(np.column_stack([x, y]), grid_m)
        lon, lat = back.transform(cells[:, 0], cells[:, 1])
        return np.column_stack([lon, lat])

    return shapely.transform(geometries, snap)


def coordinate_uncertainty_m(grid_m: float) -> int:
    """Half the diagonal of a ``grid_m`` cell, rounded up: a generalised point's uncertainty."""
    return math.ceil(grid_m * math.sqrt(2) / 2)


def block_mean(values: np.ndarray, factor: int) -> np.ndarray:
    """Mean over ``factor`` x ``factor`` blocks (NaN ignored): a raster shown at coarser precision.

    The result has the same shape as ``values`` (each block filled with its mean), so it can be
    drawn with the original transform.
    """
    if factor < 1 or int(factor) != factor:
        raise ConfigError(f"block factor must be a whole number >= 1; got {factor!r}", field="grid")
    factor = int(factor)
    rows, cols = values.shape
    pad_r, pad_c = (-rows) % factor, (-cols) % factor
    padded = np.pad(
        np.asarray(values, dtype=float), ((0, pad_r), (0, pad_c)), constant_values=np.nan
    )
    blocks = padded.reshape(padded.shape[0] // factor, factor, padded.shape[1] // factor, factor)
    valid = np.isfinite(blocks)
    sums = np.where(valid, blocks, 0.0).sum(axis=(1, 3))
    counts = valid.sum(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    expanded = np.repeat(np.repeat(means, factor, axis=0), factor, axis=1)[:rows, :cols]
    # Cells without data stay without data: the coarse map does not invent a landscape.
    return np.where(np.isfinite(values), expanded, np.nan)


@dataclass(frozen=True)
class LedgerEntry:
    """One thing generalised or withheld, in the terms of GBIF's ``dataGeneralizations``.

    Attributes
    ----------
    subject : str
        What it was (e.g. ``"ranked openings (plan/openings.csv)"``).
    content : ContentType
    action : str
        ``"generalised"`` or ``"withheld"``.
    count : int
        How many items (points, rows, images).
    precision_provided : str
        ``"exact"`` (as the run wrote it).
    grid_m : int or None
        The precision as published (cell size in metres) when generalised.
    reason : str
    """

    subject: str
    content: ContentType
    action: str
    count: int
    precision_provided: str
    grid_m: int | None
    reason: str

    def to_mapping(self) -> dict[str, Any]:
        """Plain values (for JSON and the service's API)."""
        return {
            "subject": self.subject,
            "content": self.content.value,
            "action": self.action,
            "count": self.count,
            "precision_provided": self.precision_provided,
            "precision_published_m": self.grid_m,
            "coordinate_uncertainty_m": (
                coordinate_uncertainty_m(self.grid_m) if self.grid_m else None
            ),
            "reason": self.reason,
        }


@dataclass
class Ledger:
    """Applies the rules for one audience and records what was generalised or withheld.

    Examples
    --------
    >>> ledger = Ledger("public")
    >>> ledger.points(ContentType.OPENING_LOCATION, [[1234.0, 5678.0]], subject="openings")
    array([[5000., 5000.]])
    >>> [(e.action, e.grid_m, e.count) for e in ledger.entries]
    [('generalised', 10000, 1)]
    """

    audience: str
    entries: list[LedgerEntry] = field(default_factory=list)

    def __post_init__(self):
        check_level(self.audience)

    def decide(self, content: ContentType | str) -> Decision:
        return decide(content, self.audience)

    def points(self, content: ContentType | str, xy: Any, *, subject: str) -> np.ndarray | None:
        """Projected points as this audience may see them, or ``None`` when withheld."""
        points = np.asarray(xy, dtype=float).reshape(-1, 2)
        decision = self.decide(content)
        if decision.action == "exact":
            return points
        self.record(decision, subject, len(points))
        if decision.action == "withheld":
            return None
        return generalise_points(points, decision.grid_m)

    def allows(self, content: ContentType | str, *, subject: str, count: int = 1) -> bool:
        """Whether content that cannot be generalised (an image, a table) is shown exactly.

        Content that is not shown exactly is recorded as withheld.
        """
        decision = self.decide(content)
        if decision.action == "exact":
            return True
        withheld = Decision(decision.content, self.audience, "withheld", None, decision.reason)
        self.record(withheld, subject, count)
        return False

    def record(self, decision: Decision, subject: str, count: int) -> None:
        """Note that ``count`` items of ``subject`` were generalised or withheld."""
        if decision.action == "exact" or count <= 0:
            return
        self.entries.append(
            LedgerEntry(
                subject,
                decision.content,
                decision.action,
                int(count),
                "exact",
                decision.grid_m,
                decision.reason,
            )
        )

    def to_records(self) -> list[dict[str, Any]]:
        return [entry.to_mapping() for entry in self.entries]
