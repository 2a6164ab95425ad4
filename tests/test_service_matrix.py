"""Role x layer x country: every response holds exactly what the policy allows, on both backends.

The expected treatment is restated here by hand from docs/service.md (not computed with the
service's PolicyTable), and the check runs on the raw bytes of each response: a secret property
of a feature the caller may not see exactly must never appear.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from pyproj import Transformer
from service_support import ALBERS, USERS, db_url, world  # noqa: F401
from sqlalchemy import select, text

from crossings.service.models import Feature, Layer

# (sensitivity, role, feature in one of the grant's countries) -> treatment
EXPECTED = {
    ("restricted", "border_agency", True): "exact",
    ("restricted", "nature_agency", True): "exact",
    ("restricted", "scientist", True): "exact",
    ("restricted", "border_agency", False): "g10",
    ("restricted", "nature_agency", False): "g10",
    ("restricted", "scientist", False): "g10",
    ("restricted", "public", True): "g10",
    ("restricted", "public", False): "g10",
    ("confidential", "border_agency", True): "exact",
    ("confidential", "nature_agency", True): "g1",
    ("confidential", "scientist", True): "g10",
}
ORDER = ["exact", "g1", "g10", "withheld"]
CALLERS = [None, *USERS]


def expected_treatment(user: str | None, level: str, country: str) -> str:
    if level == "public":
        return "exact"
    best = "withheld" if level == "confidential" else "g10"
    parts = set(country.split("-"))
    for role, grant_country, verbs in USERS.get(user, []):
        if "view" in verbs:
            got = EXPECTED.get((level, role, grant_country in parts), "withheld")
            best = min(best, got, key=ORDER.index)
    return best


def source_features(world):
    with world.factory() as session:
        session.info["grants"] = "*system*"
        rows = session.execute(
            select(
                Layer.name,
                Feature.id,
                Feature.sensitivity,
                Feature.country,
                Feature.properties,
                Feature.wkb,
            ).join(Layer, Layer.id == Feature.layer_id)
        ).all()
    return rows


def coordinates(geometry: dict) -> np.ndarray:
    flat = []

    def walk(c):
        if isinstance(c[0], (int, float)):
            flat.append(c[:2])
        else:
            for part in c:
                walk(part)

    walk(geometry["coordinates"])
    return np.array(flat, dtype=float)


def check_layer_reply(rows, user, layer, raw: str) -> None:
    """The raw GeoJSON of ``layer`` holds exactly what the policy gives ``user``."""
    import shapely

    to_albers = Transformer.from_crs("EPSG:4326", ALBERS, always_xy=True)
    served = json.loads(raw)["features"]
    mine = [r for r in rows if r[0] == layer]
    want = {r[1]: expected_treatment(user, r[2], r[3]) for r in mine}
    exact = [f for f in served if f["properties"]["treatment"] == "exact"]
    general = [f for f in served if f["properties"]["treatment"] == "generalised"]
    assert sorted(f["id"] for f in exact) == sorted(k for k, v in want.items() if v == "exact")
    for kind, km in (("g1", 1.0), ("g10", 10.0)):
        count = sum(f["properties"]["count"] for f in general if f["properties"]["grid_km"] == km)
        assert count == sum(v == kind for v in want.values()), (layer, user, kind)
    exact_coords = np.vstack([shapely.get_coordinates(shapely.from_wkb(r[5])) for r in mine])
    for f in general:
        assert "id" not in f
        xy = coordinates(f["geometry"])
        x, y = to_albers.transform(xy[:, 0], xy[:, 1])
        size = f["properties"]["grid_km"] * 1000
        # At a grid cell centre, and never one of the exact coordinates.
        for v in (np.array(x), np.array(y)):
            assert np.allclose((np.floor(v / size) + 0.5) * size, v, atol=0.5)
        assert not np.any(np.all(np.isclose(xy[:, None, :], exact_coords[None], atol=1e-7), -1))
    for r in mine:
        secret = r[4]["note"]
        if want[r[1]] != "exact":
            assert secret not in raw, (layer, user, secret)
            assert r[1] not in raw, (layer, user, "id leaked")


@pytest.mark.parametrize("user", CALLERS)
def test_every_layer_response_is_exactly_what_the_policy_allows(world, user):
    rows = source_features(world)
    for layer in {r[0] for r in rows}:
        reply = world.client.get(f"/api/layers/{layer}/features", headers=world.headers(user))
        assert reply.status_code == 200, reply.text
        check_layer_reply(rows, user, layer, reply.text)


def test_the_view_cache_never_serves_one_policy_view_to_another(world):
    """Every caller twice and more, in mixed orders and encodings, from a cold cache."""
    rows = source_features(world)
    layers = sorted({r[0] for r in rows})
    world.app.state.views.clear()
    builds = world.app.state.views.builds
    orders = [CALLERS, CALLERS[::-1], list(np.random.default_rng(7).permutation(CALLERS))]
    for turn, order in enumerate(orders):
        for i, user in enumerate(order):
            user = user or None
            for layer in layers:
                encoding = "gzip" if (turn + i) % 2 else "identity"
                headers = {**world.headers(user), "Accept-Encoding": encoding}
                reply = world.client.get(f"/api/layers/{layer}/features", headers=headers)
                assert reply.status_code == 200, reply.text
                assert reply.headers.get("content-encoding", "identity") == encoding
                check_layer_reply(rows, user, layer, reply.text)
    # Each (layer, policy view) was built once: the later passes were served from the cache.
    views = {frozenset((r, c) for r, c, v in USERS.get(u, []) if "view" in v) for u in CALLERS}
    assert world.app.state.views.builds - builds == len(views) * len(layers)


def test_an_etag_revalidates_only_the_callers_own_view(world):
    rows = source_features(world)
    layer = "openings"
    url = f"/api/layers/{layer}/features"
    first = {u: world.client.get(url, headers=world.headers(u)) for u in CALLERS}
    for holder in CALLERS:
        etag = first[holder].headers["etag"]
        for user in CALLERS:
            headers = {**world.headers(user), "If-None-Match": etag}
            reply = world.client.get(url, headers=headers)
            if first[user].content == first[holder].content:
                assert reply.status_code == 304 and reply.content == b""
            else:
                assert reply.status_code == 200, (holder, user)
                check_layer_reply(rows, user, layer, reply.text)
        assert first[holder].headers["cache-control"] == "private, no-cache"
        assert "Authorization" in first[holder].headers["vary"]


@pytest.mark.parametrize("user", CALLERS)
def test_single_feature_route_and_segment_panel_follow_the_policy(world, user):
    rows = source_features(world)
    for layer, feature_id, level, country, properties, _ in rows:
        reply = world.client.get(f"/api/features/{feature_id}", headers=world.headers(user))
        allowed = expected_treatment(user, level, country) == "exact"
        assert reply.status_code == (200 if allowed else 404), (user, layer, level, country)
        if not allowed:
            assert properties["note"] not in reply.text
    panel = world.client.get("/api/segments/F-1", headers=world.headers(user))
    assert panel.status_code == 200
    for r in rows:
        if r[4].get("fence_id") == "F-1" and expected_treatment(user, r[2], r[3]) != "exact":
            assert r[4]["note"] not in panel.text


def test_generalised_points_are_within_half_a_cell_diagonal(world):
    reply = world.client.get("/api/layers/crossings/features")
    to_albers = Transformer.from_crs("EPSG:4326", ALBERS, always_xy=True)
    served = [coordinates(f["geometry"])[0] for f in reply.json()["features"]]
    exact = [shapely_point(r[5]) for r in source_features(world) if r[0] == "crossings"]
    for lon, lat in exact:
        x, y = to_albers.transform(lon, lat)
        nearest = min(np.hypot(*(np.array(to_albers.transform(*s)) - (x, y))) for s in served)
        assert nearest <= 10_000 * np.sqrt(2) / 2 + 1  # within its cell


def shapely_point(wkb):
    import shapely

    point = shapely.from_wkb(wkb)
    return point.x, point.y


def test_row_level_security_hides_withheld_rows_from_plain_sql(world):
    if not world.url.startswith("postgresql"):
        pytest.skip("row-level security is a PostgreSQL feature; SQLite relies on the app's checks")
    rows = source_features(world)
    with world.factory() as session:
        session.info["grants"] = ""  # the anonymous public
        visible = session.execute(text("SELECT id FROM features")).scalars().all()
    expected = {r[1] for r in rows if expected_treatment(None, r[2], r[3]) != "withheld"}
    assert set(visible) == expected and len(expected) < len(rows)
    with world.factory() as session:
        session.info["grants"] = "border_agency:KAZ"
        visible = session.execute(text("SELECT id FROM features")).scalars().all()
    expected = {r[1] for r in rows if expected_treatment("border_kaz", r[2], r[3]) != "withheld"}
    assert set(visible) == expected


def test_restricted_table_is_whole_or_absent(world):
    assert world.client.get("/api/tables/pairs").status_code == 404
    reply = world.client.get("/api/tables/pairs", headers=world.headers("border_kaz"))
    # The table has no country: a restricted table is shown exactly to nobody, not even agencies.
    assert reply.status_code == 404
