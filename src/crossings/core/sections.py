"""Border sections, ProtConn per country of a region, and the ProtConn[Trans] each section carries.

A border section is a piece of the boundary line shared by two countries. For each section and
each of its two countries, :func:`section_shares` computes ProtConn[Trans] (percent of the
country's area) three times: as the landscape is now; with the section made impassable (a closed
fence along it); and with the fences on the section opened (removed). The **drop** (now - closed)
is the transboundary connectivity the section carries; the **gain** (opened - now) is what
opening its fence would give back.

With ``least_cost`` or ``resistance`` distances the fences cut graph edges
(:mod:`crossings.core.barriers`); with ``edge`` or ``centroid`` distances a closed line cuts
every link whose shortest segment crosses it, and fences count only where their permeability
is 0 (openings are ignored: straight-line distances cannot see a 4 m gap).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import shapely
import shapely.ops

from crossings.core.barriers import apply_fences
from crossings.core.fences import Fence, Opening
from crossings.core.graph import ConductanceGraph
from crossings.core.pa_links import DistanceKind, region_protconn
from crossings.core.protconn import DEFAULT_FLOOR, Convention, Kernel, ProtConnResult
from crossings.errors import ConfigError

__all__ = [
    "Landscape",
    "Section",
    "SectionShare",
    "boundary_sections",
    "country_table",
    "fences_without_section",
    "section_shares",
]

_SNAP = 1.0  # metres: two countries' outlines closer than this share a boundary


@dataclass(frozen=True)
class Section:
    """One border section: ``section_id``, ``country_pair`` (``"KAZ-UZB"``) and its line."""

    section_id: str
    country_pair: str
    line: object

    @property
    def countries(self) -> tuple[str, ...]:
        return tuple(self.country_pair.split("-"))

    @property
    def length(self) -> float:
        return float(shapely.length(self.line))


def _shared_boundary(geom_a, geom_b):
    # Exact for topologically clean outlines (Natural Earth); else the part of A's outline
    # within _SNAP of B.
    shared = shapely.intersection(shapely.boundary(geom_a), shapely.boundary(geom_b))
    if shapely.length(shared) == 0:
        shared = shapely.intersection(shapely.boundary(geom_a), geom_b.buffer(_SNAP))
    lines = [g for g in shapely.get_parts(shared) if g.geom_type in ("LineString", "LinearRing")]
    return shapely.line_merge(shapely.union_all(lines)) if lines else None


def boundary_sections(countries: Mapping[str, object], length: float) -> list[Section]:
    """Cut every shared boundary into sections of about ``length`` metres.

    Ids are ``"<A>-<B>-<k>"`` with ``A < B`` and ``k`` counted from the start of each merged
    boundary line (stable for the same outlines and length).

    >>> countries = {"AAA": shapely.box(0, 0, 10_000, 10_000),
    ...              "BBB": shapely.box(10_000, 0, 20_000, 10_000)}
    >>> [(s.section_id, round(s.length)) for s in boundary_sections(countries, 3000.0)]
    [('AAA-BBB-01', 3333), ('AAA-BBB-02', 3333), ('AAA-BBB-03', 3333)]
    """
    if not length > 0:
        raise ConfigError(f"section length must be > 0 m; got {length!r}.", field="section_length")
    names = sorted(countries)
    sections = []
    for a_index, a in enumerate(names):
        for b in names[a_index + 1 :]:
            shared = _shared_boundary(countries[a], countries[b])
            if shared is None or shapely.is_empty(shared):
                continue
            k = 0
            for line in shapely.get_parts(shared):
                count = max(1, round(line.length / length))
                step = line.length / count
                for piece in range(count):
                    k += 1
                    part = shapely.ops.substring(line, piece * step, (piece + 1) * step)
                    sections.append(Section(f"{a}-{b}-{k:02d}", f"{a}-{b}", part))
    return sections


@dataclass(frozen=True)
class Landscape:
    """How distances are measured: the kind, and for landscape kinds the graph and fences."""

    distance: DistanceKind = DistanceKind.EDGE
    graph: ConductanceGraph | None = None
    fences: tuple[Fence, ...] = ()
    openings: tuple[Opening, ...] = ()

    def closed_lines(self):
        """Fences that cut straight-line links: the closed ones (permeability 0)."""
        lines = [shapely.LineString(f.coords) for f in self.fences if f.permeability == 0]
        return shapely.union_all(lines) if lines else None

    def with_fences(self, fences, openings) -> Landscape:
        return Landscape(self.distance, self.graph, tuple(fences), tuple(openings))

    def fenced_graph(self) -> ConductanceGraph | None:
        if self.graph is None or not self.fences:
            return self.graph
        return apply_fences(self.graph, list(self.fences), list(self.openings))

    @property
    def straight(self) -> bool:
        return self.distance in (DistanceKind.EDGE, DistanceKind.CENTROID)


def _protconn(pa_geoms, region, kernel, landscape: Landscape, settings, cache=None):
    """ProtConn of one region; ``cache`` (a dict) keeps its nodes between landscapes."""
    key = id(region)
    nodes = None if cache is None else cache.get(key)
    barrier = landscape.closed_lines() if landscape.straight else None
    graph = None if landscape.straight else landscape.fenced_graph()
    result, nodes = region_protconn(
        pa_geoms,
        region,
        kernel,
        distance=landscape.distance,
        graph=graph,
        barrier=barrier,
        nodes=nodes,
        **settings,
    )
    if cache is not None:
        cache[key] = nodes
    return result


def country_table(
    pa_geoms,
    countries: Mapping[str, object],
    kernel: Kernel,
    *,
    landscape: Landscape | None = None,
    buffer: float,
    convention: Convention = Convention.SAURA,
    floor: float = DEFAULT_FLOOR,
    area_unit: float = 1e6,
) -> dict[str, ProtConnResult]:
    """ProtConn of every country of a region in one run (PAs of the others as stepping stones)."""
    settings = {"buffer": buffer, "convention": convention, "floor": floor, "area_unit": area_unit}
    landscape = landscape or Landscape()
    return {
        name: _protconn(pa_geoms, region, kernel, landscape, settings)
        for name, region in sorted(countries.items())
    }


@dataclass(frozen=True)
class SectionShare:
    """ProtConn[Trans] (percent of the country's area) of one country around one section."""

    section_id: str
    country: str
    trans_now: float
    trans_closed: float
    trans_opened: float
    protconn_now: float
    protconn_closed: float
    protconn_opened: float

    @property
    def drop(self) -> float:
        return self.trans_now - self.trans_closed

    @property
    def gain(self) -> float:
        return self.trans_opened - self.trans_now

    @property
    def share(self) -> float:
        """Percent of the country's ProtConn[Trans] that the section carries (NaN if none)."""
        return 100.0 * self.drop / self.trans_now if self.trans_now > 0 else float("nan")


def _section_fence(section: Section) -> Fence:
    coords = np.asarray(section.line.coords)
    return Fence(f"closed:{section.section_id}", coords, 0.0, section.country_pair)


def fences_without_section(fences, openings, section: Section, tolerance: float):
    """Fences with the part along ``section`` removed; openings on removed parts dropped."""
    zone = section.line.buffer(tolerance, cap_style="flat")
    kept = []
    for fence in fences:
        rest = shapely.difference(shapely.LineString(fence.coords), zone)
        for k, part in enumerate(shapely.get_parts(rest)):
            if part.geom_type == "LineString" and part.length > 0:
                kept.append(
                    Fence(f"{fence.fence_id}#{k}", np.asarray(part.coords), fence.permeability,
                          fence.country_pair)
                )  # fmt: skip
    kept_openings = []
    for opening in openings:
        if shapely.intersects(zone, shapely.Point(opening.x, opening.y)):
            continue
        owner = next(
            (f for f in kept if f.fence_id.split("#")[0] == opening.fence_id
             and shapely.distance(shapely.LineString(f.coords), shapely.Point(opening.x, opening.y))
             <= tolerance), None,
        )  # fmt: skip
        if owner is not None:
            kept_openings.append(
                Opening(owner.fence_id, opening.x, opening.y, opening.width,
                        opening.permeability, opening.kind, opening.opening_id)
            )  # fmt: skip
    return kept, kept_openings


def section_shares(
    pa_geoms,
    countries: Mapping[str, object],
    sections: Sequence[Section],
    kernel: Kernel,
    *,
    landscape: Landscape | None = None,
    buffer: float,
    convention: Convention = Convention.SAURA,
    floor: float = DEFAULT_FLOOR,
    area_unit: float = 1e6,
    tolerance: float = 1000.0,
    progress=None,
) -> list[SectionShare]:
    """ProtConn[Trans] now, with each section closed and with its fence opened, per country.

    ``tolerance`` (m) is how far from a section a fence still counts as on it.
    """
    settings = {"buffer": buffer, "convention": convention, "floor": floor, "area_unit": area_unit}
    landscape = landscape or Landscape()
    cache: dict = {}
    now = {}
    shares = []
    for done, section in enumerate(sections):
        if progress is not None:
            progress("sections", done, len(sections))
        closed = landscape.with_fences(
            (*landscape.fences, _section_fence(section)), landscape.openings
        )
        opened = landscape.with_fences(
            *fences_without_section(landscape.fences, landscape.openings, section, tolerance)
        )
        for name in section.countries:
            if name not in countries:
                continue
            region = countries[name]
            if name not in now:
                now[name] = _protconn(pa_geoms, region, kernel, landscape, settings, cache)
            shut = _protconn(pa_geoms, region, kernel, closed, settings, cache)
            free = _protconn(pa_geoms, region, kernel, opened, settings, cache)
            shares.append(
                SectionShare(
                    section.section_id,
                    name,
                    now[name].protconn_trans_land,
                    shut.protconn_trans_land,
                    free.protconn_trans_land,
                    now[name].protconn,
                    shut.protconn,
                    free.protconn,
                )
            )
    return shares
