"""Tests of lecture_lib.linear_networks: the constructive path and the linear optimum."""

import numpy as np
import pytest
import torch

from lecture_lib.topics import linear_networks as ln
from lecture_lib.models import DeepLinear
from lecture_lib.paths import profile

WIDTHS = ([2, 3, 5], [3, 4, 2], [1, 2, 1], [3, 4, 4, 3], [2, 3, 3, 4, 2], [4, 5, 3, 2])


def _instance(widths, seed, degenerate=0):
    rng = np.random.default_rng(seed)
    X, Y = rng.normal(size=(25, widths[0])), rng.normal(size=(25, widths[-1]))
    A = [rng.normal(size=(o, i)) for i, o in zip(widths[:-1], widths[1:])]
    B = [rng.normal(size=(o, i)) for i, o in zip(widths[:-1], widths[1:])]
    if degenerate == 1:  # a zero first layer: product zero, every partial product rank 0
        A[0][:] = 0
    elif degenerate == 2:  # rank-deficient layers at both ends
        A[0][0] = 0
        B[-1][:, 0] = 0
    return X, Y, A, B


def _energies(nodes, widths, X, Y, ridge=0.0):
    E = ln.deep_linear_energy(torch.as_tensor(X), torch.as_tensor(Y), widths, ridge)
    return E(torch.as_tensor(nodes, dtype=torch.float64)).numpy()


def _products(nodes, widths):
    return np.stack([ln._prod(ln.unflat(th, widths)) for th in np.asarray(nodes)])


@pytest.mark.parametrize("widths", WIDTHS)
def test_path_starts_and_ends_exactly_at_the_endpoints(widths):
    _, _, A, B = _instance(widths, 0)
    p = ln.constructive_path(A, B, 101)
    assert torch.equal(p.nodes[0], torch.as_tensor(ln.flat(A)))
    assert torch.equal(p.nodes[-1], torch.as_tensor(ln.flat(B)))


@pytest.mark.parametrize("widths", WIDTHS)
def test_path_is_continuous(widths):
    _, _, A, B = _instance(widths, 1)
    ratios = []
    for n in (201, 801):
        p = ln.constructive_path(A, B, n)
        ratios.append(float(p.segment_lengths().max()) / p.length())
    assert ratios[1] < 0.02 and ratios[1] < ratios[0] / 2


@pytest.mark.parametrize("widths, factorization", [(w, "pseudoinverse") for w in WIDTHS]
                         + [(w, "balanced") for w in WIDTHS if len(w) == 3])
def test_product_is_constant_at_the_ends_and_straight_in_the_middle(widths, factorization):
    _, _, A, B = _instance(widths, 2)
    c = ln.construct_path(A, B, 301, factorization=factorization)
    P = _products(c.path.nodes, widths)  # (T, m, n)
    Wa, Wb = ln._prod(A), ln._prod(B)
    i, j = c.middle
    scale = max(np.abs(Wa).max(), np.abs(Wb).max())
    assert np.abs(P[:i + 1] - Wa).max() < 1e-9 * scale
    assert np.abs(P[j:] - Wb).max() < 1e-9 * scale
    D = (Wb - Wa).ravel()
    t = (P[i:j + 1] - Wa).reshape(j - i + 1, -1) @ D / (D @ D)  # position along the segment
    assert np.abs(P[i:j + 1] - (Wa + t[:, None, None] * (Wb - Wa))).max() < 1e-9 * scale
    assert t[0] == pytest.approx(0, abs=1e-12) and t[-1] == pytest.approx(1) and np.all(np.diff(t) > 0)
    assert set(c.phase[:i]) and all(name.startswith("a:") for name in c.phase[:i])


@pytest.mark.parametrize("widths", WIDTHS)
def test_energy_never_exceeds_the_larger_endpoint(widths):
    for seed in range(12):
        X, Y, A, B = _instance(widths, 10 + seed, degenerate=seed % 3)
        e = _energies(ln.constructive_path(A, B, 201).nodes, widths, X, Y)
        assert e.max() <= max(e[0], e[-1]) * (1 + 1e-9)


@pytest.mark.parametrize("widths", [[2, 3, 5], [3, 4, 2], [1, 2, 1], [3, 4, 3]])
def test_balanced_path_bounds_the_ridge_energy_for_every_lambda(widths):
    for seed in range(12):
        X, Y, A, B = _instance(widths, 40 + seed, degenerate=seed % 3)
        nodes = ln.constructive_path(A, B, 201, factorization="balanced").nodes
        for lam in (0.0, 0.01, 0.3, 3.0):
            e = _energies(nodes, widths, X, Y, lam)
            assert e.max() <= max(e[0], e[-1]) * (1 + 1e-9)


def test_pseudoinverse_path_is_not_enough_with_ridge():
    # The reason the ridge case needs its own argument: the plain factorization rises.
    rises = 0
    for seed in range(8):
        X, Y, A, B = _instance([2, 3, 2], 60 + seed)
        e = _energies(ln.constructive_path(A, B, 201).nodes, [2, 3, 2], X, Y, 1.0)
        rises += e.max() > max(e[0], e[-1]) * (1 + 1e-3)
    assert rises >= 4


def test_certified_profile_between_two_global_minima_is_flat():
    # Endpoints: two factorizations of the least-squares optimum, related by a GL(3) element
    # of negative determinant; the polygon's certified maximum stays at the minimum.
    rng = np.random.default_rng(3)
    X, Y = torch.as_tensor(rng.normal(size=(40, 2))), torch.as_tensor(rng.normal(size=(40, 2)))
    W = ln.reduced_rank_regression(X, Y, 2).weight.numpy()
    W1 = rng.normal(size=(3, 2))
    G = np.diag([1.0, 1.0, -1.0]) @ rng.normal(size=(3, 3))
    a, b = [W1, W @ np.linalg.pinv(W1)], [G @ W1, W @ np.linalg.pinv(W1) @ np.linalg.inv(G)]
    E = ln.deep_linear_energy(X, Y, [2, 3, 2])
    prof = profile(E, ln.constructive_path(a, b, 201), rtol=1e-6)
    e_min = ln.reduced_rank_regression(X, Y, 2).loss
    assert prof.max_energy <= e_min * (1 + 1e-6)


def test_width_condition_names_the_layer():
    A = [np.ones((4, 3)), np.ones((3, 4)), np.ones((5, 3))]
    with pytest.raises(ValueError, match="hidden layer 2 has width n_2 = 3"):
        ln.constructive_path(A, A, 51)


def test_unknown_factorization_lists_the_options():
    _, _, A, B = _instance([2, 3, 2], 0)
    with pytest.raises(ValueError, match="pseudoinverse.*balanced"):
        ln.constructive_path(A, B, factorization="svd")


def test_balanced_factorization_needs_two_layers():
    _, _, A, B = _instance([2, 3, 3, 2], 0)
    with pytest.raises(ValueError, match="two-layer"):
        ln.constructive_path(A, B, factorization="balanced")


def test_mismatched_widths_and_too_few_points_are_rejected():
    _, _, A, _ = _instance([2, 3, 2], 0)
    _, _, B, _ = _instance([2, 4, 2], 0)
    with pytest.raises(ValueError, match="widths"):
        ln.constructive_path(A, B)
    with pytest.raises(ValueError, match="n_points"):
        ln.constructive_path(A, _instance([2, 3, 2], 1)[3], 3)


def test_deep_linear_modules_are_accepted_and_left_unchanged():
    torch.manual_seed(0)
    a, b = DeepLinear([3, 4, 2]).double(), DeepLinear([3, 4, 2]).double()
    before = [W.detach().clone() for W in a.weights]
    p = ln.constructive_path(a, b, 61)
    assert p.nodes.dtype == torch.float64
    assert torch.equal(p.nodes[0], torch.nn.utils.parameters_to_vector(a.parameters()).detach())
    assert all(torch.equal(W, V) for W, V in zip(a.weights, before))


def test_rotation_log_exponentiates_back_even_with_eigenvalues_minus_one():
    rng = np.random.default_rng(5)
    Q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    Q = Q if np.linalg.det(Q) > 0 else Q @ np.diag([-1, 1, 1, 1, 1])
    R_pi = Q @ np.diag([-1.0, -1.0, 1.0, -1.0, -1.0]) @ Q.T  # two planes rotated by pi
    for R in (Q, R_pi, np.eye(5)):
        path = ln._rotation_path(R)(np.array([0.0, 0.5, 1.0]))
        assert np.allclose(path[0], np.eye(5)) and np.allclose(path[2], R, atol=1e-10)
        assert np.allclose(path[1] @ path[1].transpose(), np.eye(5), atol=1e-12)


def test_rotation_to_has_determinant_one_and_maps_the_frame():
    rng = np.random.default_rng(6)
    Q, _ = np.linalg.qr(rng.normal(size=(4, 3)))
    E = np.eye(4, 3)
    for A in (Q, Q @ np.diag([1.0, 1.0, -1.0])):  # both orientations of the same frame
        R = ln._rotation_to(A, E)
        assert np.isclose(np.linalg.det(R), 1.0) and np.allclose(R @ A, E, atol=1e-12)


def test_deep_linear_energy_matches_the_deep_linear_module():
    torch.manual_seed(1)
    net = DeepLinear([3, 4, 2], ridge=0.1).double()
    x, y = torch.randn(20, 3, dtype=torch.float64), torch.randn(20, 2, dtype=torch.float64)
    theta = torch.nn.utils.parameters_to_vector(net.parameters()).detach()[None]
    direct = (net(x) - y).square().sum(1).mean() + net.penalty()
    assert torch.allclose(ln.deep_linear_energy(x, y, [3, 4, 2], 0.1)(theta)[0], direct)


def test_reduced_rank_regression_is_the_rank_constrained_optimum():
    rng = np.random.default_rng(7)
    x, y = torch.as_tensor(rng.normal(size=(50, 4))), torch.as_tensor(rng.normal(size=(50, 3)))
    full = ln.reduced_rank_regression(x, y, 3)
    W_ls = torch.linalg.lstsq(x, y).solution.T
    assert torch.allclose(full.weight, W_ls) and np.isclose(full.loss, full.loss_ols)
    opt = ln.reduced_rank_regression(x, y, 1)
    assert torch.linalg.matrix_rank(opt.weight) == 1
    assert np.isclose(opt.loss, opt.critical_loss([0]))
    for _ in range(200):  # no rank-1 matrix near the optimum does better
        u, v = opt.weight + 0.05 * torch.as_tensor(rng.normal(size=(3, 4))), None
        U, s, Vt = torch.linalg.svd(u)
        W1 = s[0] * torch.outer(U[:, 0], Vt[0])
        assert float((x @ W1.T - y).square().sum(1).mean()) >= opt.loss - 1e-12


def test_kawaguchi_conditions_detect_a_repeated_eigenvalue():
    x = torch.eye(4, dtype=torch.float64).repeat(3, 1)
    assert ln.kawaguchi_conditions(x, x[:, :2] @ torch.diag(torch.tensor([2.0, 1.0], dtype=torch.float64))).hold
    bad = ln.kawaguchi_conditions(x, x[:, :2])
    assert not bad.hold and "repeated eigenvalue" in bad.message


@pytest.mark.parametrize("widths", [[3, 4, 2], [2, 3, 5], [3, 4, 4, 3]])
def test_with_the_energy_given_every_chord_stays_below_the_larger_endpoint(widths):
    # The curved connection runs at the lower endpoint, so the energy along the whole polygon
    # (not only at its nodes) is at most max(E(a), E(b)); without the energy it may exceed it.
    for seed in range(3):
        X, Y, A, B = _instance(widths, 80 + seed, degenerate=seed % 2)
        E = ln.deep_linear_energy(torch.as_tensor(X), torch.as_tensor(Y), widths)
        c = ln.construct_path(A, B, 201, energy=E)
        p = profile(E, c.path, n_points=2001, atol=1e-6)  # dense sampling of every chord
        e_a, e_b = (float(v) for v in E(c.path.nodes[[0, -1]]))
        assert p.max_energy <= max(e_a, e_b) * (1 + 1e-9)
        assert c.phase[0].startswith("a:") and c.phase[-1].startswith("b:")
        assert any("rotate frame" in name for name in c.phase if name.startswith("a:" if e_a < e_b else "b:"))


def _bottleneck_minima(seed, det_sign):
    rng = np.random.default_rng(seed)
    x, y = torch.as_tensor(rng.normal(size=(60, 5))), torch.as_tensor(rng.normal(size=(60, 4)))
    W = ln.reduced_rank_regression(x, y, 2).weight.numpy()  # (4, 5), rank 2
    U, s, Vt = np.linalg.svd(W)
    W2, W1 = U[:, :2] * np.sqrt(s[:2]), np.sqrt(s[:2])[:, None] * Vt[:2]
    G = rng.normal(size=(2, 2))
    G = G if np.sign(np.linalg.det(G)) == det_sign else G @ np.diag([1.0, -1.0])
    return x, y, [W1, W2], [G @ W1, W2 @ np.linalg.inv(G)]


def test_bottleneck_minima_of_the_same_orientation_are_joined_at_constant_energy():
    x, y, a, b = _bottleneck_minima(0, +1)
    c = ln.bottleneck_path(a, b, x, y, 101)
    e = ln.deep_linear_energy(x, y, [5, 2, 4])(c.path.nodes)
    assert torch.equal(c.path.nodes[0], torch.as_tensor(ln.flat(a))) and "same orientation" in c.message
    assert float(e.max() - e.min()) < 1e-9 * float(e.min())


def test_bottleneck_minima_of_opposite_orientations_cross_kawaguchis_saddle():
    x, y, a, b = _bottleneck_minima(1, -1)
    c = ln.bottleneck_path(a, b, x, y, 201)
    opt = ln.reduced_rank_regression(x, y, 2)
    E = ln.deep_linear_energy(x, y, [5, 2, 4])
    prof = profile(E, c.path, atol=1e-8)  # refined around the peak of the loop
    assert prof.max_energy - opt.loss == pytest.approx(opt.critical_loss([0, 2]) - opt.loss, rel=1e-6)
    assert torch.equal(c.path.nodes[-1], torch.as_tensor(ln.flat(b))) and "opposite" in c.message


def test_bottleneck_path_refuses_non_minima_and_wide_networks():
    x, y, a, b = _bottleneck_minima(2, +1)
    with pytest.raises(ValueError, match="b is not a global minimum"):
        ln.bottleneck_path(a, [b[0] + 0.1, b[1]], x, y)
    with pytest.raises(ValueError, match="r < min"):
        ln.bottleneck_path([np.ones((6, 5)), np.ones((4, 6))], [np.ones((6, 5)), np.ones((4, 6))], x, y)


def test_one_layer_path_is_the_straight_segment():
    A, B = [np.ones((2, 3))], [np.arange(6.0).reshape(2, 3)]
    p = ln.constructive_path(A, B, 11)
    t = torch.linspace(0, 1, 11, dtype=torch.float64)[:, None]
    assert torch.allclose(p.nodes, (1 - t) * torch.ones(6) + t * torch.arange(6.0))
