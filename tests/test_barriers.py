"""Tests of lecture_lib.topics.barriers: beta(M, N) and Yun-Sra-Jadbabaie's local minimum."""

import pytest
import torch
import torch.nn.functional as F

from lecture_lib import data
from lecture_lib.energy import model_energy
from lecture_lib.topics import barriers


def _planted(rank, N=4, n=150, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, N, generator=g, dtype=torch.float64)
    W = torch.randn(rank, N, generator=g, dtype=torch.float64)
    return x, ((x @ W.T) ** 2).sum(1)


def test_f_inverse_inverts_f_and_rounds_down():
    for q in range(1, 12):
        assert barriers.f_inverse(barriers.f(q)) == q
        assert barriers.f_inverse(barriers.f(q + 1) - 1) == q


def test_f_rejects_nonpositive_argument_by_name():
    with pytest.raises(ValueError, match="m"):
        barriers.f_inverse(0)


def test_beta_at_full_width_is_exact_least_squares():
    x, y = _planted(4)
    y = y + 0.1 * torch.randn(len(y), generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    r = barriers.beta(x, y, barriers.f(4))
    B, lower = barriers.least_squares_quadratic(x, y)
    assert r.exact and r.upper == pytest.approx(lower) and r.lower == pytest.approx(lower)
    assert lower < 0.02  # noise variance 0.01


def test_beta_finds_planted_rank_one_fit():
    x, y = _planted(1)
    r = barriers.beta(x, y, 1)
    assert r.q == 1 and not r.exact and r.upper < 1e-8
    assert torch.linalg.matrix_rank(r.B).item() == 1


def test_beta_bounds_are_ordered_and_decrease_to_min_energy():
    x, y = _planted(3, seed=1)
    ups = [barriers.beta(x, y, M).upper for M in (1, 3, 6, 10)]
    lower = barriers.beta(x, y, 10).lower
    assert all(u >= lower - 1e-12 for u in ups)
    assert ups[0] > ups[-1] and ups[-1] == pytest.approx(lower, abs=1e-9)


def _ysj(width=3, slopes=(1.0, 0.1)):
    ds = data.not_linearly_fittable(n=40, n_in=2, seed=0, dtype=torch.float64)
    return ds, barriers.linear_fit_minimum(ds.x_train, ds.y_train, width=width, slopes=slopes)


def test_linear_fit_point_has_the_affine_risk():
    ds, p = _ysj()
    assert p.risk == pytest.approx(ds.linear_optimum, rel=1e-9)
    assert p.risk == pytest.approx(p.linear_risk, rel=1e-9)


def test_no_descent_inside_the_certified_radius():
    ds, p = _ysj()
    E = model_energy(p.model, F.mse_loss, ds.x_train, ds.y_train)
    dirs = torch.randn(300, E.dim, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    excess = barriers.probe_minimum(E, p.theta, [0.3 * p.radius, 0.99 * p.radius], dirs)
    assert excess.min() >= -1e-12


def test_linear_fit_minimum_needs_two_units():
    ds = data.not_linearly_fittable(n=20, n_in=2, seed=0)
    with pytest.raises(ValueError, match="width"):
        barriers.linear_fit_minimum(ds.x_train, ds.y_train, width=1)


def test_kink_coefficients_are_opposite_and_match_the_risk():
    ds, p = _ysj()
    a, b, v = [0.7, -0.4], 0.2, 1.5
    c_plus, c_minus = barriers.kink_coefficients(ds.x_train, ds.y_train, (1.0, 0.1), a, b, v)
    assert c_plus == pytest.approx(-c_minus, rel=1e-9) and abs(c_plus) > 1e-3
    E = model_energy(p.model, F.mse_loss, ds.x_train, ds.y_train)
    th, d = barriers.kink_direction(p, 1, a, b, v)
    t = 1e-4
    fd = (E(torch.stack([th + t * d, th - t * d])) - E(th[None])) / t ** 2
    assert fd[0].item() == pytest.approx(c_plus, rel=1e-4)
    assert fd[1].item() == pytest.approx(c_minus, rel=1e-4)


def test_kink_coefficients_vanish_for_a_linear_activation():
    ds, _ = _ysj()
    c = barriers.kink_coefficients(ds.x_train, ds.y_train, (0.5, 0.5), [1.0, 0.3], -0.1, 2.0)
    assert abs(c[0]) < 1e-10 and abs(c[1]) < 1e-10


def test_trained_quadratic_nets_reach_min_energy_at_full_width():
    x, y = _planted(2, N=3, n=80, seed=2)
    losses = barriers.train_quadratic_nets(x, y, 6, 4, steps=600, lr=0.03)
    assert losses.min() < 1e-3


def test_best_psd_fit_recovers_a_planted_semidefinite_target():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(200, 4, generator=g, dtype=torch.float64)
    V = torch.randn(4, 2, generator=g, dtype=torch.float64)
    fit = barriers.best_psd_fit(x, barriers.quadratic_forms(x, V @ V.T))
    assert fit.rank == 2 and fit.loss < 1e-12
    torch.testing.assert_close(fit.B, V @ V.T, atol=1e-6, rtol=0)


def test_best_psd_fit_is_the_unconstrained_fit_restricted_to_the_cone():
    # target of inertia (2, 1): the PSD fit is worse than min E, no better than any other PSD B
    g = torch.Generator().manual_seed(4)
    x = torch.randn(300, 3, generator=g, dtype=torch.float64)
    y = barriers.quadratic_forms(x, torch.diag(torch.tensor([2.0, 1.0, -1.5], dtype=torch.float64)))
    fit = barriers.best_psd_fit(x, y)
    _, min_e = barriers.least_squares_quadratic(x, y)
    assert fit.kkt < 1e-8 and fit.loss > min_e + 1.0 and fit.rank == 2
    for _ in range(20):
        A = torch.randn(3, 3, generator=g, dtype=torch.float64)
        other = fit.B + 0.1 * A @ A.T
        assert float(((barriers.quadratic_forms(x, other) - y) ** 2).mean()) >= fit.loss


def test_positive_output_weights_at_the_psd_fit_are_a_local_minimum():
    # f(x) = sum_j u_j (w_j . x)^2 with u = 1 and W the PSD fit's factor (rows, padded with zeros)
    g = torch.Generator().manual_seed(5)
    x = torch.randn(300, 3, generator=g, dtype=torch.float64)
    y = barriers.quadratic_forms(x, torch.diag(torch.tensor([2.0, 1.0, -1.5], dtype=torch.float64)))
    fit = barriers.best_psd_fit(x, y)
    evals, evecs = torch.linalg.eigh(fit.B)
    W = torch.cat([(evecs * evals.clamp_min(0).sqrt()).T, torch.zeros(2, 3, dtype=torch.float64)])  # M = 5
    u = torch.ones(5, dtype=torch.float64)
    loss = lambda u, W: float(((((x @ W.T) ** 2) @ u - y) ** 2).mean())
    assert loss(u, W) == pytest.approx(fit.loss, rel=1e-9)
    for _ in range(50):
        du = 1e-3 * torch.randn(5, generator=g, dtype=torch.float64)
        dW = 1e-3 * torch.randn(5, 3, generator=g, dtype=torch.float64)
        assert loss(u + du, W + dW) >= fit.loss - 1e-12
