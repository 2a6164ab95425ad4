"""Current maps as raster tiles: the policy per layer and sensitivity, like vector layers.

The map is a 1 km checkerboard of 0 and 1 (in the Albers CRS the jobs write): an exact tile shows
both colours of the ramp's ends; a tile coarsened to 10 km blocks averages every block to 0.5 and
shows only the ramp's middle colour. A withheld map's tiles are 404, like a missing map's.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image
from service_support import ALBERS, USERS, db_url, make_world  # noqa: F401
from sqlalchemy import text
from test_service_matrix import expected_treatment
from typer.testing import CliRunner

from crossings.cli import app as cli
from crossings.service.db import system_session
from crossings.service.publish import publish_run

CALLERS = [None, *USERS]
CELL_M, ROWS, COLS = 1000, 150, 200
NAME = "cum_current_fence_closed"


def checkerboard_run(folder, level: str, name: str = NAME) -> None:
    import rasterio
    from pyproj import Transformer

    folder.mkdir(parents=True)
    x0, y0 = Transformer.from_crs("EPSG:4326", ALBERS, always_xy=True).transform(57.0, 45.9)
    values = (np.add.outer(np.arange(ROWS), np.arange(COLS)) % 2).astype("float32")
    values[:10, :10] = np.nan  # a NoData corner
    transform = rasterio.transform.from_origin(
        round(x0, -4), round(y0, -4), CELL_M, CELL_M
    )  # block edges on the 10 km grid
    profile = dict(driver="GTiff", width=COLS, height=ROWS, count=1, dtype="float32")
    with rasterio.open(
        folder / f"{name}.tif", "w", crs=ALBERS, transform=transform, nodata=np.nan, **profile
    ) as out:
        out.write(values, 1)
    manifest = {"job": "connectivity", "sensitivity": {"level": level, "reason": "test"}}
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture(scope="module")
def world(db_url, tmp_path_factory):  # noqa: F811
    root = tmp_path_factory.mktemp("rasters")
    built = make_world(db_url, root / "vectors")
    checkerboard_run(root / "restricted", "restricted")
    checkerboard_run(root / "secret", "confidential", name="cum_current_secret")
    with system_session(built.factory) as session:
        publish_run(session, root / "restricted")
        publish_run(session, root / "secret")
    built.root = root
    yield built
    built.close()


def tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - np.arcsinh(np.tan(np.radians(lat))) / np.pi) / 2 * n)
    return x, y


def colours(png: bytes) -> set[tuple[int, ...]]:
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA")).reshape(-1, 4)
    return {tuple(p[:3]) for p in pixels if p[3] > 0}


def test_import_finds_the_current_maps_and_their_countries(world, tmp_path):
    with world.factory() as session:
        session.info["grants"] = "*system*"
        rows = session.execute(text("SELECT name, sensitivity, country FROM rasters")).all()
    assert sorted(rows) == [
        ("cum_current_fence_closed", "restricted", "KAZ-UZB"),
        ("cum_current_secret", "confidential", "KAZ-UZB"),
    ]
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    result = CliRunner().invoke(
        cli, ["serve", "import", str(world.root / "restricted"), "--db", url]
    )
    assert result.exit_code == 0, result.output
    assert f"raster {NAME}: {COLS} x {ROWS} cells" in result.output


@pytest.mark.parametrize("user", CALLERS)
def test_tiles_follow_the_policy_for_every_role(world, user):
    z = 9
    x, y = tile_xy(57.3, 45.6, z)
    headers = world.headers(user)
    listed = {r["name"]: r for r in world.client.get("/api/rasters", headers=headers).json()}
    for name, level in ((NAME, "restricted"), ("cum_current_secret", "confidential")):
        want = expected_treatment(user, level, "KAZ-UZB")
        reply = world.client.get(f"/api/rasters/{name}/tiles/{z}/{x}/{y}.png", headers=headers)
        if want == "withheld":
            assert name not in listed
            missing = world.client.get(f"/api/rasters/nothing/tiles/{z}/{x}/{y}.png")
            assert reply.status_code == 404 and reply.content == missing.content
            continue
        assert reply.status_code == 200 and reply.headers["content-type"] == "image/png"
        assert listed[name]["treatment"] == ("exact" if want == "exact" else "generalised")
        seen = colours(reply.content)
        if want == "exact":
            assert len(seen) == 2, (user, name)  # the two ends of the ramp: 1 km detail
        else:
            assert listed[name]["grid_km"] == {"g1": 1.0, "g10": 10.0}[want]
            # 1 km blocks of a 1 km checkerboard keep it; 10 km blocks average it away.
            assert len(seen) == (2 if want == "g1" else 1), (user, name, seen)


def test_the_tile_cache_keeps_views_apart_in_mixed_orders(world):
    z = 9
    x, y = tile_xy(57.5, 45.3, z)
    url = f"/api/rasters/{NAME}/tiles/{z}/{x}/{y}.png"
    world.app.state.tiles.clear()
    order = CALLERS + CALLERS[::-1] + list(np.random.default_rng(3).permutation(CALLERS))
    etags = {}
    for user in order:
        user = user or None
        reply = world.client.get(url, headers=world.headers(user))
        exact = expected_treatment(user, "restricted", "KAZ-UZB") == "exact"
        assert len(colours(reply.content)) == (2 if exact else 1), user
        etags[exact] = reply.headers["etag"]
    # An exact tile's ETag does not revalidate a generalised caller's tile, and vice versa.
    assert world.client.get(url, headers={"If-None-Match": etags[True]}).status_code == 200
    again = world.client.get(url, headers={"If-None-Match": etags[False]})
    assert again.status_code == 304


def test_tiles_outside_the_map_are_transparent_and_bad_tiles_404(world):
    reply = world.client.get(f"/api/rasters/{NAME}/tiles/9/0/0.png")
    assert reply.status_code == 200 and colours(reply.content) == set()
    assert world.client.get(f"/api/rasters/{NAME}/tiles/2/4/0.png").status_code == 404


def test_restricted_tile_reads_are_audited(world):
    z = 9
    x, y = tile_xy(57.3, 45.6, z)
    world.client.get(f"/api/rasters/{NAME}/tiles/{z}/{x}/{y}.png")
    log = world.client.get(
        "/api/audit", params={"action": "read_tile"}, headers=world.headers("admin_kaz")
    )
    assert any(e["target"] == f"{NAME}/{z}/{x}/{y}" for e in log.json())


def test_row_level_security_hides_withheld_rasters(world):
    if not world.url.startswith("postgresql"):
        pytest.skip("row-level security is a PostgreSQL feature; SQLite relies on the app's checks")
    with world.factory() as session:
        session.info["grants"] = ""  # the anonymous public
        names = session.execute(text("SELECT name FROM rasters")).scalars().all()
    assert names == [NAME]
