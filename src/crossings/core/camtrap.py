"""Camera traps at fence openings: detections -> sequences -> independent events -> use per opening.

Pure numpy: the readers in :mod:`crossings.io.camera` turn MegaDetector output, EXIF times, label
files and the deployments table into a :class:`Detections` table and :class:`Deployment` records;
everything here works on arrays. Times are integer seconds since 1970-01-01 UTC; each row also
carries its camera's UTC offset so that diel activity and months are in local time.

Definitions (documented in docs/camera.md):

- A detection is kept if its confidence is at least the threshold of its category (default 0.2,
  as recommended for MegaDetector v5). Person and vehicle detections are withheld unless
  ``include_private`` is set: they never reach an event, a table, a plot or an export.
- A **sequence** is a run of images of one deployment in which each image follows the previous
  one by less than ``sequence_gap_s`` (default 60 s); a gap of exactly ``sequence_gap_s`` or more
  starts a new sequence.
- An **independent event** is a run of records of one species at one deployment in which each
  record follows the previous record of that species by less than ``independence_s`` (default
  1800 s, the usual 30-minute independence threshold).
- The **crossing direction** of an event compares the side of the deployment's image fence line
  of the event's first and last located records: "A to B", "B to A", or "unknown" when the boxes
  stay on one side, touch only the line, or the deployment has no fence line.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import warnings
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from crossings.errors import ConfigError, CrossingsWarning

__all__ = [
    "PRIVATE_CATEGORIES",
    "DIRECTIONS",
    "EventConfig",
    "Deployment",
    "Detections",
    "Table",
    "CameraResult",
    "SpeciesMap",
    "normalise_species",
    "unknown_species",
    "events_table",
    "events_from_tags",
    "local_offsets",
    "check_deployments",
    "assign_deployments",
    "filter_detections",
    "sequence_ids",
    "split_runs",
    "side_of_line",
    "build_events",
    "opening_use",
    "structure_use",
    "light_use",
    "people_per_month",
    "people_counts",
    "summarise",
    "analyse",
]

PRIVATE_CATEGORIES = frozenset({"person", "vehicle"})
DIRECTIONS = ("A to B", "B to A", "unknown")
COUNT_MODES = ("max", "sum", "records")
#: Structure types: two-way openings and passages, and one-way escape ramps or jump-outs.
STRUCTURES = ("opening", "underpass", "overpass", "ramp")
#: Use classes of a one-way structure (side A is the side animals escape from).
RAMP_CLASSES = ("used", "refused", "approached", "unknown")
SECONDS_PER_DAY = 86400.0


def iso_utc(seconds: int | float) -> str:
    """Epoch seconds as ISO 8601 UTC, for messages: ``iso_utc(0) == '1970-01-01T00:00:00Z'``."""
    whole = np.datetime64(int(seconds), "s")
    return f"{whole}Z"


@dataclass(frozen=True, slots=True)
class EventConfig:
    """How detections become sequences and events.

    Parameters
    ----------
    sequence_gap_s : float
        Images of one deployment less than this many seconds apart form one sequence.
    independence_s : float
        Records of one species at one deployment less than this many seconds after the previous
        record of that species belong to the same event.
    animal_threshold, person_threshold, vehicle_threshold : float
        Minimum detection confidence per MegaDetector category (0..1).
    include_private : bool
        Keep person and vehicle detections (never for public outputs).
    count : {"max", "sum", "records"}
        Individuals of an event: the largest count on one record (the usual rule), the sum
        of the records' counts, or the number of records (for comparison with older analyses).
    merge_overlaps : bool
        Merge overlapping deployments of one camera into one (with a warning) instead of
        refusing them.
    """

    sequence_gap_s: float = 60.0
    independence_s: float = 1800.0
    animal_threshold: float = 0.2
    person_threshold: float = 0.2
    vehicle_threshold: float = 0.2
    include_private: bool = False
    count: str = "max"
    merge_overlaps: bool = False

    def __post_init__(self):
        if self.count not in COUNT_MODES:
            raise ConfigError(
                f"must be one of {', '.join(COUNT_MODES)}; got {self.count!r}", field="count"
            )
        for name in ("sequence_gap_s", "independence_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"must be > 0 seconds; got {getattr(self, name)}", field=name)
        for name in ("animal_threshold", "person_threshold", "vehicle_threshold"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"must be within 0 and 1; got {getattr(self, name)}", field=name)

    def threshold(self, category: str) -> float:
        """Confidence threshold of a category (0 for manual labels of other categories)."""
        return float(getattr(self, f"{category}_threshold", 0.0))


@dataclass(frozen=True, slots=True)
class Deployment:
    """One camera at one place for one period, tied to a fence and an opening.

    Parameters
    ----------
    deployment_id, camera_id : str
    fence_id, opening_id : str
        Keys into the shared fence model; ``opening_id`` may be empty for a camera on a fence.
    start, end : int
        Active period, seconds since 1970-01-01 UTC (both ends included).
    utc_offset_s : int
        The camera clock's offset from UTC in seconds (local time = UTC + offset).
    opening_date : int or None
        When the opening was made (UTC seconds), for before/after comparisons.
    fence_line : tuple or None
        Two points ``((x1, y1), (x2, y2))`` in normalised image coordinates (0..1, y down).
    side_names : tuple of str
        Names of side A (left of the line walking from point 1 to point 2, as seen in the
        image) and side B.
    location_id : str
    latitude, longitude : float or None
        WGS84 degrees (confidential: generalised for public exports).
    timezone : str
        IANA time zone of the site (e.g. ``Asia/Tashkent``); when given, local times follow it
        with daylight saving, and ``utc_offset_s`` only reads the camera clock.
    structure : str
        One of :data:`STRUCTURES`: a two-way ``opening`` (sides A and B), an ``underpass`` or
        ``overpass``, or a one-way ``ramp`` (escape ramp or jump-out, from side A to side B).
    """

    deployment_id: str
    camera_id: str
    fence_id: str
    opening_id: str
    start: int
    end: int
    utc_offset_s: int = 0
    opening_date: int | None = None
    fence_line: tuple[tuple[float, float], tuple[float, float]] | None = None
    side_names: tuple[str, str] = ("A", "B")
    location_id: str = ""
    latitude: float | None = None
    longitude: float | None = None
    timezone: str = ""
    structure: str = "opening"

    def __post_init__(self):
        if self.structure not in STRUCTURES:
            raise ConfigError(
                f"structure must be one of {', '.join(STRUCTURES)}; got {self.structure!r}",
                field=f"deployment {self.deployment_id!r} structure",
            )
        if self.timezone:
            try:
                zoneinfo.ZoneInfo(self.timezone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ConfigError(
                    f"{self.timezone!r} is not an IANA time zone name (e.g. Asia/Tashkent)",
                    field=f"deployment {self.deployment_id!r} timezone",
                ) from None
        if not self.end > self.start:
            raise ConfigError(
                f"deployment end must be after its start; got start {iso_utc(self.start)}, "
                f"end {iso_utc(self.end)}",
                field=f"deployment {self.deployment_id!r} end",
            )
        if self.fence_line is not None:
            line = np.asarray(self.fence_line, dtype=float)
            if line.shape != (2, 2) or not np.all(np.isfinite(line)):
                raise ConfigError(
                    f"fence line must be two points (x, y); got {self.fence_line!r}",
                    field=f"deployment {self.deployment_id!r} fence line",
                )
            if np.allclose(line[0], line[1]):
                raise ConfigError(
                    "the two fence-line points are the same; draw the line between two "
                    "distinct points on the fence in the image",
                    field=f"deployment {self.deployment_id!r} fence line",
                )

    @property
    def camera_days(self) -> float:
        """Length of the active period in days (the sampling effort)."""
        return (self.end - self.start) / SECONDS_PER_DAY

    def days_before_after(self) -> tuple[float, float]:
        """Camera-days before and after the opening date (all 'after' without a date)."""
        if self.opening_date is None:
            return 0.0, self.camera_days
        cut = min(max(self.opening_date, self.start), self.end)
        return (cut - self.start) / SECONDS_PER_DAY, (self.end - cut) / SECONDS_PER_DAY


@dataclass(frozen=True)
class Detections:
    """One row per detection box (or per label without a box), all arrays of equal length.

    Parameters
    ----------
    file : array of str
        Image path as given in the detector output.
    camera_id : array of str
    time : array of int64
        Capture time, seconds since 1970-01-01 UTC.
    category : array of str
        ``animal``, ``person``, ``vehicle`` (or a label category).
    species : array of str
        Species label; ``""`` for an unclassified animal (reported as ``animal``).
    confidence : array of float
    bbox : array, shape (n, 4)
        ``x, y, width, height`` normalised to 0..1 from the top-left corner; NaN for labels
        without a box.
    count : array of int
        Individuals this row stands for (1 per box; a label's count on one row, 0 on the rest).
    """

    file: np.ndarray
    camera_id: np.ndarray
    time: np.ndarray
    category: np.ndarray
    species: np.ndarray
    confidence: np.ndarray
    bbox: np.ndarray
    count: np.ndarray

    def __post_init__(self):
        n = len(self.file)
        for f in dataclasses.fields(self):
            value = np.asarray(getattr(self, f.name))
            if f.name == "bbox":
                value = value.astype(float).reshape(-1, 4)
            if len(value) != n:
                raise ConfigError(f"has {len(value)} rows, 'file' has {n}", field=f.name)
            object.__setattr__(self, f.name, value)

    def __len__(self) -> int:
        return len(self.file)

    def take(self, index: np.ndarray) -> Detections:
        """The rows selected by a boolean mask or an index array."""
        return Detections(
            **{f.name: getattr(self, f.name)[index] for f in dataclasses.fields(self)}
        )


@dataclass(frozen=True)
class Table:
    """Named columns of equal length (numpy arrays); the io layer writes them as CSV."""

    columns: Mapping[str, np.ndarray]

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def __repr__(self) -> str:
        return f"Table({len(self)} rows: {', '.join(self.columns)})"

    def rows(self) -> list[dict]:
        """The table as a list of plain dicts (small tables, tests)."""
        names = list(self.columns)
        return [
            dict(zip(names, values, strict=True))
            for values in zip(*self.columns.values(), strict=True)
        ]


@dataclass(frozen=True)
class CameraResult:
    """Events and use tables of one analysis.

    ``withheld`` counts the person/vehicle detections kept out of every output,
    ``below_threshold`` the detections under their category's confidence threshold and
    ``outside_deployments`` the rows whose time falls in no deployment of their camera.
    """

    events: Table
    use: Table
    monthly: Table
    diel: Table
    withheld: int = 0
    below_threshold: int = 0
    outside_deployments: int = 0
    config: EventConfig = field(default_factory=EventConfig)
    structures: Table | None = None
    light: Table | None = None
    people: Table | None = None
    unknown_species: tuple[str, ...] = ()
    deployments: tuple[Deployment, ...] = ()


@dataclass(frozen=True)
class SpeciesMap:
    """Names as written -> canonical names (e.g. common -> scientific), and optional groups.

    Keys are compared after :func:`normalise_species` and case-folding, so the table needs one
    row per name, not per spelling.
    """

    names: Mapping[str, str]
    groups: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        canonical = {_fold(k): _tidy(v) for k, v in self.names.items()}
        for value in list(canonical.values()):
            canonical.setdefault(_fold(value), value)
        object.__setattr__(self, "names", canonical)
        object.__setattr__(self, "groups", {_fold(k): v for k, v in self.groups.items()})

    def known(self, name: str) -> bool:
        return _fold(name) in self.names


_LABELS = frozenset({"animal", *PRIVATE_CATEGORIES})


def _tidy(name: str) -> str:
    """One space between words, none around."""
    return " ".join(str(name).split())


def _fold(name: str) -> str:
    return _tidy(name).casefold()


def _preferred(variants: list[tuple[str, int]]) -> str:
    """The spelling to show for names that differ only in case: the one written as a binomial
    (later words in small letters), then the most frequent, then the first in sort order."""

    def score(item):
        name, count = item
        rest = name.split()[1:]
        return (all(w == w.lower() for w in rest), count)

    best = max(score(v) for v in variants)
    return sorted(name for name, count in variants if score((name, count)) == best)[0]


def normalise_species(names: np.ndarray, species_map: SpeciesMap | None = None) -> np.ndarray:
    """Merge names that differ only in whitespace or case, and map them via ``species_map``.

    >>> normalise_species(np.array(["Ursus Americanus ", "ursus  americanus", "Ursus americanus",
    ...                             "saiga"])).tolist()
    ['Ursus americanus', 'Ursus americanus', 'Ursus americanus', 'saiga']
    >>> table = SpeciesMap({"saiga": "Saiga tatarica"})
    >>> normalise_species(np.array(["Saiga", "SAIGA TATARICA", "wolf"]), table).tolist()
    ['Saiga tatarica', 'Saiga tatarica', 'wolf']
    """
    unique, inverse, counts = np.unique(
        np.asarray(names).astype(str), return_inverse=True, return_counts=True
    )
    variants: dict[str, list[tuple[str, int]]] = {}
    for name, count in zip(unique, counts, strict=True):
        variants.setdefault(_fold(name), []).append((_tidy(name), int(count)))
    shown = {key: _preferred(v) for key, v in variants.items()}
    if species_map is not None:
        shown = {key: species_map.names.get(key, value) for key, value in shown.items()}
    labels = np.array([shown[_fold(u)] for u in unique], dtype=object)
    return labels[inverse.reshape(-1)]


def unknown_species(names: np.ndarray, species_map: SpeciesMap | None) -> tuple[str, ...]:
    """Names (already normalised) that the mapping table does not hold (none without a table)."""
    if species_map is None:
        return ()
    return tuple(
        sorted(n for n in set(np.asarray(names).astype(str)) - _LABELS if not species_map.known(n))
    )


def _groups(species: np.ndarray, species_map: SpeciesMap | None) -> np.ndarray:
    if species_map is None or not species_map.groups:
        return np.full(len(species), "", dtype=object)
    return np.array([species_map.groups.get(_fold(s), "") for s in species], dtype=object)


def check_deployments(
    deployments: Sequence[Deployment], source: str | None = None, *, merge: bool = False
) -> list[Deployment]:
    """Refuse (or merge) deployments of one camera that overlap in time; refuse repeated ids.

    With ``merge``, overlapping deployments of one camera at the same fence and opening become
    one deployment (ids joined with ``+``, the union of their periods) and a
    :class:`CrossingsWarning` says which; overlaps between different openings are always
    refused. Returns the (merged) deployments.

    >>> a = Deployment("d1", "C1", "F1", "O1", 0, 100)
    >>> b = Deployment("d2", "C1", "F1", "O1", 50, 200)
    >>> check_deployments([a, b])
    Traceback (most recent call last):
    ...
    crossings.errors.ConfigError: field 'start': deployments 'd1' and 'd2' of camera 'C1' ...
    >>> import warnings; warnings.simplefilter("ignore")
    >>> [(d.deployment_id, d.start, d.end) for d in check_deployments([a, b], merge=True)]
    [('d1+d2', 0, 200)]
    """
    seen: dict[str, Deployment] = {}
    for dep in deployments:
        if dep.deployment_id in seen:
            raise ConfigError(
                f"deployment id {dep.deployment_id!r} appears twice; give each row its own id",
                source=source,
                field="deployment_id",
            )
        seen[dep.deployment_id] = dep
    by_camera: dict[str, list[Deployment]] = {}
    for dep in deployments:
        by_camera.setdefault(dep.camera_id, []).append(dep)
    result: list[Deployment] = []
    for camera, deps in by_camera.items():
        merged = [sorted(deps, key=lambda d: d.start)[0]]
        for second in sorted(deps, key=lambda d: d.start)[1:]:
            first = merged[-1]
            if second.start >= first.end:
                merged.append(second)
                continue
            same_place = (first.fence_id, first.opening_id) == (second.fence_id, second.opening_id)
            if not (merge and same_place):
                fix = (
                    "give --merge-overlaps to merge them"
                    if same_place
                    else "they watch different openings, so they cannot be merged"
                )
                raise ConfigError(
                    f"deployments {first.deployment_id!r} and {second.deployment_id!r} of camera "
                    f"{camera!r} overlap in time ({iso_utc(second.start)} is before "
                    f"{iso_utc(first.end)}), which would count camera-days twice; end the first "
                    f"before the second starts, give the cameras distinct ids, or {fix}",
                    source=source,
                    field="start",
                )
            warnings.warn(
                f"{source or 'deployments'}: deployments {first.deployment_id!r} and "
                f"{second.deployment_id!r} of camera {camera!r} overlap in time; merged into "
                "one deployment (camera-days counted once)",
                CrossingsWarning,
                stacklevel=2,
            )
            merged[-1] = dataclasses.replace(
                first,
                deployment_id=f"{first.deployment_id}+{second.deployment_id}",
                end=max(first.end, second.end),
            )
        result += merged
    order = {d.deployment_id: k for k, d in enumerate(deployments)}
    return sorted(result, key=lambda d: order.get(d.deployment_id.split("+")[0], 0))


def assign_deployments(
    camera_id: np.ndarray, time: np.ndarray, deployments: Sequence[Deployment]
) -> np.ndarray:
    """Index into ``deployments`` of the deployment active for each row (-1 if none).

    >>> deps = [Deployment("d1", "C1", "F", "O", 0, 100),
    ...         Deployment("d2", "C1", "F", "O", 100, 200)]
    >>> assign_deployments(np.array(["C1", "C1", "C1", "C2"]), np.array([5, 100, 250, 5]), deps)
    array([ 0,  1, -1, -1])
    """
    camera_id = np.asarray(camera_id).astype(str)
    time = np.asarray(time, dtype=np.int64)
    result = np.full(len(time), -1, dtype=np.int64)
    for camera in np.unique(camera_id):
        rows = np.flatnonzero(camera_id == camera)
        candidates = [i for i, d in enumerate(deployments) if d.camera_id == camera]
        if not candidates:
            continue
        candidates.sort(key=lambda i: deployments[i].start)
        starts = np.array([deployments[i].start for i in candidates], dtype=np.int64)
        ends = np.array([deployments[i].end for i in candidates], dtype=np.int64)
        slot = np.searchsorted(starts, time[rows], side="right") - 1
        valid = slot >= 0
        valid[valid] &= time[rows][valid] <= ends[slot[valid]]  # the last image at 'end' counts
        result[rows[valid]] = np.asarray(candidates)[slot[valid]]
    return result


def filter_detections(detections: Detections, config: EventConfig) -> tuple[Detections, int, int]:
    """Drop private categories (unless allowed) and detections under their threshold.

    Returns the kept rows, the number withheld for privacy and the number below threshold.
    """
    category = detections.category.astype(str)
    private = np.isin(category, list(PRIVATE_CATEGORIES))
    withheld = private if not config.include_private else np.zeros(len(category), bool)
    thresholds = np.array([config.threshold(c) for c in category], dtype=float)
    if len(category) > 1000:  # vectorise the lookup for large tables
        names, inverse = np.unique(category, return_inverse=True)
        thresholds = np.array([config.threshold(c) for c in names])[inverse]
    low = (detections.confidence < thresholds) & ~withheld
    keep = ~withheld & ~low
    return detections.take(keep), int(withheld.sum()), int(low.sum())


def split_runs(group: np.ndarray, time: np.ndarray, gap: float) -> np.ndarray:
    """Run number per row: a new run starts at a new group or after a gap of ``gap`` or more.

    Rows must be sorted by ``(group, time)``.

    >>> split_runs(np.array([0, 0, 0, 1]), np.array([0, 59, 119, 120]), 60)
    array([0, 0, 1, 2])
    """
    if len(time) == 0:
        return np.zeros(0, dtype=np.int64)
    new = np.ones(len(time), dtype=bool)
    new[1:] = (group[1:] != group[:-1]) | (np.diff(time) >= gap)
    return np.cumsum(new) - 1


def sequence_ids(deployment: np.ndarray, time: np.ndarray, gap: float) -> np.ndarray:
    """Sequence number per row (images of one deployment closer than ``gap`` seconds).

    >>> sequence_ids(np.array([0, 0, 0]), np.array([0, 120, 60]), 60)
    array([0, 2, 1])
    """
    order = np.lexsort((time, deployment))
    runs = split_runs(np.asarray(deployment)[order], np.asarray(time)[order], gap)
    result = np.empty_like(runs)
    result[order] = runs
    return result


def side_of_line(points: np.ndarray, line: np.ndarray) -> np.ndarray:
    """Side of each point relative to a line through two points (image coordinates, y down).

    Returns 1 for side A (left of the line walking from point 1 to point 2, as seen in the
    image), 2 for side B, 0 on the line or for NaN points.

    >>> side_of_line(np.array([[0.5, 0.2], [0.5, 0.8], [0.3, 0.5]]), np.array([[0, 0.5], [1, 0.5]]))
    array([1, 2, 0])
    """
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    (x1, y1), (x2, y2) = np.asarray(line, dtype=float)
    cross = (x2 - x1) * (points[:, 1] - y1) - (y2 - y1) * (points[:, 0] - x1)
    side = np.zeros(len(points), dtype=np.int64)
    scale = np.hypot(x2 - x1, y2 - y1)
    side[cross < -1e-9 * scale] = 1
    side[cross > 1e-9 * scale] = 2
    return side


def _records(
    detections: Detections, deployment_index: np.ndarray, species_map: SpeciesMap | None = None
) -> dict[str, np.ndarray]:
    """Collapse boxes to one record per (deployment, image, species): count and foot point."""
    species = detections.species.astype(str)
    label = np.where(species == "", detections.category.astype(str), species)
    label = normalise_species(label, species_map)
    bbox = detections.bbox
    # The bottom centre of a box is where the animal stands: the side of a fence drawn on the
    # ground is judged there, not at the box centre, which a tall animal lifts above the line.
    foot = np.column_stack([bbox[:, 0] + bbox[:, 2] / 2, bbox[:, 1] + bbox[:, 3]])
    _, file_code = np.unique(detections.file.astype(str), return_inverse=True)
    _, label_code = np.unique(label, return_inverse=True)
    key = np.stack([deployment_index, file_code, label_code], axis=1)
    keys, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    n = len(keys)
    located = np.isfinite(foot).all(axis=1)
    weight = located.astype(float)
    sum_w = np.bincount(inverse, weight, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        fx = np.bincount(inverse, np.where(located, foot[:, 0], 0.0), n) / sum_w
        fy = np.bincount(inverse, np.where(located, foot[:, 1], 0.0), n) / sum_w
    conf = np.full(n, -np.inf)
    np.maximum.at(conf, inverse, detections.confidence.astype(float))
    return {
        "deployment": keys[:, 0],
        "file": detections.file[first].astype(str),
        "time": detections.time[first].astype(np.int64),
        "label": label[first],
        "count": np.bincount(inverse, detections.count.astype(float), n).astype(np.int64),
        "confidence": conf,
        "foot": np.column_stack([fx, fy]),
    }


def _first_last_side(event: np.ndarray, side: np.ndarray, n_events: int):
    """First and last non-zero side per event (rows sorted by event, then time), and whether
    any record of the event stood on the line or on side B."""
    first = np.zeros(n_events, dtype=np.int8)
    last = np.zeros(n_events, dtype=np.int8)
    reached = np.zeros(n_events, dtype=bool)
    reached[event[side == 2]] = True
    rows = np.flatnonzero(side > 0)
    if len(rows):
        ev = event[rows]
        starts = np.ones(len(rows), dtype=bool)
        starts[1:] = ev[1:] != ev[:-1]
        ends = np.ones(len(rows), dtype=bool)
        ends[:-1] = ev[1:] != ev[:-1]
        first[ev[starts]] = side[rows[starts]]
        last[ev[ends]] = side[rows[ends]]
    on_line = side == -1
    reached[event[on_line]] = True
    return first, last, reached


def _sides(records: dict[str, np.ndarray], deployments: Sequence[Deployment]) -> np.ndarray:
    side = np.zeros(len(records["time"]), dtype=np.int8)
    for index in np.unique(records["deployment"]):
        line = deployments[index].fence_line
        if line is None:
            continue
        rows = records["deployment"] == index
        side[rows] = side_of_line(records["foot"][rows], np.asarray(line))
    located = np.isfinite(records["foot"]).all(axis=1)
    side[(side == 0) & located & _has_line(records["deployment"], deployments)] = -1  # on it
    return side


def _has_line(deployment: np.ndarray, deployments: Sequence[Deployment]) -> np.ndarray:
    with_line = np.array([d.fence_line is not None for d in deployments] + [False])
    return with_line[deployment]


def _month_and_hour(local_seconds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    stamps = local_seconds.astype("datetime64[s]")
    month = np.datetime_as_string(stamps.astype("datetime64[M]"), unit="M")
    hour = (local_seconds // 3600) % 24
    return month, hour.astype(np.int64)


def build_events(
    detections: Detections,
    deployment_index: np.ndarray,
    deployments: Sequence[Deployment],
    config: EventConfig,
    species_map: SpeciesMap | None = None,
) -> Table:
    """Independent events per deployment and species, with crossing direction.

    ``detections`` must already be filtered (:func:`filter_detections`) and
    ``deployment_index`` give each row's deployment (>= 0). Species names are normalised
    (:func:`normalise_species`) first. Returns one row per event.
    """
    rec = _records(detections, deployment_index, species_map)
    order = np.lexsort((rec["time"], rec["label"], rec["deployment"]))
    rec = {k: v[order] for k, v in rec.items()}
    rec["sequence"] = sequence_ids(rec["deployment"], rec["time"], config.sequence_gap_s)
    label_code = np.unique(rec["label"], return_inverse=True)[1].ravel()
    group = np.flatnonzero(_run_starts(rec["deployment"], label_code)).searchsorted(
        np.arange(len(label_code)), side="right"
    )  # one code per (deployment, species) run of the sorted records
    event = split_runs(group, rec["time"], config.independence_s)
    n = int(event.max()) + 1 if len(event) else 0
    starts = np.flatnonzero(_run_starts(event))
    sizes = _event_sizes(rec, event, n)
    first, last, reached = _first_last_side(event, _sides(rec, deployments), n)
    return events_table(
        deployments,
        rec["deployment"][starts],
        rec["label"][starts],
        rec["time"][starts],
        sizes,
        _direction_of(first, last),
        _ramp_class(first, last, reached),
        config,
        species_map,
    )


def events_table(
    deployments: Sequence[Deployment],
    dep: np.ndarray,
    species: np.ndarray,
    start: np.ndarray,
    sizes: Mapping[str, np.ndarray],
    direction: np.ndarray,
    ramp_class: np.ndarray,
    config: EventConfig,
    species_map: SpeciesMap | None = None,
) -> Table:
    """The events table from per-event arrays (any input route: boxes, tags or records).

    ``sizes`` holds ``end``, ``n_images``, ``n_sequences``, ``max_count``, ``sum_count``
    and ``max_confidence``; ``ramp_class`` is the use class an event has if its deployment is a
    one-way ramp (:data:`RAMP_CLASSES`).
    """
    n = len(dep)
    dep = np.asarray(dep, dtype=np.int64)
    structure = _attr(deployments, dep, "structure")
    use_class = np.where(structure == "ramp", ramp_class, direction).astype(object)
    count = {
        "max": sizes["max_count"],
        "sum": sizes["sum_count"],
        "records": sizes["n_images"],
    }[config.count]
    columns = {
        "event_id": np.array([f"e{i + 1}" for i in range(n)], dtype=object),
        "deployment_id": _attr(deployments, dep, "deployment_id"),
        "camera_id": _attr(deployments, dep, "camera_id"),
        "fence_id": _attr(deployments, dep, "fence_id"),
        "opening_id": _attr(deployments, dep, "opening_id"),
        "structure": structure,
        "species": np.asarray(species).astype(object),
        "group": _groups(np.asarray(species).astype(str), species_map),
        "start": np.asarray(start, dtype=np.int64),
        **{k: np.asarray(sizes[k]) for k in _SIZES},
        "count": np.asarray(count, dtype=np.int64),
        "direction": np.asarray(direction, dtype=object),
        "use_class": use_class,
        **_sides_crossed(np.asarray(direction, dtype=object), dep, deployments),
        **_calendar(np.asarray(start, dtype=np.int64), dep, deployments),
    }
    return Table(columns)


_SIZES = ("end", "n_images", "n_sequences", "max_count", "sum_count", "max_confidence")


def events_from_tags(
    deployment_index: np.ndarray,
    time: np.ndarray,
    species: np.ndarray,
    count: np.ndarray,
    tag: np.ndarray,
    deployments: Sequence[Deployment],
    config: EventConfig,
    species_map: SpeciesMap | None = None,
    end: np.ndarray | None = None,
    images: np.ndarray | None = None,
) -> Table:
    """Events from records that carry their crossing as a tag (Camtrap DP event observations,
    legacy tagged-records tables) instead of boxes.

    Records of one deployment and species closer than ``config.independence_s`` form one event,
    as in :func:`build_events`; ``images`` (default 1 per record) and ``end`` (default the record
    time) describe records that stand for several images. ``tag`` is a direction (``A to B``,
    ``B to A``) or, at a ramp, a use class (``used``, ``refused``, ``approached``); anything
    else is ``unknown``. An event whose records disagree is ``unknown``.

    >>> deps = [Deployment("d", "C", "F", "O", 0, 10_000)]
    >>> ev = events_from_tags(np.array([0, 0, 0]), np.array([10, 100, 5000]),
    ...     np.array(["saiga"] * 3), np.array([2, 3, 1]), np.array(["A to B", "A to B", "x"]),
    ...     deps, EventConfig())
    >>> ev["species"].tolist(), ev["count"].tolist(), ev["direction"].tolist()
    (['saiga', 'saiga'], [3, 1], ['A to B', 'unknown'])
    """
    dep = np.asarray(deployment_index, dtype=np.int64)
    time = np.asarray(time, dtype=np.int64)
    end = time if end is None else np.asarray(end, dtype=np.int64)
    label = normalise_species(np.asarray(species).astype(str), species_map)
    tag = np.char.strip(np.asarray(tag).astype(str))
    label_code = np.unique(label, return_inverse=True)[1].reshape(-1)
    order = np.lexsort((time, label_code, dep))
    dep, time, end, label, tag = dep[order], time[order], end[order], label[order], tag[order]
    count = np.asarray(count, dtype=np.int64)[order]
    images = np.ones(len(dep), np.int64) if images is None else np.asarray(images)[order]
    group = np.cumsum(_run_starts(dep, label_code[order])) - 1
    event = split_runs(group, time, config.independence_s)
    n = int(event.max()) + 1 if len(event) else 0
    starts = np.flatnonzero(_run_starts(event)) if n else np.zeros(0, np.int64)
    sizes = _tag_sizes(event, n, end, count, images)
    agreed = _agreed_tag(event, tag, n)
    direction = np.where(np.isin(agreed, DIRECTIONS[:2]), agreed, DIRECTIONS[2]).astype(object)
    ramp = np.where(np.isin(agreed, RAMP_CLASSES[:3]), agreed, RAMP_CLASSES[3]).astype(object)
    direction[agreed == "used"] = DIRECTIONS[0]
    return events_table(
        deployments, dep[starts], label[starts], time[starts], sizes, direction, ramp, config,
        species_map,
    )  # fmt: skip


def _tag_sizes(event, n: int, end, count, images) -> dict:
    last = np.full(n, np.iinfo(np.int64).min)
    np.maximum.at(last, event, end)
    max_count = np.zeros(n, dtype=np.int64)
    np.maximum.at(max_count, event, count)
    return {
        "end": last,
        "n_images": np.bincount(event, images.astype(float), n).astype(np.int64),
        "n_sequences": np.bincount(event, minlength=n).astype(np.int64),
        "max_count": max_count,
        "sum_count": np.bincount(event, count.astype(float), n).astype(np.int64),
        "max_confidence": np.ones(n),
    }


def _agreed_tag(event: np.ndarray, tag: np.ndarray, n: int) -> np.ndarray:
    """The tag every record of the event shares (blank and unknown tags ignored), else unknown."""
    known = ~np.isin(np.char.lower(tag), ["", "unknown"])
    agreed = np.full(n, "unknown", dtype=object)
    codes, inverse = np.unique(tag[known], return_inverse=True)
    if len(codes) == 0:
        return agreed
    ev = event[known]
    kinds = np.zeros((n, len(codes)), dtype=bool)
    kinds[ev, inverse.reshape(-1)] = True
    single = kinds.sum(axis=1) == 1
    agreed[single] = codes[np.argmax(kinds[single], axis=1)]
    return agreed


def _run_starts(*codes: np.ndarray) -> np.ndarray:
    """True where any of the (sorted) code arrays changes value, and at the first row."""
    n = len(codes[0])
    change = np.zeros(max(n - 1, 0), dtype=bool)
    for code in codes:
        change |= code[1:] != code[:-1]
    return np.r_[np.ones(min(n, 1), dtype=bool), change]


def _event_sizes(rec: dict[str, np.ndarray], event: np.ndarray, n: int) -> dict:
    end = np.full(n, np.iinfo(np.int64).min)
    np.maximum.at(end, event, rec["time"])
    max_count = np.zeros(n, dtype=np.int64)
    np.maximum.at(max_count, event, rec["count"])
    max_conf = np.full(n, -np.inf)
    np.maximum.at(max_conf, event, rec["confidence"])
    new_sequence = _run_starts(event, rec["sequence"]).astype(float)
    return {
        "end": end,
        "n_images": np.bincount(event, minlength=n).astype(np.int64),
        "n_sequences": np.bincount(event, new_sequence, n).astype(np.int64),
        "max_count": max_count,
        "sum_count": np.bincount(event, rec["count"].astype(float), n).astype(np.int64),
        "max_confidence": max_conf,
    }


def _direction_of(first: np.ndarray, last: np.ndarray) -> np.ndarray:
    direction = np.full(len(first), DIRECTIONS[2], dtype=object)
    direction[(first == 1) & (last == 2)] = DIRECTIONS[0]
    direction[(first == 2) & (last == 1)] = DIRECTIONS[1]
    return direction


def _ramp_class(first: np.ndarray, last: np.ndarray, reached: np.ndarray) -> np.ndarray:
    """Use class on a one-way ramp: up and over (A to B) is used; back from the line, refused."""
    cls = np.full(len(first), RAMP_CLASSES[3], dtype=object)
    cls[(first == 1) & (last == 2)] = "used"
    stayed = (first == 1) & (last == 1)
    cls[stayed & reached] = "refused"
    cls[stayed & ~reached] = "approached"
    return cls


def _sides_crossed(direction: np.ndarray, dep: np.ndarray, deployments) -> dict:
    """Names of the side an event came from and went to ("" when the direction is unknown)."""
    side_a = np.array([deployments[i].side_names[0] for i in dep], dtype=object)
    side_b = np.array([deployments[i].side_names[1] for i in dep], dtype=object)
    forth, back = direction == DIRECTIONS[0], direction == DIRECTIONS[1]
    return {
        "from_side": np.where(forth, side_a, np.where(back, side_b, "")).astype(object),
        "to_side": np.where(forth, side_b, np.where(back, side_a, "")).astype(object),
    }


def local_offsets(start: np.ndarray, dep: np.ndarray, deployments) -> np.ndarray:
    """UTC offset (seconds) of each event's local time: its site's IANA zone (daylight saving
    included) where the deployment names one, else the camera's fixed offset."""
    offsets = np.array([deployments[i].utc_offset_s for i in dep], dtype=np.int64)
    zones = np.array([deployments[i].timezone for i in dep], dtype=object)
    for name in set(zones.tolist()) - {""}:
        zone = zoneinfo.ZoneInfo(name)
        rows = np.flatnonzero(zones == name)
        offsets[rows] = [
            int(dt.datetime.fromtimestamp(int(t), zone).utcoffset().total_seconds())
            for t in start[rows]
        ]
    return offsets


def _calendar(start: np.ndarray, dep: np.ndarray, deployments) -> dict:
    """Local month, date and hour of each event start, and before/after the opening."""
    local = start + local_offsets(start, dep, deployments)
    month, hour = _month_and_hour(local)
    period = [_period(deployments[d].opening_date, t) for d, t in zip(dep, start, strict=True)]
    return {
        "local_month": month.astype(object),
        "local_date": np.datetime_as_string(
            local.astype("datetime64[s]").astype("datetime64[D]")
        ).astype(object),
        "local_hour": hour,
        "period": np.array(period, dtype=object),
    }


def _attr(deployments: Sequence[Deployment], index: np.ndarray, name: str) -> np.ndarray:
    values = np.array([getattr(d, name) for d in deployments] + [""], dtype=object)
    return values[index] if len(index) else np.zeros(0, dtype=object)


def _period(opening_date: int | None, time: int) -> str:
    if opening_date is None:
        return ""
    return "before" if time < opening_date else "after"


def _opening_effort(deployments: Sequence[Deployment]) -> dict[tuple[str, str], np.ndarray]:
    """Camera-days (total, before, after) and side names per (fence_id, opening_id)."""
    effort: dict[tuple[str, str], np.ndarray] = {}
    for dep in deployments:
        before, after = dep.days_before_after()
        key = (dep.fence_id, dep.opening_id)
        effort.setdefault(key, np.zeros(3))
        effort[key] += (dep.camera_days, before, after)
    return effort


def opening_use(events: Table, deployments: Sequence[Deployment]) -> tuple[Table, Table, Table]:
    """Use per opening and species, monthly counts and diel activity.

    The ``use`` table has one row per (fence, opening, species) with events, individuals,
    crossings by direction, camera-days and detection rate per 100 camera-days, before and after
    the opening date. Openings watched but without events appear with species ``""`` so that
    their effort is not lost.
    """
    effort = _opening_effort(deployments)
    sides: dict[tuple[str, str], tuple[str, str]] = {}
    for d in sorted(deployments, key=lambda d: d.start):  # the first deployment names them
        sides.setdefault((d.fence_id, d.opening_id), d.side_names)
    keys = np.array(
        [
            f"{f}\x1f{o}\x1f{s}"
            for f, o, s in zip(
                events["fence_id"], events["opening_id"], events["species"], strict=True
            )
        ],
        dtype=object,
    )
    uniq, inv = (
        np.unique(keys.astype(str), return_inverse=True)
        if len(keys)
        else (np.zeros(0, str), np.zeros(0, int))
    )
    groups = [tuple(k.split("\x1f")) for k in uniq]
    watched_without = [k + ("",) for k in effort if not any(g[:2] == k for g in groups)]
    groups += sorted(watched_without)
    m = len(groups)
    count = np.bincount(inv, minlength=m)
    direction = _opening_direction(events, sides)
    period = events["period"]
    columns = {
        "fence_id": [g[0] for g in groups],
        "opening_id": [g[1] for g in groups],
        "species": [g[2] for g in groups],
        "events": count,
        "individuals": np.bincount(inv, events["max_count"], m).astype(np.int64),
        "crossings_a_to_b": np.bincount(inv, direction == DIRECTIONS[0], m).astype(np.int64),
        "crossings_b_to_a": np.bincount(inv, direction == DIRECTIONS[1], m).astype(np.int64),
        "direction_unknown": np.bincount(inv, direction == DIRECTIONS[2], m).astype(np.int64),
        "side_a": [sides[g[:2]][0] for g in groups],
        "side_b": [sides[g[:2]][1] for g in groups],
    }
    days = np.array([effort[g[:2]] for g in groups]).reshape(m, 3)
    before = np.bincount(inv, period == "before", m)
    after = np.bincount(inv, period == "after", m)
    columns.update(
        camera_days=days[:, 0],
        events_per_100_camera_days=_rate(count, days[:, 0]),
        events_before=before.astype(np.int64),
        camera_days_before=days[:, 1],
        rate_before=_rate(before, days[:, 1]),
        events_after=after.astype(np.int64),
        camera_days_after=days[:, 2],
        rate_after=_rate(after, days[:, 2]),
    )
    use = Table(
        {k: np.asarray(v, dtype=object if k in _TEXT else None) for k, v in columns.items()}
    )
    return use, _monthly(events, keys), _diel(events, keys)


_TEXT = ("fence_id", "opening_id", "species", "side_a", "side_b")


def _opening_direction(events: Table, sides: Mapping[tuple[str, str], tuple[str, str]]):
    """Direction in the opening's own A/B names: a deployment whose line is drawn the other way
    (its side A is the opening's side B) has its crossings turned round by name."""
    direction = np.array(events["direction"], dtype=object)
    keys = zip(events["fence_id"], events["opening_id"], strict=True)
    for k, (key, origin, target) in enumerate(
        zip(keys, events["from_side"], events["to_side"], strict=True)
    ):
        side_a, side_b = sides.get(key, ("A", "B"))
        if (origin, target) == (side_a, side_b):
            direction[k] = DIRECTIONS[0]
        elif (origin, target) == (side_b, side_a):
            direction[k] = DIRECTIONS[1]
    return direction


def _rate(count: np.ndarray, days: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(days > 0, 100.0 * count / np.where(days > 0, days, 1.0), np.nan)


def _monthly(events: Table, keys: np.ndarray) -> Table:
    if not len(keys):
        return Table({n: np.zeros(0, dtype=object) for n in _TEXT[:3] + ("month", "events")})
    pair = np.array([f"{k}\x1f{m}" for k, m in zip(keys, events["local_month"], strict=True)])
    uniq, counts = np.unique(pair, return_counts=True)
    parts = [u.split("\x1f") for u in uniq]
    return Table(
        {
            "fence_id": np.array([p[0] for p in parts], dtype=object),
            "opening_id": np.array([p[1] for p in parts], dtype=object),
            "species": np.array([p[2] for p in parts], dtype=object),
            "month": np.array([p[3] for p in parts], dtype=object),
            "events": counts.astype(np.int64),
        }
    )


def _diel(events: Table, keys: np.ndarray) -> Table:
    uniq, inv = (
        np.unique(keys.astype(str), return_inverse=True)
        if len(keys)
        else (np.zeros(0, str), np.zeros(0, int))
    )
    counts = np.zeros((len(uniq), 24), dtype=np.int64)
    np.add.at(counts, (inv, events["local_hour"].astype(np.int64)), 1)
    parts = [u.split("\x1f") for u in uniq]
    rep = np.repeat(np.arange(len(uniq)), 24)
    return Table(
        {
            "fence_id": np.array([parts[i][0] for i in rep], dtype=object),
            "opening_id": np.array([parts[i][1] for i in rep], dtype=object),
            "species": np.array([parts[i][2] for i in rep], dtype=object),
            "hour": np.tile(np.arange(24), len(uniq)),
            "events": counts.ravel(),
        }
    )


def structure_use(events: Table) -> Table:
    """Events per structure type, opening, species and use class (direction on two-way
    structures; used / refused / approached on one-way ramps)."""
    return _count_by(events, ("structure", "fence_id", "opening_id", "species", "use_class"))


def light_use(events: Table) -> Table:
    """Events per opening, species and light (day, twilight, night)."""
    return _count_by(events, ("fence_id", "opening_id", "species", "light"))


def _count_by(events: Table, names: Sequence[str]) -> Table:
    if len(events) == 0:
        return Table({**{n: np.zeros(0, dtype=object) for n in names}, "events": np.zeros(0, int)})
    # integer codes per column combined into one key: no string joins over every event
    values, key = [], np.zeros(len(events), dtype=np.int64)
    for name in names:
        uniq, code = np.unique(np.asarray(events[name]).astype(str), return_inverse=True)
        values.append(uniq)
        key = key * len(uniq) + code.reshape(-1)
    groups, counts = np.unique(key, return_counts=True)
    columns = {}
    for name, uniq in zip(reversed(names), reversed(values), strict=True):
        columns[name] = uniq[groups % len(uniq)].astype(object)
        groups = groups // len(uniq)
    return Table({**{n: columns[n] for n in names}, "events": counts.astype(np.int64)})


def people_per_month(
    detections: Detections, deployments: Sequence[Deployment], config: EventConfig
) -> Table:
    """Independent events of people and vehicles per opening and local month (counts only).

    RESTRICTED: it says where and when people pass; it holds no record, time or image, and is
    never part of a public export.
    """
    category = detections.category.astype(str)
    private = np.isin(category, list(PRIVATE_CATEGORIES))
    thresholds = np.array([config.threshold(c) for c in category[private]])
    rows = np.flatnonzero(private)[detections.confidence[private] >= thresholds]
    chosen = detections.take(rows)
    chosen = dataclasses.replace(chosen, species=chosen.category.astype(object))
    index = assign_deployments(chosen.camera_id, chosen.time, deployments)
    chosen, index = chosen.take(index >= 0), index[index >= 0]
    return people_counts(build_events(chosen, index, deployments, config))


def people_counts(private_events: Table) -> Table:
    """Events of people and vehicles per opening, local month and category (counts only).

    The category is ``vehicle`` for events labelled vehicle or car, else ``person``.
    """
    kind = np.char.lower(np.asarray(private_events["species"]).astype(str))
    category = np.where(np.isin(kind, ["vehicle", "car"]), "vehicle", "person").astype(object)
    labelled = Table({**private_events.columns, "category": category})
    table = _count_by(labelled, ("fence_id", "opening_id", "local_month", "category"))
    columns = dict(table.columns)
    columns["month"] = columns.pop("local_month")
    return Table({k: columns[k] for k in ("fence_id", "opening_id", "month", "category", "events")})


def summarise(
    events: Table,
    deployments: Sequence[Deployment],
    config: EventConfig,
    *,
    daylight: Callable[[Table, Sequence[Deployment]], np.ndarray] | None = None,
    **counts,
) -> CameraResult:
    """Use, monthly, diel, structure and light tables of ready-made events.

    ``daylight(events, deployments)`` gives ``day``, ``twilight`` or ``night`` per event (the io
    layer computes it from sunrise and sunset); without it the light column stays empty.
    ``counts`` are the remaining :class:`CameraResult` fields (withheld, people, ...).
    """
    light = daylight(events, deployments) if daylight is not None and len(events) else None
    if light is None:
        light = np.full(len(events), "", dtype=object)
    events = Table({**events.columns, "light": np.asarray(light, dtype=object)})
    use, monthly, diel = opening_use(events, deployments)
    return CameraResult(
        events,
        use,
        monthly,
        diel,
        config=config,
        structures=structure_use(events),
        light=light_use(events),
        deployments=tuple(deployments),
        **counts,
    )


def analyse(
    detections: Detections,
    deployments: Sequence[Deployment],
    config: EventConfig | None = None,
    *,
    species_map: SpeciesMap | None = None,
    daylight: Callable[[Table, Sequence[Deployment]], np.ndarray] | None = None,
) -> CameraResult:
    """Filter, assign to deployments, build events and the use tables in one call.

    Rows outside every deployment period of their camera are counted in
    ``CameraResult.outside_deployments`` (the io layer warns about them with examples).
    People and vehicles never reach an event; their counts per opening and month go to the
    restricted ``people`` table only.
    """
    config = config or EventConfig()
    deployments = check_deployments(deployments, merge=config.merge_overlaps)
    kept, withheld, low = filter_detections(detections, config)
    index = assign_deployments(kept.camera_id, kept.time, deployments)
    inside = index >= 0
    kept, index = kept.take(inside), index[inside]
    events = build_events(kept, index, deployments, config, species_map)
    return summarise(
        events,
        deployments,
        config,
        daylight=daylight,
        withheld=withheld,
        below_threshold=low,
        outside_deployments=int((~inside).sum()),
        people=people_per_month(detections, deployments, config),
        unknown_species=unknown_species(events["species"], species_map),
    )
