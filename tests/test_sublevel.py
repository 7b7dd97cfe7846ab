"""Tests of lecture_lib.sublevel against the known structure of the shipped surfaces."""

import math

import numpy as np
import pytest
import torch

from lecture_lib import sublevel, surfaces
from lecture_lib.surfaces import SURFACES

RES = 151


@pytest.fixture(scope="module")
def grids():
    return {name: sublevel.grid(s.energy, s.extent, RES) for name, s in SURFACES.items()}


@pytest.fixture(scope="module")
def trees(grids):
    return {name: sublevel.merge_tree(g) for name, g in grids.items()}


def ring(theta):  # (B, 2) -> (B,): sublevel sets are annuli around the unit circle
    return (torch.linalg.norm(theta, dim=1) - 1.0) ** 2


def _mid_levels(s):
    """Levels halfway between consecutive breakpoints of the known N_u profile."""
    starts = [lvl for lvl, _ in s.n_components_profile] + [s.level_range[1] + 1.0]
    return [((lo + hi) / 2, n) for (lo, n), hi in zip(s.n_components_profile, starts[1:])]


def test_grid_layout_rows_are_y_and_columns_are_x():
    g = sublevel.grid(lambda t: t[:, 0] + 10 * t[:, 1], (0, 1, 0, 2), (5, 3))
    assert g.values.shape == (3, 5)
    assert g.values[2, 4] == pytest.approx(g.x[4] + 10 * g.y[2]) == pytest.approx(21.0)
    assert g.dx == pytest.approx(0.25) and g.dy == pytest.approx(1.0)


def test_grid_chunks_agree_with_one_call():
    s = surfaces.get("muller_brown")
    g = sublevel.grid(s.energy, s.extent, 300)  # 90,000 points: two chunks
    X, Y = np.meshgrid(g.x, g.y)
    direct = s.energy(torch.tensor(np.stack([X.ravel(), Y.ravel()], 1))).numpy()
    assert np.array_equal(g.values.ravel(), direct)


def test_grid_index_and_point_round_trip():
    g = sublevel.grid(surfaces.bowl_energy, (-2, 2, -1, 1), (41, 21))
    assert g.index((0.0, 0.0)) == (10, 20)
    assert g.point(g.index((0.51, -0.49))) == pytest.approx((0.5, -0.5))
    assert g.contains((2.0, 1.0)) and not g.contains((2.01, 0.0))
    assert g.interpolate(g.values, (0.05, 0.0)) == pytest.approx(0.5 * 0.1**2)


def test_grid_non_finite_energy_names_count_and_place():
    with pytest.raises(ValueError, match=r"not finite at 10 of 100 grid points, e.g. at \(x, y\) = \(-1"):
        sublevel.grid(lambda t: torch.log(t[:, 0] + 0.9), (-1, 1, -1, 1), 10)


def test_grid_rejects_an_energy_of_the_wrong_output_shape():
    with pytest.raises(ValueError, match=r"map \(B, 2\) to \(B,\).*shape \(16, 1\)"):
        sublevel.grid(lambda t: t[:, :1], (0, 1, 0, 1), 4)


@pytest.mark.parametrize("extent, resolution, match", [
    ((0, 1, 0), 10, "extent"), ((1, 0, 0, 1), 10, "xmin < xmax"),
    ((0, 1, 0, 1), 1, "resolution"), ((0, 1, 0, 1), 10.5, "resolution"),
])
def test_grid_bad_arguments_raise(extent, resolution, match):
    with pytest.raises(ValueError, match=match):
        sublevel.grid(surfaces.bowl_energy, extent, resolution)


@pytest.mark.parametrize("name", sorted(SURFACES))
def test_component_counts_match_known_profile(name, grids):
    s, g = SURFACES[name], grids[name]
    for level, n in _mid_levels(s):
        if name == "escape_channel" and 0.0 < level < 0.087:
            continue  # the channel enters the window only from h(6) = 0.0868
        labels, count = sublevel.components(g, level)
        assert count == n, f"{name} at u = {level}"
        assert labels.shape == g.values.shape
        assert np.array_equal(labels > 0, g.values <= level) and labels.max() == count


def test_bowl_is_connected_at_every_level(grids):
    g = grids["bowl"]
    for level in np.linspace(0.01, 12.0, 40):
        assert sublevel.components(g, level)[1] == 1
    assert sublevel.components(g, -0.1)[1] == 0


@pytest.mark.parametrize("name", sorted(SURFACES))
def test_merge_tree_agrees_with_components_at_many_levels(name, grids, trees):
    g, tree = grids[name], trees[name]
    levels = np.concatenate([np.quantile(g.values, np.linspace(0, 1, 60)),
                             [b.level for b in tree.births], [m.level for m in tree.merges]])
    counts = tree.n_components(levels)
    for u, n in zip(levels, counts):
        assert n == sublevel.components(g, u)[1]
    assert tree.n_components(g.values.max()) == 1


@pytest.mark.parametrize("name", sorted(SURFACES))
def test_births_and_merges_sit_at_known_minima_and_saddles(name, trees):
    s, tree = SURFACES[name], trees[name]
    cell = (s.extent[1] - s.extent[0]) / (RES - 1) * 1.5
    inner = [b for b in tree.births if not b.on_boundary]
    strict_minima = [m for m in s.minima if name != "plateau" or m[1] < 0]
    assert len(inner) == len(strict_minima)
    for b, (p, v) in zip(inner, strict_minima):
        assert np.hypot(*np.subtract(b.point, p)) < 2 * cell
        assert v <= b.level <= v + 0.01 * max(1.0, abs(v))
    assert len(tree.merges) == len(s.saddles)
    for m in tree.merges:
        p, v = min(s.saddles, key=lambda sv: abs(sv[1] - m.level))
        assert np.hypot(*np.subtract(m.point, p)) < 2 * cell
        assert m.level == pytest.approx(v, abs=0.01 * max(1.0, abs(v)))


def test_muller_brown_merge_order_follows_the_elder_rule(trees):
    tree = trees["muller_brown"]
    (low, high) = sorted(tree.merges, key=lambda m: m.level)
    assert (low.survivor, low.absorbed) == (1, 2)  # C joins B first (saddle at -72.25)
    assert (high.survivor, high.absorbed) == (0, 1)  # then B + C join A (saddle at -40.66)
    assert tree.death_level(0) == math.inf and tree.death_level(2) == low.level


def test_n_components_rises_only_at_births_and_falls_only_at_merges(trees):
    tree = trees["muller_brown"]
    u = np.linspace(-150, 0, 3001)
    steps = np.diff(tree.n_components(u))
    b = np.array([x.level for x in tree.births])
    m = np.array([x.level for x in tree.merges])
    for k in np.flatnonzero(steps > 0):
        assert ((b > u[k]) & (b <= u[k + 1])).sum() == steps[k]
    for k in np.flatnonzero(steps < 0):
        assert ((m > u[k]) & (m <= u[k + 1])).sum() == -steps[k]


def test_truncated_channel_is_flagged_as_a_boundary_birth(trees):
    tree = trees["escape_channel"]
    edge = [b for b in tree.births if b.on_boundary]
    assert len(edge) == 1 and edge[0].point[0] == pytest.approx(6.0)
    assert edge[0].level == pytest.approx(35 * math.exp(-6), rel=1e-3)


def test_plateau_ties_leave_a_single_birth_even_when_the_shelf_is_on_the_grid():
    s = surfaces.get("plateau")
    g = sublevel.grid(s.energy, s.extent, (91, 61))  # y = 0 and x in [-1, 0] are grid nodes
    assert np.count_nonzero(g.values == 0.0) > 10
    tree = sublevel.merge_tree(g)
    assert len(tree.births) == 1 and tree.merges == ()


def test_spurious_labels_mark_valleys_without_global_minimum(grids):
    s, g = SURFACES["muller_brown"], grids["muller_brown"]
    for level, n_spur in [(-120.0, 0), (-100.0, 1), (-75.0, 2), (-60.0, 1), (-30.0, 0)]:
        labels, _ = sublevel.components(g, level)
        assert len(sublevel.spurious_labels(g, labels, s.global_minimizers)) == n_spur
        assert s.has_spurious_valley(level) == (n_spur > 0)


@pytest.mark.parametrize("resolution", [201, (301, 151)])
def test_geodesic_on_the_bowl_is_the_straight_segment(resolution):
    g = sublevel.grid(surfaces.bowl_energy, (-2, 2, -2, 2), resolution)
    for a, b in [((-1.0, 0.3), (1.0, -0.5)), ((0.2, 0.9), (-0.7, -0.8)), ((0.0, 0.0), (1.3, 0.0))]:
        exact = math.dist(a, b)
        assert sublevel.grid_geodesic(g, 3.5, a, b) == pytest.approx(exact, rel=0.02)


def test_geodesic_around_a_hole_is_tangent_plus_arc():
    g = sublevel.grid(ring, (-1.6, 1.6, -1.6, 1.6), 301)
    level, rho, r_in = 0.25, 1.0, 0.5  # Omega_u is the annulus 0.5 <= r <= 1.5
    for angle in (2.2, 2.7, 3.1):
        a, b = (rho, 0.0), (rho * math.cos(angle), rho * math.sin(angle))
        exact = 2 * math.sqrt(rho**2 - r_in**2) + r_in * (angle - 2 * math.acos(r_in / rho))
        assert rho * math.cos(angle / 2) < r_in  # the chord crosses the hole
        assert sublevel.grid_geodesic(g, level, a, b) == pytest.approx(exact, rel=0.02)


def test_geodesic_between_valleys_is_infinite(grids):
    s, g = SURFACES["tilted_double_well"], grids["tilted_double_well"]
    a, b = s.minima[0][0], s.minima[1][0]
    assert sublevel.grid_geodesic(g, 0.8, a, b) == math.inf
    # above the saddle the segment between the minima lies in Omega_u: the geodesic is straight
    assert sublevel.grid_geodesic(g, 1.2, a, b) == pytest.approx(math.dist(a, b), rel=0.02)


@pytest.mark.parametrize("a, b, level, match", [
    ((3.0, 0.0), (0.0, 0.0), 1.0, r"a = \(3, 0\) lies outside the grid extent"),
    ((0.0, 0.0), (0.0, -5.0), 1.0, "b = .* outside the grid extent"),
    ((1.5, 0.0), (0.0, 0.0), 1.0, r"outside Omega_u: E\(a\) = 2.25.* > level 1"),
    ((0.0, 0.0), (0.0, 1.0), 1.0, r"E\(b\) = 2"),
    ((float("nan"), 0.0), (0.0, 0.0), 1.0, "a must be finite"),
    ((0.0, 0.0, 0.0), (0.0, 0.0), 1.0, r"a must be a pair"),
    ((0.0, 0.0), (0.1, 0.0), float("inf"), "level must be a finite number, got inf"),
])
def test_geodesic_bad_input_raises_clear_errors(grids, a, b, level, match):
    with pytest.raises(ValueError, match=match):
        sublevel.grid_geodesic(grids["bowl"], level, a, b)


def test_geodesic_crosses_a_diagonal_only_link():
    # Two squares touching at one corner: 8-connected, so one valley with a finite geodesic.
    values = np.ones((6, 6))
    values[:3, :3] = values[3:, 3:] = 0.0
    g = sublevel.Grid(x=np.arange(6.0), y=np.arange(6.0), values=values, extent=(0, 5, 0, 5))
    assert sublevel.components(g, 0.5)[1] == 1
    assert sublevel.grid_geodesic(g, 0.5, (0.0, 0.0), (5.0, 5.0)) == pytest.approx(
        math.dist((0, 0), (5, 5)), rel=0.25)


def test_local_minima_find_the_plateau_shelf_only_without_strictness():
    s = surfaces.get("plateau")
    g = sublevel.grid(s.energy, s.extent, (91, 61))
    loose = sublevel.local_minima(g)
    strict = sublevel.local_minima(g, strict=True)
    assert len(strict) == 1 and strict[0][1] == pytest.approx(s.global_min, abs=1e-2)
    shelf = [p for p, v in loose if v > s.global_min + 0.1]
    assert len(shelf) >= 15 and all(-1.0 - 1e-9 <= x <= 0.0 and y == 0.0 for x, y in shelf)


def test_local_minima_interior_drops_the_truncated_channel(grids):
    g = grids["escape_channel"]
    assert len(sublevel.local_minima(g, strict=True)) == 1
    edge = sublevel.local_minima(g, strict=True, interior=False)
    assert len(edge) == 2 and edge[1][0][0] == pytest.approx(6.0)


@pytest.mark.parametrize("name", sorted(SURFACES))
def test_spurious_intervals_of_the_tree_match_the_known_levels(name, trees):
    s, found = SURFACES[name], trees[name].spurious_intervals()
    assert len(found) == len(s.spurious_levels)
    for (lo, hi), (klo, khi) in zip(found, s.spurious_levels):
        if name == "escape_channel":
            klo = 35 * math.exp(-6)  # in the window the channel starts at h(6)
        assert lo == pytest.approx(klo, abs=0.01 * max(1, abs(klo)))
        assert hi == pytest.approx(khi, abs=0.01 * max(1, abs(khi)))


def test_grid_evaluates_with_the_requested_dtype_without_autograd():
    seen = []

    def spy(theta):
        seen.append((theta.dtype, torch.is_grad_enabled()))
        return surfaces.bowl_energy(theta)

    g = sublevel.grid(spy, (-1, 1, -1, 1), 11, dtype=torch.float32)
    assert seen == [(torch.float32, False)] and g.values.dtype == np.float64


def test_geodesic_from_a_point_to_itself_is_zero(grids):
    g = grids["bowl"]
    for a in ((0.0, 0.0), (0.3, -0.2), (g.x[RES // 2 + 3], g.y[RES // 2 - 2])):  # on and off nodes
        assert sublevel.grid_geodesic(g, 1.0, a, a) == 0.0
    a, b = (0.3, -0.2), (0.3 + 0.5 * g.dx, -0.2)  # closer than the grid can resolve
    assert sublevel.grid_geodesic(g, 1.0, a, b) == pytest.approx(0.5 * g.dx, rel=1e-12)


def test_n_components_refuses_a_level_that_is_not_finite(trees):
    tree = trees["tilted_double_well"]
    for bad in (float("nan"), np.array([0.0, float("nan")]), torch.tensor(float("inf"))):
        with pytest.raises(ValueError, match="level must be finite"):
            tree.n_components(bad)
    assert tree.n_components(torch.tensor(0.6)) == tree.n_components(0.6) == 2


@pytest.mark.parametrize("resolution", [torch.tensor(5), np.int64(5), 5.0, (5, 5), np.array([5, 5]),
                                        torch.tensor([5, 5])])
def test_grid_accepts_integer_resolutions_in_any_form(resolution):
    g = sublevel.grid(surfaces.bowl_energy, (-1, 1, -1, 1), resolution)
    assert g.values.shape == (5, 5)


@pytest.mark.parametrize("resolution, problem", [
    ((3,), r"pair \(nx, ny\) of them, got 1 values \(3,\)"),
    ((3, 4, 5), "got 3 values"),
    (1, "resolution must be an integer >= 2, got 1"),
    (2.5, "resolution must be an integer >= 2, got 2.5"),
    ((4, 1.5), r"resolution\[1\] \(ny\) must be an integer >= 2, got 1.5"),
    ("10", "resolution must be an integer >= 2, got str"),
])
def test_grid_refuses_bad_resolutions_with_clear_errors(resolution, problem):
    with pytest.raises((ValueError, TypeError), match=problem):
        sublevel.grid(surfaces.bowl_energy, (-1, 1, -1, 1), resolution)


@pytest.mark.parametrize("extent", [None, (0, 1, 0), (0, "a", 0, 1), 3.0])
def test_grid_refuses_an_extent_that_is_not_four_numbers(extent):
    with pytest.raises(ValueError, match=r"extent must be four numbers \(xmin, xmax, ymin, ymax\)"):
        sublevel.grid(surfaces.bowl_energy, extent, 5)


def test_grid_refuses_a_huge_resolution_before_allocating():
    calls = []

    def spy(theta):
        calls.append(theta.shape)
        return surfaces.bowl_energy(theta)

    with pytest.raises(ValueError, match=r"1000000 x 1000000 = 1,000,000,000,000 grid points, "
                                         r"more than max_points=16,777,216"):
        sublevel.grid(spy, (-1, 1, -1, 1), 1_000_000)
    with pytest.raises(ValueError, match="more than max_points=100"):
        sublevel.grid(spy, (-1, 1, -1, 1), 11, max_points=100)
    assert calls == [] and sublevel.grid(spy, (-1, 1, -1, 1), 10, max_points=100).values.shape == (10, 10)


def test_a_complex_valued_energy_is_refused():
    def complex_energy(theta):
        return (theta[:, 0] + 1j * theta[:, 1]) ** 2

    with pytest.raises(ValueError, match="complex values; an energy is real"):
        sublevel.grid(complex_energy, (-1, 1, -1, 1), 5)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_grid_on_cuda_matches_cpu():
    s = surfaces.get("muller_brown")
    cpu = sublevel.grid(s.energy, s.extent, 300)
    gpu = sublevel.grid(s.energy, s.extent, 300, device="cuda")
    assert np.allclose(cpu.values, gpu.values, rtol=1e-12, atol=1e-9)
