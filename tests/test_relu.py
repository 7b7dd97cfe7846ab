"""Chapter 4's ReLU computations: the two-valley construction and the rate sweep."""

import math

import numpy as np
import pytest
import torch

from lecture_lib import sublevel
from lecture_lib.topics import relu, relu_rate


def test_the_two_minima_have_zero_loss_and_are_a_neuron_swap():
    E = relu.valley_energy()
    a, b = relu.valley_minima()
    assert E(torch.stack([a, b])).abs().max() == 0
    assert torch.equal(b, torch.tensor([-1.0, 1.0, 1.0, 1.0], dtype=torch.float64))


@pytest.mark.parametrize("n_in", [1, 3])
def test_every_crossing_of_a_neuron_sign_costs_half(n_in):
    """With w_11 = 0 the loss is at least 1/2, for random other parameters (the proof's bound)."""
    E = relu.valley_energy(n_in)
    g = torch.Generator().manual_seed(0)
    theta = 3 * torch.randn(2000, 2 * n_in + 2, generator=g, dtype=torch.float64)
    theta[:, 0] = 0.0  # first neuron's weight on e_1
    assert float(E(theta).min()) >= 0.5 - 1e-12


def test_the_slice_embeds_into_the_network_energy():
    E, S = relu.valley_energy(), relu.slice_energy()
    w = torch.tensor([[0.3, -0.7], [-1.0, 1.0]], dtype=torch.float64)
    expected = E(torch.tensor([[0.3, -0.7, 1.0, 1.0], [-1.0, 1.0, 1.0, 1.0]], dtype=torch.float64))
    assert torch.allclose(S(w), expected)


def test_slice_has_two_valleys_below_half_and_one_above():
    g = sublevel.grid(relu.slice_energy(), relu.SLICE_EXTENT, 81)
    assert sublevel.components(g, 0.45)[1] == 2
    assert sublevel.components(g, 0.55)[1] == 1


def test_valleys_experiment_finds_a_path_only_above_the_merge_level():
    v = relu.valleys((0.4, 0.6), resolution=81)
    assert v.grid_components == (2, 1)
    assert v.strings[0].connected is False and v.strings[1].connected is True
    assert v.strings[1].max_energy <= 0.6 * (1 + 1e-3)
    assert v.grid_merge_level == pytest.approx(relu.MERGE_LEVEL, abs=1e-9)
    assert v.band.max_energy >= relu.MERGE_LEVEL - 1e-9  # no path beats the proven bound


def test_fit_slopes_recovers_a_planted_power_law():
    widths = (4, 8, 16, 32)
    pts = [relu_rate.RatePoint(2, m, p, (0.0, 0.0), 0.0, 3.0 * m ** -0.5 * (1 + 0.01 * p), 1.0, None, None)
           for m in widths for p in range(3)]
    res = relu_rate.RateResult(tuple(pts), (2,), widths, 3, {}, "cpu", "")
    fit = relu_rate.fit_slopes(res)[2]
    assert fit.slope == pytest.approx(-0.5, abs=1e-9)
    assert fit.n_used == 12 and fit.n_floored == 0
    assert all(s == pytest.approx(-0.5, abs=1e-9) for s in fit.pair_slopes)


def test_rate_experiment_returns_one_point_per_pair_with_nonnegative_barriers():
    r = relu_rate.rate_experiment(n_ins=(1, 2), widths=(4, 8), n_pairs=1, n_samples=32, steps=40,
                             n_images=3, max_iter=10)
    assert len(r.points) == 4 and r.barriers(2).shape == (2, 1)
    for p in r.points:
        assert p.barrier >= 0 and p.level == pytest.approx(max(p.band.profile.energies[[0, -1]]).item())
        assert p.band.max_energy >= p.level
    assert "fitted slopes" in r.message


def test_rate_experiment_rejects_bad_settings_by_name():
    with pytest.raises(ValueError, match="n_pairs"):
        relu_rate.rate_experiment(n_pairs=0)
    with pytest.raises(ValueError, match="width"):
        relu_rate.rate_experiment(widths=(4, -1))


def test_full_settings_are_larger_than_the_default():
    small, full = relu_rate.rate_settings(False), relu_rate.rate_settings(True)
    assert len(full["widths"]) > len(small["widths"]) and len(full["n_ins"]) > len(small["n_ins"])
    assert full["n_pairs"] > small["n_pairs"]
    assert max(small["widths"]) / min(small["widths"]) >= 10


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_rate_experiment_runs_on_cuda():
    r = relu_rate.rate_experiment(n_ins=(2,), widths=(4, 8), n_pairs=1, n_samples=32, steps=20,
                                  n_images=3, max_iter=5, device="cuda")
    assert r.device == "cuda" and r.points[0].band.path.nodes.device.type == "cuda"
    assert all(p.barrier >= 0 for p in r.points)
