"""Tests of lecture_lib.surfaces: the documented structure is the true structure."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from lecture_lib import surfaces
from lecture_lib.surfaces import SURFACES


def _t(points, dtype=torch.float64):
    return torch.tensor(points, dtype=dtype)


def _grad_hess(energy, p):
    theta = _t([p]).requires_grad_(True)
    f = lambda t: energy(t[None]).squeeze(0)  # noqa: E731
    g = torch.autograd.functional.jacobian(f, theta[0])
    h = torch.autograd.functional.hessian(f, theta[0])
    return g.numpy(), h.numpy()


def _scale(s):
    lo, hi = s.level_range
    return max(abs(lo), abs(hi), 1.0)


@pytest.mark.parametrize("name", sorted(SURFACES))
def test_listed_values_are_the_energy_at_the_listed_points(name):
    s = SURFACES[name]
    for p, v in s.minima + s.saddles:
        assert float(s.energy(_t([p]))[0]) == pytest.approx(v, abs=1e-9 * _scale(s))


@pytest.mark.parametrize("name", sorted(SURFACES))
def test_minima_are_critical_with_positive_semidefinite_hessian(name):
    s = SURFACES[name]
    for p, _ in s.minima:
        g, h = _grad_hess(s.energy, p)
        assert np.linalg.norm(g) < 1e-8 * _scale(s)
        assert np.linalg.eigvalsh(h).min() >= -1e-9


@pytest.mark.parametrize("name", sorted(SURFACES))
def test_saddles_are_critical_with_indefinite_hessian(name):
    s = SURFACES[name]
    for p, _ in s.saddles:
        g, h = _grad_hess(s.energy, p)
        ev = np.linalg.eigvalsh(h)
        assert np.linalg.norm(g) < 1e-8 * _scale(s)
        assert ev[0] < 0 < ev[1]


@pytest.mark.parametrize("name", sorted(SURFACES))
def test_global_min_is_below_every_value_in_the_window(name):
    s = SURFACES[name]
    xs = np.linspace(s.extent[0], s.extent[1], 161)
    ys = np.linspace(s.extent[2], s.extent[3], 161)
    X, Y = np.meshgrid(xs, ys)
    vals = s.energy(_t(np.stack([X.ravel(), Y.ravel()], 1).tolist()))
    assert float(vals.min()) >= s.global_min - 1e-12
    assert s.minima[0][1] == pytest.approx(s.global_min)
    assert s.global_minimizers[0] == s.minima[0][0]


@pytest.mark.parametrize("name", sorted(SURFACES))
def test_critical_points_lie_inside_the_plotting_window(name):
    s = SURFACES[name]
    xmin, xmax, ymin, ymax = s.extent
    for (x, y), _ in s.minima + s.saddles:
        assert xmin < x < xmax and ymin < y < ymax


def test_muller_brown_matches_published_critical_points():
    s = surfaces.get("muller_brown")
    published_min = [((-0.558, 1.442), -146.70), ((0.623, 0.028), -108.17), ((-0.050, 0.467), -80.77)]
    published_sad = [((-0.822, 0.624), -40.66), ((0.212, 0.293), -72.25)]
    for (p, v), (q, w) in zip(s.minima + s.saddles, published_min + published_sad):
        assert np.allclose(p, q, atol=1e-3) and v == pytest.approx(w, abs=0.01)


def test_plateau_shelf_points_are_non_strict_local_minima():
    s = surfaces.get("plateau")
    rng = np.random.default_rng(0)
    for x0 in (-1.0, -0.7, -0.3, -0.05):
        pts = np.array([x0, 0.0]) + rng.uniform(-0.04, 0.04, size=(500, 2))
        assert float(s.energy(_t(pts.tolist())).min()) >= 0.0
        assert float(s.energy(_t([[x0, 0.0]]))[0]) == 0.0
    # x = 0 is not a local minimum: the well starts right there
    assert float(s.energy(_t([[1e-2, 0.0]]))[0]) < 0.0


def test_escape_channel_descends_without_critical_point_beyond_the_saddle():
    s = surfaces.get("escape_channel")
    x = torch.linspace(s.saddles[0][0][0] + 1e-3, 40.0, 2000, dtype=torch.float64)
    theta = torch.stack([x, torch.zeros_like(x)], 1).requires_grad_(True)
    e = s.energy(theta)
    (g,) = torch.autograd.grad(e.sum(), theta)
    assert bool((g[:, 0] < 0).all())  # strictly descending along the channel
    assert bool((e > 0).all()) and float(e[-1].detach()) < 1e-14  # infimum 0, never attained
    assert s.n_components(0.2) == 2 and s.has_spurious_valley(0.2)
    assert s.n_components(0.0) == 2 and not s.has_spurious_valley(-0.1)


@pytest.mark.parametrize("name", sorted(SURFACES))
def test_profile_and_spurious_levels_agree_with_the_critical_points(name):
    s = SURFACES[name]
    assert s.n_components(s.global_min - 1e-6) == 0
    assert s.n_components(s.global_min) == 1
    assert s.n_components(1e6) == 1
    for lo, hi in s.spurious_levels:
        assert s.has_spurious_valley(lo) and not s.has_spurious_valley(hi)
        assert s.n_components((lo + hi) / 2) >= 2


def test_notions_differ_both_ways_on_the_shipped_surfaces():
    plateau, channel = surfaces.get("plateau"), surfaces.get("escape_channel")
    assert len(plateau.minima) > 1 and not plateau.spurious_levels  # poor minima, no spurious valley
    assert len(channel.minima) == 1 and channel.spurious_levels  # spurious valley, no poor minimum


@pytest.mark.parametrize("name", sorted(SURFACES))
def test_energy_keeps_dtype_and_does_not_mutate_input(name):
    s = SURFACES[name]
    theta = _t([[0.1, 0.2], [-0.3, 0.4]], dtype=torch.float32)
    before = theta.clone()
    e = s.energy(theta)
    assert e.shape == (2,) and e.dtype == torch.float32
    assert torch.equal(theta, before)
    e64 = s.energy(theta.double())
    assert torch.allclose(e.double(), e64, rtol=1e-5, atol=1e-5 * _scale(s))


@pytest.mark.parametrize("name", sorted(SURFACES))
def test_vmap_of_grad_matches_autograd(name):
    s = SURFACES[name]
    theta = _t([[0.1, 0.2], [-0.3, 0.4], [0.5, -0.6]]).requires_grad_(True)
    (g_ref,) = torch.autograd.grad(s.energy(theta).sum(), theta)
    g = torch.func.vmap(torch.func.grad(lambda p: s.energy(p[None]).squeeze(0)))(theta.detach())
    assert torch.allclose(g, g_ref, atol=1e-10)


@pytest.mark.parametrize("bad", [torch.zeros(2), torch.zeros(3, 3), torch.zeros(2, 2, 2)])
def test_wrong_shape_raises_value_error(bad):
    with pytest.raises(ValueError, match=r"shape \(B, 2\)"):
        surfaces.bowl_energy(bad)


def test_non_tensor_and_integer_input_raise_type_error():
    with pytest.raises(TypeError, match="torch.Tensor"):
        surfaces.muller_brown_energy([[0.0, 0.0]])
    with pytest.raises(TypeError, match="floating dtype"):
        surfaces.plateau_energy(torch.zeros(1, 2, dtype=torch.int64))


def test_get_unknown_name_lists_the_choices():
    with pytest.raises(ValueError, match="muller_brown"):
        surfaces.get("rosenbrock")
    assert surfaces.get("bowl") is SURFACES["bowl"]


def test_surface_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        SURFACES["bowl"].global_min = -1.0


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", sorted(SURFACES))
def test_energy_runs_on_cuda_and_matches_cpu(name):
    s = SURFACES[name]
    theta = _t([[0.1, 0.2], [-0.3, 0.4]])
    e = s.energy(theta.cuda())
    assert e.device.type == "cuda"
    assert torch.allclose(e.cpu(), s.energy(theta), atol=1e-9 * _scale(s))


def test_escape_channel_saddle_is_one_plus_sqrt_two():
    s = surfaces.get("escape_channel")
    assert s.saddles[0][0][0] == pytest.approx(1 + math.sqrt(2))
    assert s.saddles[0][1] == pytest.approx((2 + 2 * math.sqrt(2)) * math.exp(-1 - math.sqrt(2)))
