"""Omniscape windows against dense solves written from scratch, fences, and the tiled runner."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crossings.core import omniscape as om
from crossings.core.barriers import edge_factors, fence_edge_cuts
from crossings.core.fences import Fence, Opening
from crossings.core.grid import GridSpec
from crossings.scale.windows import run_tiles

RADIUS, BUFFER, BLOCK = 3, 1, 3


def _options(**extra):
    return om.OmniscapeOptions(
        radius=RADIUS, buffer=BUFFER, block_size=BLOCK, correct_artifacts=False, **extra
    )


def dense_window(conductance, sources, row, col):
    """Currents of one Omniscape window by a dense solve (independent of crossings.core)."""
    nrows, ncols = conductance.shape
    reach = RADIUS + BUFFER
    r0, r1 = max(row - reach, 0), min(row + reach, nrows - 1) + 1
    c0, c1 = max(col - reach, 0), min(col + reach, ncols - 1) + 1
    cells = [(r, c) for r in range(r0, r1) for c in range(c0, c1)]
    inside = {
        (r, c): math.hypot(r - row, c - col) <= reach and np.isfinite(conductance[r, c])
        for r, c in cells
    }
    nodes = [cell for cell in cells if inside[cell]]
    index = {cell: k for k, cell in enumerate(nodes)}
    lap = np.zeros((len(nodes), len(nodes)))
    edges = []
    for r, c in nodes:
        for dr, dc, scale in ((0, 1, 1), (1, 0, 1), (1, 1, 2**-0.5), (1, -1, 2**-0.5)):
            other = (r + dr, c + dc)
            if other in index:
                w = scale * (conductance[r, c] + conductance[other]) / 2
                i, j = index[(r, c)], index[other]
                lap[i, i] += w
                lap[j, j] += w
                lap[i, j] -= w
                lap[j, i] -= w
                edges.append((i, j, w))
    # Omniscape's sources: within RADIUS, minus the block at the window's nominal centre.
    strength = np.zeros(len(nodes))
    br = (BLOCK - 1) // 2
    for (r, c), k in index.items():
        lr, lc = r - r0, c - c0
        in_block = abs(lr - reach) <= br and abs(lc - reach) <= br
        if math.hypot(r - row, c - col) <= RADIUS and not in_block and sources[r, c] > 0:
            strength[k] = sources[r, c]
    amps = sources[row - br : row + br + 1, col - br : col + br + 1].sum()
    if strength.sum() > 0:
        strength *= amps / strength.sum()
    ground = index[(row, col)]
    keep = [k for k in range(len(nodes)) if k != ground]
    voltage = np.zeros(len(nodes))
    voltage[keep] = np.linalg.solve(lap[np.ix_(keep, keep)], strength[keep])
    inflow, outflow = np.zeros(len(nodes)), np.zeros(len(nodes))
    for i, j, w in edges:
        flow = w * (voltage[i] - voltage[j])
        outflow[i] += max(flow, 0)
        inflow[j] += max(flow, 0)
        outflow[j] += max(-flow, 0)
        inflow[i] += max(-flow, 0)
    current = np.zeros(conductance.shape)
    for (r, c), k in index.items():
        current[r, c] = max(inflow[k], outflow[k])
    return current


@pytest.fixture(scope="module")
def landscape():
    rng = np.random.default_rng(11)
    conductance = rng.uniform(0.2, 3.0, (16, 17))
    conductance[5, 6] = conductance[11, 2] = np.nan
    sources = np.where(rng.random((16, 17)) < 0.7, rng.uniform(0.1, 1.0, (16, 17)), 0.0)
    return conductance, sources


def test_each_window_equals_a_dense_solve(landscape):
    conductance, sources = landscape
    layers = om.OmniscapeLayers(conductance, sources)
    targets = om.find_targets(sources, BLOCK)
    assert len(targets) == 25
    for row, col, amps in zip(targets.row, targets.col, targets.amps, strict=True):
        window = om.solve_window(layers, _options(), int(row), int(col), float(amps))
        mine = np.zeros(conductance.shape)
        rows, cols = window.current.shape
        mine[window.row0 : window.row0 + rows, window.col0 : window.col0 + cols] = window.current
        expected = dense_window(conductance, sources, int(row), int(col))
        np.testing.assert_allclose(mine, expected, rtol=1e-7, atol=1e-9 * expected.max())


def test_map_equals_brute_force_loop(landscape):
    conductance, sources = landscape
    result = om.omniscape(om.OmniscapeLayers(conductance, sources), _options(mask_nodata=False))
    # Targets by hand: centres of the 3 x 3 blocks (rows 1..13, columns 1..13 step 3).
    brute = sum(
        dense_window(conductance, sources, r, c) for r in range(1, 14, 3) for c in range(1, 14, 3)
    )
    np.testing.assert_allclose(result.cumulative_current, brute, rtol=1e-7, atol=1e-9 * brute.max())


def test_tiles_sum_to_the_serial_map(landscape):
    conductance, sources = landscape
    layers = om.OmniscapeLayers(conductance, sources)
    whole = om.omniscape(layers, _options(calc_flow_potential=True))
    for tile_size in (3, 7):
        run = run_tiles(layers, _options(calc_flow_potential=True), tile_size=tile_size)
        done = om.finish(run.maps, ~np.isfinite(conductance), _options(calc_flow_potential=True), 0)
        np.testing.assert_allclose(done.cumulative_current, whole.cumulative_current, rtol=1e-12)
        np.testing.assert_allclose(done.flow_potential, whole.flow_potential, rtol=1e-12)


# ------------------------------------------------------------------------------ fences
GRID = GridSpec.from_origin(0, 21000, 1000, (21, 21), "EPSG:3857")
FENCE = Fence("f", [(11000, -1000), (11000, 22000)])  # between columns 10 and 11


def _fenced(openings=(), permeability=0.0):
    fence = Fence("f", FENCE.coords, permeability=permeability)
    cuts = fence_edge_cuts(GRID, [fence])
    factors = edge_factors(cuts, [fence], openings, cell_size=1000)
    return om.EdgeFactors(cuts.direction, cuts.row, cuts.col, factors)


def _fence_run(edge_factors):
    ones = np.ones(GRID.shape)
    layers = om.OmniscapeLayers(ones, ones, edge_factors=edge_factors)
    options = om.OmniscapeOptions(radius=4, block_size=3, correct_artifacts=False)
    return om.omniscape(layers, options).cumulative_current, layers, options


def test_closed_fence_stops_every_window_at_the_fence():
    _, layers, options = _fence_run(_fenced())
    targets = om.find_targets(layers.sources, 3)
    crossed = 0
    for row, col, amps in zip(targets.row, targets.col, targets.amps, strict=True):
        window = om.solve_window(layers, options, int(row), int(col), float(amps))
        columns = window.col0 + np.arange(window.current.shape[1])
        other_side = columns > 10 if col <= 10 else columns <= 10
        crossed += int(other_side.any())
        assert np.all(window.current[:, other_side] == 0)
    assert crossed > 0


def test_opening_restores_current_near_it_only():
    closed, _, _ = _fence_run(_fenced())
    opening = Opening("f", 11000, 10500, 1000)  # one cell wide, mid-fence (row 10)
    opened, _, _ = _fence_run(_fenced([opening]))
    plain, _, _ = _fence_run(om.EdgeFactors.none())
    assert opened[10, 10] > closed[10, 10] * 1.05
    assert opened[10, 11] > closed[10, 11] * 1.05
    far = np.abs(np.arange(21) - 10)[:, None] > 2 * 5  # beyond any window that holds the gap
    np.testing.assert_allclose(
        opened[np.broadcast_to(far, opened.shape)],
        closed[np.broadcast_to(far, closed.shape)],
        rtol=1e-12,
    )
    assert np.all(opened <= plain * (1 + 1e-9) + 1e-12) or opened.sum() < plain.sum()


def test_without_fences_equals_the_plain_raster_run():
    plain, _, _ = _fence_run(om.EdgeFactors.none())
    open_fence, _, _ = _fence_run(_fenced(permeability=1.0))
    np.testing.assert_array_equal(plain, open_fence)


# ------------------------------------------------------------------------------ beyond Omniscape
def test_separate_target_layer_solves_only_its_targets(landscape):
    conductance, sources = landscape
    targets = np.zeros(sources.shape)
    targets[6:9, 9:12] = 2.0  # one block: the target at (7, 10) with strength 18
    layers = om.OmniscapeLayers(conductance, sources, targets=targets)
    result = om.omniscape(layers, _options(mask_nodata=False))
    assert result.n_targets == 1
    window = om.solve_window(om.OmniscapeLayers(conductance, sources), _options(), 7, 10, 18.0)
    expected = om.empty_maps(conductance.shape, _options())
    om.accumulate(expected, window)
    np.testing.assert_allclose(result.cumulative_current, expected["current"], rtol=1e-12)


def test_distance_decay_moves_current_towards_the_target():
    ones = np.ones((21, 21))
    layers = om.OmniscapeLayers(ones, ones)
    plain = om.solve_window(layers, _options(), 10, 10, 9.0).current
    decay = om.DistanceDecay(om.DecayKernel.GAUSSIAN, 1.5)
    near = om.solve_window(layers, _options(decay=decay), 10, 10, 9.0).current
    centre = (RADIUS + BUFFER, RADIUS + BUFFER)
    # The ground takes the whole strength either way; far sources inject less with decay.
    assert plain[centre] == pytest.approx(9.0) and near[centre] == pytest.approx(9.0)
    assert near[centre[0], 0 + 1] < plain[centre[0], 0 + 1]
    far = om.DistanceDecay(om.DecayKernel.NEGATIVE_EXPONENTIAL, 1e12)
    np.testing.assert_allclose(
        om.solve_window(layers, _options(decay=far), 10, 10, 9.0).current, plain, rtol=1e-9
    )


def test_single_precision_maps_are_float32_and_close(landscape):
    conductance, sources = landscape
    single = om.omniscape(
        om.OmniscapeLayers(conductance.astype(np.float32), sources.astype(np.float32)),
        _options(precision=om.Precision.SINGLE),
    )
    double = om.omniscape(om.OmniscapeLayers(conductance, sources), _options())
    assert single.cumulative_current.dtype == np.float32
    np.testing.assert_allclose(
        single.cumulative_current, double.cumulative_current, rtol=1e-4, atol=1e-6
    )
