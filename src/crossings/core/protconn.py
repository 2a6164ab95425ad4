"""ECA, PC and ProtConn with its fractions (Saura et al. 2017, 2018), on sparse links.

Nodes carry an attribute ``a_i`` (an area); undirected links carry a distance ``d_ij``. A
negative-exponential :class:`Kernel` turns a distance into a direct-link probability
``p_ij = p0 ** (d_ij / d0)``; the best path probability ``p*_ij`` is the largest product of
``p`` along any path, found as a shortest path on ``-ln p`` (every node, including zero-attribute
stepping stones, can be an intermediate). Then::

    PCnum = sum_i sum_j a_i a_j p*_ij      (i = j included, p*_ii = 1)
    ECA = EC(PC) = sqrt(PCnum)             ProtConn = 100 ECA / A_L

Nothing here builds an n x n matrix: links are a sparse list, best paths are searched from one
block of sources at a time and only up to the cost where ``p*`` falls below ``floor``. Pairs
dropped by that floor change PCnum by at most ``floor * ((sum a)**2 - sum a**2)``; every result
reports that bound (:attr:`PCResult.pcnum_truncation_bound`).

The fractions of ProtConn follow Saura et al. 2017 by default (:attr:`Convention.SAURA`);
:attr:`Convention.MAKURHINI` reproduces the R package Makurhini's choices (foreign nodes weighted 1
in PCnum and ECA_design, ``Contig = 100 - Within``, Unprot floored at 0).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from crossings.errors import ConfigError

__all__ = [
    "DEFAULT_FLOOR",
    "Convention",
    "Kernel",
    "Links",
    "NodeImportance",
    "PCResult",
    "ProtConnResult",
    "node_importance",
    "pc",
    "protconn",
]

#: Best-path probabilities below this are treated as 0 (see the module docstring for the bound).
DEFAULT_FLOOR = 1e-6
#: Distances are searched in blocks of sources of at most this many (block x nodes) entries.
_BLOCK_ENTRIES = 4_000_000


class Convention(enum.Enum):
    """Which published definition of the ProtConn fractions to follow."""

    SAURA = "saura"
    MAKURHINI = "makurhini"


@dataclass(frozen=True)
class Kernel:
    """Negative-exponential dispersal kernel through one point: ``p(distance) = probability``.

    Attributes
    ----------
    distance : float
        The distance ``d0`` (metres, or the unit of the link distances; for resistance distances
        ohms) at which the direct-link probability is ``probability``. With the default 0.5 it is
        the median dispersal distance.
    probability : float
        ``p0`` in (0, 1).

    Examples
    --------
    >>> k = Kernel(10_000.0)
    >>> float(k.probability_at(20_000.0))
    0.25
    >>> round(k.distance_at(1e-6))
    199316
    """

    distance: float
    probability: float = 0.5

    def __post_init__(self):
        if not (math.isfinite(self.distance) and self.distance > 0):
            raise ConfigError(
                f"kernel distance must be > 0; got {self.distance!r}. Give the median dispersal "
                "distance in metres.",
                field="dispersal_distance",
            )
        if not 0 < self.probability < 1:
            raise ConfigError(
                f"kernel probability must be in (0, 1); got {self.probability!r}. Use 0.5 for "
                "the median dispersal distance.",
                field="probability",
            )

    @classmethod
    def from_home_range(cls, home_range_m2: float, probability: float = 0.5) -> Kernel:
        """Median dispersal distance ``7 * sqrt(home range)`` (Bowman, Jaeger & Fahrig 2002).

        >>> Kernel.from_home_range(1e6).distance
        7000.0
        """
        if not home_range_m2 > 0:
            raise ConfigError(
                f"home range must be > 0 m2; got {home_range_m2!r}.", field="home_range_m2"
            )
        return cls(7.0 * math.sqrt(home_range_m2), probability)

    @property
    def rate(self) -> float:
        """``-ln(p0) / d0``: the cost ``-ln p`` per unit distance."""
        return -math.log(self.probability) / self.distance

    def probability_at(self, distance):
        return np.exp(-self.rate * np.asarray(distance, dtype=float))

    def distance_at(self, probability: float) -> float:
        """The distance where the direct-link probability falls to ``probability``."""
        return -math.log(probability) / self.rate


@dataclass(frozen=True)
class Links:
    """Undirected links between nodes ``0..n-1``: ``distance`` between ``i`` and ``j``.

    Self links are dropped; a pair given twice keeps its shortest distance. A distance of 0 is a
    link with probability 1 (touching polygons), never a missing link.
    """

    i: np.ndarray
    j: np.ndarray
    distance: np.ndarray

    def __post_init__(self):
        i, j = np.asarray(self.i, np.int64).ravel(), np.asarray(self.j, np.int64).ravel()
        d = np.asarray(self.distance, float).ravel()
        if not (i.size == j.size == d.size):
            raise ConfigError("link arrays i, j and distance differ in length.", field="links")
        bad = ~np.isfinite(d) | (d < 0)
        if bad.any():
            k = int(np.argmax(bad))
            raise ConfigError(
                f"link {i[k]}-{j[k]} has distance {d[k]!r}; distances must be finite and >= 0 "
                "(leave unlinked pairs out).",
                field="distance",
            )
        lo, hi = np.minimum(i, j), np.maximum(i, j)
        keep = lo != hi
        lo, hi, d = lo[keep], hi[keep], d[keep]
        order = np.lexsort((d, hi, lo))
        lo, hi, d = lo[order], hi[order], d[order]
        first = np.r_[True, (np.diff(lo) != 0) | (np.diff(hi) != 0)][: lo.size]
        object.__setattr__(self, "i", lo[first])
        object.__setattr__(self, "j", hi[first])
        object.__setattr__(self, "distance", d[first])

    def __len__(self) -> int:
        return int(self.i.size)

    @classmethod
    def empty(cls) -> Links:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))

    def concat(self, other: Links) -> Links:
        return Links(
            np.r_[self.i, other.i], np.r_[self.j, other.j], np.r_[self.distance, other.distance]
        )

    def within(self, keep: np.ndarray) -> tuple[Links, np.ndarray]:
        """Links among the nodes where ``keep`` is True, renumbered; and the old->new map."""
        keep = np.asarray(keep, bool)
        new = np.full(keep.size, -1, np.int64)
        new[keep] = np.arange(int(keep.sum()))
        both = keep[self.i] & keep[self.j]
        return Links(new[self.i[both]], new[self.j[both]], self.distance[both]), new


def _cost_matrix(n: int, links: Links, kernel: Kernel, floor: float) -> sp.csr_matrix:
    """Symmetric CSR of ``-ln p`` for links with ``p >= floor``; zero costs stay stored edges."""
    cost = links.distance * kernel.rate
    keep = cost <= -math.log(floor)
    i, j, c = links.i[keep], links.j[keep], cost[keep]
    matrix = sp.csr_matrix((np.r_[c, c], (np.r_[i, j], np.r_[j, i])), shape=(n, n))
    return matrix


def _source_blocks(sources: np.ndarray, n: int):
    size = max(1, _BLOCK_ENTRIES // max(n, 1))
    for start in range(0, sources.size, size):
        yield sources[start : start + size]


def _best_paths(matrix, block, limit, predecessors=False):
    """Rows of ``p*`` from each source in ``block`` (0 beyond the floor)."""
    result = dijkstra(
        matrix, directed=False, indices=block, limit=limit, return_predecessors=predecessors
    )
    costs, pred = result if predecessors else (result, None)
    with np.errstate(over="ignore"):
        prob = np.exp(-costs)  # inf -> 0
    return prob, pred


def _check_floor(floor: float) -> None:
    if not 0 < floor < 1:
        raise ConfigError(
            f"probability floor must be in (0, 1); got {floor!r} (default {DEFAULT_FLOOR}).",
            field="floor",
        )


def _check_attributes(attributes) -> np.ndarray:
    a = np.asarray(attributes, dtype=float).ravel()
    bad = ~np.isfinite(a) | (a < 0)
    if bad.any():
        k = int(np.argmax(bad))
        raise ConfigError(
            f"node {k} has attribute {a[k]!r}; attributes must be finite and >= 0.",
            field="attribute",
        )
    return a


@dataclass(frozen=True)
class PCResult:
    """Overall indices of one graph, as Conefor prints them.

    Attributes
    ----------
    pcnum : float
        ``sum_i sum_j w_ij p*_ij`` (``w_ij = a_i a_j``, or 1 for pairs touching a
        ``weight_one`` node).
    eca : float
        ``sqrt(pcnum)`` (Conefor's EC(PC)).
    intra, direct, step : float
        Percent of PCnum from ``i = j``, from direct links and from stepping-stone paths.
    awf : float
        ``sum_{i != j} a_i a_j p_ij`` over direct links (ordered pairs).
    f : float
        ``sum_{i != j} p_ij`` over direct links (ordered pairs).
    n_nodes, n_links : int
        Links counted are those kept (probability at least ``floor``).
    floor : float
    pcnum_truncation_bound : float
        Upper bound on what the floor removed from pcnum.
    """

    pcnum: float
    eca: float
    intra: float
    direct: float
    step: float
    awf: float
    f: float
    n_nodes: int
    n_links: int
    floor: float
    pcnum_truncation_bound: float


def pc(
    attributes,
    links: Links,
    kernel: Kernel,
    *,
    floor: float = DEFAULT_FLOOR,
    weight_one=None,
) -> PCResult:
    """PCnum, EC(PC) and Conefor's overall fractions on a sparse graph.

    Parameters
    ----------
    attributes : array_like, shape (n,)
        Node attributes (areas); 0 marks a stepping stone.
    links : Links
        Undirected links with distances in the kernel's unit.
    kernel : Kernel
    floor : float
        Best paths with probability below it are dropped.
    weight_one : array_like of bool, optional
        Nodes whose pairs weigh 1 instead of ``a_i a_j`` (Makurhini's transboundary nodes).

    Examples
    --------
    Two unit-area nodes 10 km apart with p = 0.5 at 10 km: PCnum = 1 + 1 + 2 * 0.5.

    >>> r = pc([1.0, 1.0], Links([0], [1], [10_000.0]), Kernel(10_000.0))
    >>> r.pcnum, r.intra, r.direct, r.step
    (3.0, 66.66666666666667, 33.333333333333336, 0.0)
    """
    _check_floor(floor)
    a = _check_attributes(attributes)
    n = a.size
    if links.i.size and links.j.max() >= n:
        raise ConfigError(
            f"a link refers to node {int(links.j.max())} but there are {n} nodes.", field="links"
        )
    heavy = np.zeros(n, bool) if weight_one is None else np.asarray(weight_one, bool).ravel()
    matrix = _cost_matrix(n, links, kernel, floor)
    limit = -math.log(floor)
    sources = np.flatnonzero((a > 0) | heavy)
    pcnum = 0.0
    for block in _source_blocks(sources, n):
        prob, _ = _best_paths(matrix, block, limit)
        pcnum += float(a[block] @ (prob @ a))
        if heavy.any():
            pcnum += _weight_one_terms(prob, block, heavy)
    coo = matrix.tocoo()
    p_direct = np.exp(-coo.data)
    awf = float(np.sum(a[coo.row] * a[coo.col] * p_direct))
    intra = float(np.sum(a**2))
    total = float(a.sum())
    pcnum = max(pcnum, intra)
    return PCResult(
        pcnum=pcnum,
        eca=math.sqrt(pcnum),
        intra=_percent(intra, pcnum),
        direct=_percent(awf, pcnum),
        step=_percent(pcnum - intra - awf, pcnum),
        awf=awf,
        f=float(p_direct.sum()),
        n_nodes=n,
        n_links=len(coo.data) // 2,
        floor=floor,
        pcnum_truncation_bound=floor * max(total**2 - intra, 0.0),
    )


def _weight_one_terms(prob, block, heavy) -> float:
    """Makurhini's extra PCnum: pairs touching a weight-one node weigh 1, not ``a_i a_j``.

    Summed over the heavy sources only, by symmetry: each pair (heavy s, other t) counts for both
    orders, each pair of heavy nodes once per order as its own row.
    """
    rows = prob[heavy[block]]
    return float(2.0 * rows[:, ~heavy].sum() + rows[:, heavy].sum())


def _percent(part: float, whole: float) -> float:
    return 100.0 * part / whole if whole > 0 else math.nan


@dataclass(frozen=True)
class ProtConnResult:
    """ProtConn of one region and its fractions.

    Percentages of the region area A_L: ``prot``, ``protconn``, ``protunconn``,
    ``protunconn_design``, ``protconn_bound`` and the ``*_land`` fractions. Percentages of
    ProtConn: ``protconn_prot``, ``protconn_trans``, ``protconn_unprot``, ``protconn_within``,
    ``protconn_contig`` (they add up as ``prot + trans + unprot = 100``; under SAURA
    ``within + contig = prot``, under MAKURHINI ``within + contig = 100``). ``relconn`` is
    ``100 * protconn / prot``. Areas (``region_area``, ``protected_area``, ``eca*``) are in the
    unit of the node attributes. NaN where a value is undefined (e.g. no protected area).
    """

    convention: Convention
    region_area: float
    protected_area: float
    eca: float
    eca_national: float
    eca_design: float
    pcnum: float
    prot: float
    protconn: float
    protunconn: float
    relconn: float
    pc: float
    protconn_prot: float
    protconn_trans: float
    protconn_unprot: float
    protconn_within: float
    protconn_contig: float
    protunconn_design: float
    protconn_bound: float
    n_national: int
    n_foreign: int
    n_links: int
    floor: float
    pcnum_truncation_bound: float

    @property
    def protconn_trans_land(self) -> float:
        return self.protconn_trans * self.protconn / 100.0

    @property
    def protconn_unprot_land(self) -> float:
        return self.protconn_unprot * self.protconn / 100.0

    @property
    def protconn_within_land(self) -> float:
        return self.protconn_within * self.protconn / 100.0

    @property
    def protconn_contig_land(self) -> float:
        return self.protconn_contig * self.protconn / 100.0

    def as_dict(self) -> dict:
        """Every indicator by name (``convention`` as its string value)."""
        names = [f for f in self.__dataclass_fields__ if f != "convention"]
        out = {"convention": self.convention.value}
        out.update({name: getattr(self, name) for name in names})
        for name in ("trans", "unprot", "within", "contig"):
            out[f"protconn_{name}_land"] = getattr(self, f"protconn_{name}_land")
        return out


def protconn(
    national_areas,
    n_foreign: int,
    links: Links,
    kernel: Kernel,
    region_area: float,
    *,
    piece_areas=None,
    design_links: Links | None = None,
    n_design: int = 0,
    convention: Convention = Convention.SAURA,
    floor: float = DEFAULT_FLOOR,
) -> ProtConnResult:
    """ProtConn of a region from its national nodes, foreign stepping stones and links.

    Parameters
    ----------
    national_areas : array_like, shape (n_national,)
        Areas of the national nodes ``0..n_national-1``: the region's protected areas clipped
        to it, dissolved and split into single parts (touching PAs are one node).
    n_foreign : int
        Foreign PAs are nodes ``n_national..n_national+n_foreign-1``, with attribute 0.
    links : Links
        Links among national and foreign nodes.
    kernel : Kernel
    region_area : float
        A_L, in the unit of ``national_areas``.
    piece_areas : array_like, optional
        Areas of the undissolved PA pieces inside the region (for ProtConn[Within]); defaults to
        ``national_areas`` (no touching PAs: Contig = 0 under SAURA).
    design_links : Links, optional
        Links from the region's land parts (nodes after the foreign ones, ``n_design`` of them,
        attribute 0) to the other nodes: distance 0 where a land part holds a PA. Gives
        ECA_design, ProtUnconn[Design] and ProtConn[Bound] (Saura et al. 2018); NaN without.
    convention : Convention
    floor : float

    Examples
    --------
    Two national PAs of 1 km2, 10 km apart, in a 100 km2 country (kernel 0.5 at 10 km):
    ECA = sqrt(3) km2.

    >>> r = protconn([1.0, 1.0], 0, Links([0], [1], [10_000.0]), Kernel(10_000.0), 100.0)
    >>> round(r.protconn, 6), r.prot, round(r.protconn_unprot, 4)
    (1.732051, 2.0, 18.3503)
    """
    a_nat = _check_attributes(national_areas)
    n_nat = a_nat.size
    if region_area <= 0 or not math.isfinite(region_area):
        raise ConfigError(f"region area must be > 0; got {region_area!r}.", field="region_area")
    makurhini = convention is Convention.MAKURHINI
    n_all = n_nat + n_foreign
    attrs = np.r_[a_nat, np.zeros(n_foreign)]
    foreign = np.r_[np.zeros(n_nat, bool), np.ones(n_foreign, bool)]
    full = pc(attrs, links, kernel, floor=floor, weight_one=foreign if makurhini else None)
    national_links, _ = links.within(~foreign)
    nat = pc(a_nat, national_links, kernel, floor=floor)
    eca_design = math.nan
    if design_links is not None and n_design > 0:
        design_attrs = np.r_[attrs, np.zeros(n_design)]
        design_heavy = np.r_[foreign, np.ones(n_design, bool)] if makurhini else None
        design = pc(
            design_attrs, links.concat(design_links), kernel, floor=floor, weight_one=design_heavy
        )
        eca_design = design.eca
    surface = float(a_nat.sum())
    pieces = a_nat if piece_areas is None else _check_attributes(piece_areas)
    return _fractions(
        convention, region_area, surface, pieces, full, nat, eca_design, n_nat, n_foreign, n_all
    )


def _fractions(convention, area, surface, pieces, full, nat, eca_design, n_nat, n_foreign, n_all):
    makurhini = convention is Convention.MAKURHINI
    prot = 100.0 * surface / area
    if surface <= 0:
        nan = math.nan
        return ProtConnResult(
            convention, area, 0.0, 0.0, 0.0, nan, 0.0, 0.0, 0.0, 0.0, nan, 0.0,
            nan, nan, nan, nan, nan, nan, nan, 0, n_foreign, full.n_links, full.floor, 0.0,
        )  # fmt: skip
    eca = full.eca
    protconn_value = 100.0 * eca / area
    intra_dissolved = math.sqrt(nat.pcnum * nat.intra / 100.0)  # sqrt(sum a_i^2)
    frac_prot = 100.0 * intra_dissolved / eca
    frac_trans = max(100.0 * (eca - nat.eca) / eca, 0.0)
    frac_unprot = 100.0 - frac_prot - frac_trans
    if makurhini:
        frac_unprot = max(frac_unprot, 0.0)
    piece_sum = float(pieces.sum())
    within = 100.0 * math.sqrt(float(np.sum(pieces**2))) * math.sqrt(surface / piece_sum) / eca
    within = min(within, 100.0)
    contig = max(100.0 - within, 0.0) if makurhini else max(frac_prot - within, 0.0)
    design_value = 100.0 * eca_design / area - protconn_value
    return ProtConnResult(
        convention=convention,
        region_area=area,
        protected_area=surface,
        eca=eca,
        eca_national=nat.eca,
        eca_design=eca_design,
        pcnum=full.pcnum,
        prot=prot,
        protconn=protconn_value,
        protunconn=prot - protconn_value,
        relconn=100.0 * protconn_value / prot,
        pc=full.pcnum / area**2,
        protconn_prot=frac_prot,
        protconn_trans=frac_trans,
        protconn_unprot=frac_unprot,
        protconn_within=within,
        protconn_contig=contig,
        protunconn_design=design_value,
        protconn_bound=prot - design_value,
        n_national=n_nat,
        n_foreign=n_foreign,
        n_links=full.n_links,
        floor=full.floor,
        pcnum_truncation_bound=full.pcnum_truncation_bound,
    )


@dataclass(frozen=True)
class NodeImportance:
    """Per-node dPC (Saura & Rubio 2010), percent of PCnum.

    ``dpc = intra + flux + connector``: ``intra = a_k^2``, ``flux = 2 a_k sum_{j != k} a_j p*_kj``
    (the pairs the node starts or ends), ``connector`` the loss of the other pairs' best paths
    when the node is removed (stepping stones have only this part).
    """

    dpc: np.ndarray
    intra: np.ndarray
    flux: np.ndarray
    connector: np.ndarray


def node_importance(
    attributes, links: Links, kernel: Kernel, *, floor: float = DEFAULT_FLOOR
) -> NodeImportance:
    """dPC and its intra / flux / connector parts for every node.

    Only the sources whose best-path tree runs through node ``k`` are searched again without it,
    so nodes that are no stepping stone cost nothing beyond the first search.

    Examples
    --------
    Node 1 (attribute 0) is the only path between nodes 0 and 2:

    >>> imp = node_importance([1.0, 0.0, 1.0], Links([0, 1], [1, 2], [0.0, 0.0]), Kernel(1.0))
    >>> imp.connector.round(6).tolist(), imp.flux.round(6).tolist()
    ([0.0, 50.0, 0.0], [50.0, 0.0, 50.0])
    """
    _check_floor(floor)
    a = _check_attributes(attributes)
    n = a.size
    matrix = _cost_matrix(n, links, kernel, floor)
    limit = -math.log(floor)
    sources = np.flatnonzero(a > 0)
    row_value = np.zeros(n)  # sum_t a_t p*_st per source s
    flux_sum = np.zeros(n)  # sum_{t != k} a_t p*_kt
    users: dict[int, list[int]] = {}
    for block in _source_blocks(sources, n):
        prob, pred = _best_paths(matrix, block, limit, predecessors=True)
        row_value[block] = prob @ a
        flux_sum[block] = row_value[block] - a[block]
        for s, tree in zip(block, pred, strict=True):
            for k in np.unique(tree[(tree >= 0) & (tree != s)]):
                users.setdefault(int(k), []).append(int(s))
    pcnum = float(a @ row_value)
    intra = 100.0 * a**2 / pcnum
    flux = 100.0 * 2.0 * a * flux_sum / pcnum
    connector = np.zeros(n)
    for k, affected in users.items():
        connector[k] = 100.0 * _connector_loss(matrix, k, np.asarray(affected), a, limit) / pcnum
    return NodeImportance(intra + flux + connector, intra, flux, connector)


def _connector_loss(matrix, k, affected, a, limit) -> float:
    """``sum_{s in affected} a_s sum_{t != k} a_t (p*_st - p*_st without k)``."""
    without = _drop_node(matrix, k)
    before, _ = _best_paths(matrix, affected, limit)
    after, _ = _best_paths(without, affected, limit)
    weights = a.copy()
    weights[k] = 0.0
    return float(a[affected] @ ((before - after) @ weights))


def _drop_node(matrix: sp.csr_matrix, k: int) -> sp.csr_matrix:
    # Rebuilt from the stored entries, not by masking: zero costs are real edges and a product
    # with a mask would drop them.
    coo = matrix.tocoo()
    keep = (coo.row != k) & (coo.col != k)
    return sp.csr_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=matrix.shape)
