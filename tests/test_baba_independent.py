"""The fast vectorised steps against slow, direct computations with shapely (brute force)."""

import numpy as np
import pytest
import shapely
from baba_data import read_fences, read_tracks

from crossings.core.baba import (
    BabaConfig,
    FenceLayer,
    classify,
    count_crossings,
    encounter_mask,
    rank_fences,
)
from crossings.core.fences import Fence
from crossings.core.tracks import locate_crossings


@pytest.fixture(scope="module")
def wyoming():
    frame, fences = read_fences()
    return FenceLayer.from_fences(fences), frame.geometry.values, read_tracks("muleDeer")


def test_encounters_equal_points_in_union_of_buffers(wyoming):
    layer, features, deer = wyoming
    near = shapely.box(deer.x.min(), deer.y.min(), deer.x.max(), deer.y.max()).buffer(500)
    local = features[shapely.intersects(features, near)]
    union = shapely.union_all(shapely.buffer(local, 90, quad_segs=5))  # BaBA's own definition
    expected = shapely.intersects(shapely.points(deer.x, deer.y), union)
    np.testing.assert_array_equal(encounter_mask(deer.x, deer.y, layer, 90), expected)


def test_encounters_in_the_band_where_polygon_and_distance_differ():
    layer = FenceLayer.from_fences([Fence("f", [(0, 0), (1000, 0), (1000, 1000)])])
    rng = np.random.default_rng(7)
    # points around the round cap at (0, 0) and the outer corner, at 0.97 .. 1.01 d
    angle = rng.uniform(0, 2 * np.pi, 4000)
    radius = rng.uniform(0.97, 1.01, 4000) * 100
    centres = np.where(rng.random(4000)[:, None] < 0.5, [0.0, 0.0], [1000.0, 0.0])
    x = centres[:, 0] + radius * np.cos(angle)
    y = centres[:, 1] + radius * np.sin(angle)
    polygon = shapely.buffer(layer.geometries[0], 100, quad_segs=5)
    expected = shapely.intersects(shapely.points(x, y), polygon)
    assert 0 < (~expected & (radius < 100)).sum()  # the band exists and is exercised
    np.testing.assert_array_equal(encounter_mask(x, y, layer, 100), expected)


def test_crossing_counts_equal_brute_force(wyoming):
    layer, features, deer = wyoming
    rng = np.random.default_rng(3)
    starts = rng.integers(0, deer.n_fixes - 6, 300)
    lines = [np.column_stack([deer.x[s : s + 5], deer.y[s : s + 5]]) for s in starts]
    expected = []
    for coords in lines:
        line = shapely.LineString(coords)
        cut = shapely.intersection(line, features[shapely.intersects(line, features)])
        expected.append(len(shapely.get_coordinates(cut)))
    assert sum(expected) > 0
    np.testing.assert_array_equal(count_crossings(lines, layer), expected)


def test_ranking_equals_brute_force(wyoming):
    layer, _, deer = wyoming
    events = classify(deer, layer, BabaConfig(distance=90)).events
    ranking = rank_fences(events, layer, 90)
    points = shapely.points(events.easting, events.northing)
    for k, fence_id in enumerate(ranking.fence_id[:40]):
        geom = layer.geometries[layer.fence_ids == fence_id][0]
        near = shapely.distance(points, geom) <= 90
        assert ranking.total_enc[k] == near.sum()
        assert ranking.unique_ind[k] == len(set(events.animal_id[near]))
        assert ranking.class_counts["Bounce"][k] == np.sum(events.event_type[near] == "Bounce")
    raw = (
        (
            ranking.class_counts["Bounce"]
            + ranking.class_counts["Back_n_forth"]
            + ranking.class_counts["Trace"]
            + ranking.class_counts["Trapped"]
        )
        / ranking.total_enc
        * ranking.unique_ind
    )
    np.testing.assert_allclose(ranking.index, (raw - raw.min()) / (raw.max() - raw.min()))


def test_located_crossings_equal_brute_force(wyoming):
    layer, features, deer = wyoming
    crossings = locate_crossings(deer, layer)
    expected = 0
    for _name, rows in deer.individuals():
        xy = np.column_stack([deer.x[rows], deer.y[rows]])
        steps = shapely.linestrings(np.stack([xy[:-1], xy[1:]], axis=1))
        for k, f in zip(*shapely.STRtree(features).query(steps, predicate="crosses"), strict=True):
            expected += len(shapely.get_coordinates(shapely.intersection(steps[k], features[f])))
    assert len(crossings) == expected > 0
    index = {f: k for k, f in enumerate(layer.fence_ids)}
    fences = layer.geometries[[index[f] for f in crossings.fence_id]]
    on_fence = shapely.distance(shapely.points(crossings.x, crossings.y), fences)
    assert on_fence.max() < 1e-6
    assert np.all((crossings.time >= crossings.step_start) & (crossings.time <= crossings.step_end))


def test_ranking_min_total_enc_leaves_small_fences_unranked(wyoming):
    layer, _, deer = wyoming
    events = classify(deer, layer, BabaConfig(distance=90)).events
    ranking = rank_fences(events, layer, 90, min_total_enc=3)
    small = ranking.total_enc < 3
    assert small.any() and (~small).any()
    assert np.isnan(ranking.index[small]).all()
    assert np.nanmax(ranking.index) == 1.0 and np.nanmin(ranking.index) == 0.0
