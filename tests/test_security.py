"""Audience rules: generalisation to a grid, withholding, and the record of what was done."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crossings.errors import ConfigError
from crossings.io.runlog import SENSITIVITY_LEVELS
from crossings.security import (
    AUDIENCES,
    PRECISION_CATEGORIES_M,
    RULES,
    ContentType,
    Ledger,
    block_mean,
    coordinate_uncertainty_m,
    decide,
    generalise_point,
    generalise_points,
    may_see,
    most_restrictive,
)

coordinates = st.floats(min_value=-3e6, max_value=3e6, allow_nan=False)


def test_audiences_are_the_runlog_levels_in_order():
    assert AUDIENCES == SENSITIVITY_LEVELS == ("public", "restricted", "confidential")
    assert may_see("restricted", "public") and may_see("restricted", "restricted")
    assert not may_see("restricted", "confidential") and not may_see("public", "restricted")


def test_most_restrictive_picks_the_narrowest_level():
    assert most_restrictive(["public", "restricted", "public"]) == "restricted"
    assert most_restrictive([]) == "public"


def test_unknown_level_is_a_config_error_with_a_suggestion():
    with pytest.raises(ConfigError, match="Did you mean 'restricted'"):
        decide(ContentType.OPENING_LOCATION, "restrictd")


@given(coordinates, coordinates, st.sampled_from(PRECISION_CATEGORIES_M))
def test_generalised_point_is_the_centre_of_the_cell_holding_it(x, y, grid):
    cx, cy = generalise_point(x, y, grid)
    assert abs(cx - x) <= grid / 2 + 1e-6 and abs(cy - y) <= grid / 2 + 1e-6
    # centres lie at odd multiples of half the grid, so the cell is all that is published
    assert math.isclose((cx / grid) % 1, 0.5, abs_tol=1e-6)
    assert generalise_point(cx, cy, grid) == (cx, cy)
    assert math.hypot(cx - x, cy - y) <= coordinate_uncertainty_m(grid)


def test_points_in_one_cell_become_the_same_point():
    xy = np.array([[10_001.0, 19_999.0], [19_999.0, 10_001.0], [25_000.0, 10_000.0]])
    out = generalise_points(xy, 10_000)
    assert out[0].tolist() == out[1].tolist() == [15_000.0, 15_000.0]
    assert out[2].tolist() == [25_000.0, 15_000.0]
    assert np.all(out == [generalise_point(x, y, 10_000) for x, y in xy])


@pytest.mark.parametrize("grid", [0, -5, float("nan"), float("inf")])
def test_bad_grid_is_refused(grid):
    with pytest.raises(ConfigError, match="grid"):
        generalise_point(1.0, 2.0, grid)


@pytest.mark.parametrize(
    "content, audience, action, grid",
    [
        (ContentType.OPENING_LOCATION, "confidential", "exact", None),
        (ContentType.OPENING_LOCATION, "restricted", "generalised", 1_000),
        (ContentType.OPENING_LOCATION, "public", "generalised", 10_000),
        (ContentType.CAMERA_LOCATION, "public", "generalised", 10_000),
        (ContentType.FENCE_INFRASTRUCTURE, "restricted", "withheld", None),
        (ContentType.FENCE_INFRASTRUCTURE, "public", "withheld", None),
        (ContentType.FENCE_LINE, "restricted", "exact", None),
        (ContentType.FENCE_LINE, "public", "generalised", 10_000),
        (ContentType.ANIMAL_LOCATION, "restricted", "generalised", 1_000),
        (ContentType.PERSON_IMAGE, "confidential", "withheld", None),
    ],
)
def test_rules_per_content_and_audience(content, audience, action, grid):
    decision = decide(content, audience)
    assert (decision.action, decision.grid_m) == (action, grid)
    assert decision.reason == RULES[content].reason


def test_every_rule_generalises_to_a_gbif_precision_category_and_states_a_reason():
    for rule in RULES.values():
        assert rule.reason
        for grid in rule.grid_m.values():
            assert grid is None or grid in PRECISION_CATEGORIES_M


def test_narrower_audiences_never_see_less_precisely():
    order = {"withheld": 0, "generalised": 1, "exact": 2}
    for content in ContentType:
        decisions = [decide(content, a) for a in AUDIENCES]
        ranks = [(order[d.action], -(d.grid_m or 0)) for d in decisions]
        assert ranks == sorted(ranks), content


def test_ledger_records_what_was_generalised_and_withheld():
    ledger = Ledger("public")
    xy = [[-830893.3, 199012.2], [-801841.2, 204263.8]]
    out = ledger.points(ContentType.OPENING_LOCATION, xy, subject="ranked openings")
    assert out.tolist() == [[-835000.0, 195000.0], [-805000.0, 205000.0]]
    assert ledger.points(ContentType.FENCE_INFRASTRUCTURE, [[0, 0]], subject="posts") is None
    assert not ledger.allows(ContentType.PERSON_IMAGE, subject="camera images", count=3)
    records = ledger.to_records()
    assert [(r["subject"], r["action"], r["count"]) for r in records] == [
        ("ranked openings", "generalised", 2),
        ("posts", "withheld", 1),
        ("camera images", "withheld", 3),
    ]
    assert records[0]["precision_published_m"] == 10_000
    assert records[0]["coordinate_uncertainty_m"] == 7072
    assert records[0]["precision_provided"] == "exact"


def test_exact_content_is_not_recorded():
    ledger = Ledger("confidential")
    xy = np.array([[1.5, 2.5]])
    assert ledger.points(ContentType.CAMERA_LOCATION, xy, subject="cameras").tolist() == [
        [1.5, 2.5]
    ]
    assert ledger.allows(ContentType.FENCE_INFRASTRUCTURE, subject="posts")
    assert ledger.entries == []


def test_block_mean_averages_blocks_and_keeps_nodata():
    values = np.arange(16, dtype=float).reshape(4, 4)
    values[3, 3] = np.nan
    out = block_mean(values, 2)
    assert out[0, 0] == out[1, 1] == np.mean([0, 1, 4, 5])
    assert out[2, 2] == pytest.approx(np.mean([10, 11, 14]))
    assert np.isnan(out[3, 3])
    assert block_mean(values[:3, :3], 2).shape == (3, 3)
    with pytest.raises(ConfigError):
        block_mean(values, 0)
