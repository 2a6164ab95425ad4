"""The hot path: layer views kept as ready bytes, and signed-in callers remembered briefly.

A layer view depends on the layer (name, id, version), the policy table and the caller's *policy
view*: the (role, country) pairs of their grants that carry the ``view`` verb. Nothing else about
the caller enters it, so a view is built from the policy view alone (:func:`viewer`) and cached
under exactly that key: two users with the same grants share bytes, two different grant sets never
do. Each entry holds the GeoJSON, its gzip and a strong ETag (a digest of the bytes).

The published layers, rasters and the policy are reread at most every ``ttl_s`` seconds
(:class:`Catalogue`); when any changed (a run imported, a policy row edited, possibly by another
process), every cached view and tile is dropped.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import defer

from crossings.service.db import SYSTEM, load_policy
from crossings.service.models import Layer, RasterLayer
from crossings.service.policy import Grant, PolicyTable, Principal

__all__ = [
    "CachedView",
    "Catalogue",
    "SessionCache",
    "ThreadLRU",
    "ViewCache",
    "policy_view",
    "viewer",
    "etag_matches",
]

PolicyView = frozenset[tuple[str, str]]


def policy_view(principal: Principal) -> PolicyView:
    """What decides a layer response for this caller: their (role, country) view grants."""
    return frozenset((g.role, g.country) for g in principal.grants if "view" in g.verbs)


def viewer(view: PolicyView) -> Principal:
    """An anonymous principal holding only ``view``: what a cached layer view is built for."""
    return Principal(grants=tuple(Grant(r, c, frozenset({"view"})) for r, c in sorted(view)))


@dataclass(frozen=True)
class CachedView:
    body: bytes
    gzipped: bytes
    etag: str
    levels: frozenset[str]  # sensitivity levels served (for the audit log)
    treatments: dict[str, int]

    @classmethod
    def of(
        cls, body: bytes, levels: frozenset[str], treatments: dict[str, int], *, zip_it=True
    ) -> CachedView:
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        zipped = gzip.compress(body, compresslevel=9, mtime=0) if zip_it else b""
        return cls(body, zipped, etag, levels, treatments)

    @property
    def gzip_etag(self) -> str:
        # Another content coding is another representation: its own strong ETag (RFC 9110 8.8.3).
        return self.etag[:-1] + '-gzip"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison of ``If-None-Match`` against our strong ETag."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False


class ViewCache:
    """At most ``max_entries`` views, least recently used dropped first; one build per key."""

    def __init__(self, max_entries: int = 256):
        self.max_entries = max_entries
        self.entries: OrderedDict[tuple, CachedView] = OrderedDict()
        self.building: dict[tuple, asyncio.Lock] = {}
        self.builds = 0  # how many views were built (tests check hits against it)

    async def get(self, key: tuple, build: Callable[[], Awaitable[CachedView]]) -> CachedView:
        found = self.entries.get(key)
        if found is not None:
            self.entries.move_to_end(key)
            return found
        # Callers of a key not yet built wait for the one build instead of each making it.
        lock = self.building.setdefault(key, asyncio.Lock())
        async with lock:
            found = self.entries.get(key)
            if found is None:
                found = await build()
                self.builds += 1
                self.entries[key] = found
                while len(self.entries) > self.max_entries:
                    self.entries.popitem(last=False)
        self.building.pop(key, None)
        return found

    def clear(self) -> None:
        self.entries.clear()


@dataclass(frozen=True)
class Published:
    layers: dict[str, Layer]  # detached rows by name
    rasters: dict[str, RasterLayer]  # detached rows without their data
    policy: PolicyTable
    fingerprint: tuple  # changes when any layer, raster or policy row changes


class Catalogue:
    """The published layers, rasters and policy table, reread from the database every ``ttl_s``.

    When any of them changed, every cache in ``caches`` (objects with ``clear()``) is emptied.
    """

    def __init__(self, factory, caches: list, ttl_s: float = 2.0):
        self.factory = factory
        self.caches = caches
        self.ttl_s = ttl_s
        self.loaded_at = -float("inf")
        self.current: Published | None = None

    @property
    def stale(self) -> bool:
        return self.current is None or time.monotonic() - self.loaded_at > self.ttl_s

    def get(self) -> Published:
        """The current snapshot, rereading it first if stale (blocking: call from a thread)."""
        if self.stale:
            self.reload()
        return self.current

    def reload(self) -> Published:
        with self.factory() as session:
            # Names and levels of every raster, to ask the policy; pixels are read per caller.
            session.info["grants"] = SYSTEM
            layers = {layer.name: layer for layer in session.scalars(select(Layer))}
            query = select(RasterLayer).options(defer(RasterLayer.data))
            rasters = {raster.name: raster for raster in session.scalars(query)}
            for row in (*layers.values(), *rasters.values()):
                session.expunge(row)
            policy = load_policy(session)
        fingerprint = (
            tuple(sorted((n, x.id, x.version) for n, x in layers.items())),
            tuple(sorted((n, x.id, x.version) for n, x in rasters.items())),
            tuple(sorted(policy.rows.items())),
        )
        if self.current is None or fingerprint != self.current.fingerprint:
            for cache in self.caches:
                cache.clear()
        self.current = Published(layers, rasters, policy, fingerprint)
        self.loaded_at = time.monotonic()
        return self.current

    def invalidate(self) -> None:
        """Forget everything now (after a change made by this process)."""
        self.loaded_at = -float("inf")
        for cache in self.caches:
            cache.clear()


class SessionCache:
    """Signed-in callers by the SHA-256 of their token, for ``ttl_s`` (never past the session).

    The token is always checked against the database first; this only spares the lookup for the
    next requests within ``ttl_s``. A sign-out in this process forgets the session at once; a
    sign-out or deactivation handled by another worker applies within ``ttl_s``.
    """

    def __init__(self, ttl_s: float = 2.0, max_entries: int = 10_000):
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.entries: dict[str, tuple[float, Principal]] = {}

    def get(self, digest: str) -> Principal | None:
        found = self.entries.get(digest)
        if found is None or found[0] < time.monotonic():
            self.entries.pop(digest, None)
            return None
        return found[1]

    def put(self, digest: str, principal: Principal, seconds_left: float) -> None:
        if len(self.entries) >= self.max_entries:
            self.entries.clear()
        self.entries[digest] = (time.monotonic() + min(self.ttl_s, seconds_left), principal)

    def forget(self, digest: str | None = None, session_id: int | None = None) -> None:
        for key, (_, who) in list(self.entries.items()):
            if key == digest or (session_id is not None and who.session_id == session_id):
                self.entries.pop(key, None)


class ThreadLRU:
    """A small least-recently-used map for values built in worker threads (raster views)."""

    def __init__(self, max_entries: int = 8):
        self.max_entries = max_entries
        self.entries: OrderedDict[tuple, object] = OrderedDict()
        self.lock = threading.Lock()

    def get_or_build(self, key: tuple, build: Callable[[], object]) -> object:
        with self.lock:
            if key in self.entries:
                self.entries.move_to_end(key)
                return self.entries[key]
            # Built under the lock: a view costs a reprojection, better made once than in parallel.
            value = self.entries[key] = build()
            while len(self.entries) > self.max_entries:
                self.entries.popitem(last=False)
            return value

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
