"""Quality control, bursts, openings and named sides on hand-built tracks."""

import numpy as np
import pytest
import shapely
from baba_data import read_fences, read_tracks

from crossings.core.baba import BabaConfig, classify
from crossings.core.fences import Fence
from crossings.core.passages import (
    Openings,
    SideAreas,
    name_sides,
    passages,
    passages_per_opening,
)
from crossings.core.track_qc import QCConfig, quality_control, step_flags
from crossings.core.tracks import FenceLayer, Tracks, locate_crossings

# A fence along y = 0 from x = -5 km to 5 km, broken at a 40 m gap around x = 0 (as fence
# layers are often drawn), digitised west to east: KAZ on the left (north), UZB south.
LAYER = FenceLayer.from_fences(
    [
        Fence("F1", [(-5000, 0), (-20, 0)], country_pair="KAZ-UZB"),
        Fence("F1", [(20, 0), (5000, 0)], country_pair="KAZ-UZB"),
    ]
)
GAP = Openings(np.array(["gap-0"]), np.array([shapely.Point(0, 0)]))
RAMP = Openings(
    np.array(["gap-0", "gate-3k"]),
    np.array([shapely.Point(0, 0), shapely.LineString([(2990, 0), (3010, 0)])]),
)


def _hourly(points, animal="a", start="2021-03-01T00:00"):
    t0 = np.datetime64(start, "s")
    return [(animal, t0 + np.timedelta64(3600 * k, "s"), x, y) for k, (x, y) in enumerate(points)]


def _field_track():
    """Hourly fixes walking east 100 m north of the fence, with every problem of a field file."""
    walk = [(-3000 + 100 * k, 100.0) for k in range(20)]
    walk[5] = (-2500.0, -4900.0)  # a spike: 5 km south across the fence and back within 2 h
    fixes = _hourly(walk)
    fixes.insert(9, ("a", fixes[8][1], -2150.0, 100.0))  # duplicate time of fix 8, other place
    # 244 days without a fix, then the collar resumes south of the fence
    later = np.datetime64("2021-11-01T00:00", "s")
    fixes += [
        ("a", later + np.timedelta64(3600 * k, "s"), 1000.0 + 100 * k, -100.0) for k in range(5)
    ]
    return Tracks.from_records(fixes, crs="EPSG:32641")


def test_qc_flags_exactly_the_duplicate_and_the_spike_and_splits_at_the_gap():
    tracks = _field_track()
    qc = quality_control(tracks)
    flagged = {int(r): str(qc.fix_flag[r]) for r in np.flatnonzero(qc.fix_flag != "ok")}
    spike_row = int(np.flatnonzero((tracks.x == -2500) & (tracks.y == -4900))[0])
    dup_row = int(np.flatnonzero(tracks.x == -2150)[0])
    assert flagged == {spike_row: "spike", dup_row: "duplicate"}
    assert qc.tracks.n_fixes == tracks.n_fixes - 2
    assert qc.tracks.burst.tolist() == [0] * 19 + [1] * 5
    row = dict(zip(qc.summary["animal_id"], range(1), strict=False))["a"]
    assert qc.summary["duplicates"][row] == 1
    assert qc.summary["spikes"][row] == 1
    assert qc.summary["gaps"][row] == 1 and qc.summary["bursts"][row] == 2
    gap = np.datetime64("2021-11-01T00:00") - np.datetime64("2021-03-01T19:00")
    assert qc.summary["longest_gap_hours"][row] == gap / np.timedelta64(1, "h")
    assert "1 duplicate" in qc.summary_line() and "2 burst(s)" in qc.summary_line()


def test_no_crossing_spans_the_gap_or_comes_from_the_spike():
    tracks = _field_track()
    raw = locate_crossings(tracks.subset(np.flatnonzero(tracks.x != -2150)), LAYER)
    # without QC: the spike crosses twice, the 244-day hole once (with an invented date)
    assert len(raw) == 3
    qc = quality_control(tracks)
    assert len(locate_crossings(qc.tracks, LAYER)) == 0
    kept = quality_control(tracks, QCConfig(keep_outliers=True))
    crossings = locate_crossings(kept.tracks, LAYER)
    flags = step_flags(kept, crossings.step_row)
    assert len(crossings) == 2 and all("outlier" in f for f in flags)


def test_a_crossing_next_to_a_gap_or_a_dropped_spike_is_flagged():
    fixes = _hourly([(0.0, 300), (0, 200), (0, 100), (2000, 6000), (0, -100), (0, -200)])
    later = np.datetime64("2021-06-01T00:00", "s")
    fixes += [("a", later, 500.0, -150.0), ("a", later + np.timedelta64(3600, "s"), 500, 150)]
    qc = quality_control(Tracks.from_records(fixes))
    crossings = passages(qc.tracks, LAYER, GAP, tolerance=30)
    flags = dict(zip(crossings.time.astype(str), step_flags(qc, crossings.step_row), strict=True))
    assert flags == {"2021-03-01T03:00:00": "near_outlier", "2021-06-01T00:30:00": "near_gap"}


def test_passage_through_a_gap_is_assigned_with_direction_and_sides():
    # south to north through the gap (no fence line cut), then north to south across the fence
    # 3 km east, next to the gate drawn as a line there
    fixes = _hourly([(5.0, -60), (-3, 55), (1500, 80), (2995, 60), (3004, -70)])
    crossings = passages(Tracks.from_records(fixes), LAYER, RAMP, tolerance=30)
    assert crossings.kind.tolist() == ["gap", "fence"]
    assert crossings.opening_id.tolist() == ["gap-0", "gate-3k"]
    assert crossings.direction.tolist() == ["from UZB to KAZ", "from KAZ to UZB"]
    assert crossings.fence_id.tolist() == ["F1", "F1"]
    # distances: the gap passage crosses y = 0 at x = 5 - 8 * 60/115; the gate is a line on it
    assert crossings.opening_distance[0] == pytest.approx(abs(5 - 8 * 60 / 115), abs=1e-9)
    assert crossings.opening_distance[1] == 0.0
    table = passages_per_opening(crossings)
    assert table["opening_id"].tolist() == ["gap-0", "gate-3k"]
    assert table["passages"].tolist() == [1, 1]
    assert table["month"].tolist() == ["2021-03", "2021-03"]


def test_a_crossing_beyond_the_tolerance_has_no_opening():
    fixes = _hourly([(1000.0, 50), (1000, -50)])
    crossings = passages(Tracks.from_records(fixes), LAYER, RAMP, tolerance=30)
    assert crossings.opening_id.tolist() == [""] and np.isnan(crossings.opening_distance[0])


def test_sides_are_named_by_polygons_where_fixes_lie_in_one():
    areas = SideAreas(
        np.array(["Kazakhstan", "Uzbekistan"]),
        np.array([shapely.box(-6000, 0, 6000, 6000), shapely.box(-6000, -6000, 0, 0)]),
    )
    fixes = _hourly([(-1000.0, 50), (-1000, -50), (1000, -50), (1000, 50)])
    crossings = name_sides(
        locate_crossings(Tracks.from_records(fixes), LAYER), Tracks.from_records(fixes), areas
    )
    assert crossings.from_side.tolist() == ["Kazakhstan", "UZB"]
    assert crossings.to_side.tolist() == ["Uzbekistan", "Kazakhstan"]


def test_baba_never_uses_a_fix_across_a_burst_boundary():
    """BaBA on a split track equals BaBA on its bursts given as separate animals."""
    _, fences = read_fences()
    layer = FenceLayer.from_fences(fences)
    tracks = read_tracks("pronghorn")
    one = tracks.subset(tracks.animal_id == "102_2014")
    drop = np.arange(1800, 1800 + 400)  # 800 h without fixes
    holed = one.subset(np.setdiff1d(np.arange(one.n_fixes), drop))
    qc = quality_control(holed)
    assert qc.tracks.burst.max() == 1
    split = classify(qc.tracks, layer, BabaConfig(distance=110)).events
    as_animals = Tracks(
        np.char.add(qc.tracks.animal_id, qc.tracks.burst.astype(str)),
        qc.tracks.time, qc.tracks.x, qc.tracks.y,
    )  # fmt: skip
    separate = classify(as_animals, layer, BabaConfig(distance=110)).events
    assert len(split) == len(separate) > 0
    np.testing.assert_array_equal(split.start_time, separate.start_time)
    np.testing.assert_array_equal(split.event_type, separate.event_type)
    np.testing.assert_array_equal(split.cross, separate.cross)
    np.testing.assert_allclose(split.str_mean, separate.str_mean, atol=1e-12)


def test_a_short_encounter_at_a_burst_end_is_not_padded_with_the_fix_after_the_gap():
    # two-hourly fixes towards the fence; the last fix before a 30-day hole is within 100 m of
    # it, and the collar resumes south of the fence
    fixes = [
        ("a", np.datetime64("2021-03-01T00:00") + np.timedelta64(2 * k, "h"), 1000.0, 900 - 200 * k)
        for k in range(5)
    ]
    later = np.datetime64("2021-04-01T00:00")
    fixes += [("a", later + np.timedelta64(2 * k, "h"), 1000.0, -900.0 - 200 * k) for k in range(5)]
    tracks = Tracks.from_records(fixes)
    config = BabaConfig(distance=150, interval=2)
    joined = classify(tracks, LAYER, config).events
    assert joined.event_type.tolist() == ["Quick_Cross"]  # padded with the fix 30 days later
    split = classify(quality_control(tracks).tracks, LAYER, config).events
    assert split.event_type.tolist() == ["unknown"]  # no fix after it within its burst
    assert split.burst_id.tolist() == ["a.burst1_0"]


def test_clean_reference_data_pass_qc_unchanged():
    _, fences = read_fences()
    tracks = read_tracks("pronghorn")
    qc = quality_control(tracks)
    assert (qc.fix_flag == "ok").all() and qc.tracks.burst.max() == 0
    before = classify(tracks, fences, BabaConfig(distance=110)).events
    after = classify(qc.tracks, fences, BabaConfig(distance=110)).events
    np.testing.assert_array_equal(before.burst_id, after.burst_id)
    np.testing.assert_array_equal(before.event_type, after.event_type)
