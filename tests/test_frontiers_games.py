"""Games (Balduzzi et al. 2018): the Jacobian split, the sign rule, and the known dynamics of
simultaneous descent and symplectic gradient adjustment on quadratic games."""

import math

import pytest
import torch

from lecture_lib.frontiers import games

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


T0 = torch.tensor([[1.0, 2.0], [-0.5, 0.3]], dtype=torch.float64)


def test_simultaneous_gradient_of_the_quadratic_game_is_each_players_own_derivative():
    g = games.quadratic_game(1.5, -2.0)
    x, y = T0[:, 0], T0[:, 1]
    expected = torch.stack([1.5 * x - 2.0 * y, 1.5 * y + 2.0 * x], 1)
    assert torch.allclose(games.simultaneous_gradient(g, T0), expected)


def test_jacobian_splits_into_potential_a_identity_and_hamiltonian_b_rotation():
    a, b = 0.7, 3.0
    J = games.jacobian(games.quadratic_game(a, b), T0)
    S, A = games.decompose(J)
    assert torch.allclose(S, a * torch.eye(2, dtype=torch.float64).expand(2, 2, 2))
    assert torch.allclose(A, torch.tensor([[0.0, b], [-b, 0.0]], dtype=torch.float64).expand(2, 2, 2))


def test_decompose_is_symmetric_plus_antisymmetric_and_sums_to_J():
    J = torch.randn(4, 5, 5, generator=torch.Generator().manual_seed(0))
    S, A = games.decompose(J)
    assert torch.allclose(S, S.transpose(-1, -2)) and torch.allclose(A, -A.transpose(-1, -2))
    assert torch.allclose(S + A, J)
    with pytest.raises(ValueError, match="square"):
        games.decompose(torch.zeros(2, 3))


def test_simultaneous_descent_on_the_bilinear_game_grows_by_sqrt_one_plus_lr_squared_per_step():
    lr, steps = 0.1, 50
    traj = games.run(games.bilinear(), T0, lr=lr, steps=steps)
    ratio = traj.distance[-1] / traj.distance[0]
    assert torch.allclose(ratio, torch.full((2,), (1 + lr**2) ** (steps / 2), dtype=torch.float64))
    assert not traj.converged.any()


def test_sga_converges_on_the_bilinear_game_where_plain_descent_diverges():
    traj = games.run(games.bilinear(), T0, method="sga", lr=0.1, lam=1.0, steps=200)
    assert traj.converged.all() and (traj.lams == 1.0).all()  # the sign rule keeps lambda > 0 here


def test_mixed_game_of_balduzzi_diverges_under_plain_descent_and_converges_with_sga():
    g = games.quadratic_game(1.0, 10.0)
    plain = games.run(g, T0, lr=0.032, steps=300)
    sga = games.run(g, T0, method="sga", lr=0.032, lam=0.01, steps=500)
    assert (plain.distance[-1] > plain.distance[0]).all()  # |1 - lr (1 + 10i)| > 1
    assert sga.converged.all()  # |1 - lr (2 + 9.9i)| < 1


def test_sign_rule_repels_from_an_unstable_fixed_point_and_without_it_sga_is_attracted():
    g = games.quadratic_game(-1.0, 10.0)  # S = -I: the origin is unstable
    _, lam = games.adjustment(g, T0, 1.0)
    assert (lam == -1.0).all()
    aligned = games.run(g, T0, method="sga", lr=0.01, lam=0.02, steps=200)
    blind = games.run(g, T0, method="sga", lr=0.01, lam=0.02, steps=200, align=False)
    assert (aligned.distance[-1] > aligned.distance[0]).all()
    assert (blind.distance[-1] < 0.5 * blind.distance[0]).all()  # eigenvalues 1 +- 10.2i: attracted


def test_potential_game_sga_equals_gradient_descent():
    g = games.quadratic_game(2.0, 0.0)
    a = games.run(g, T0, lr=0.1, steps=20)
    b = games.run(g, T0, method="sga", lr=0.1, lam=5.0, steps=20)
    assert torch.allclose(a.path, b.path)


def test_per_row_settings_match_separate_runs_and_input_is_not_mutated():
    g, theta0 = games.quadratic_game(1.0, 10.0), T0.clone()
    both = games.run(g, theta0, method="sga", lr=[0.01, 0.02], lam=[0.0, 0.01], steps=30)
    one = games.run(g, theta0[1:], method="sga", lr=0.02, lam=0.01, steps=30)
    assert torch.allclose(both.path[:, 1], one.path[:, 0]) and torch.equal(theta0, T0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(method="adam"), "unknown method 'adam'"), (dict(lr=0.0), "lr must be a finite number > 0"),
    (dict(lr=[0.1]), "one per row"), (dict(steps=2.5), "steps must be an integer"),
])
def test_bad_arguments_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        games.run(games.bilinear(), T0, **kwargs)


def test_wrong_theta_shape_is_refused():
    with pytest.raises(ValueError, match=r"theta must have shape \(B, 2\)"):
        games.simultaneous_gradient(games.bilinear(), torch.zeros(3))


def test_hamiltonian_flow_conserves_half_squared_norm_of_xi_to_first_order():
    # theta' = -xi with S = 0: d/dt ||xi||^2/2 = -xi^T J xi = -xi^T S xi = 0; small steps drift O(lr^2)
    traj = games.run(games.bilinear(), T0, lr=1e-4, steps=100)
    r = traj.distance
    assert float((r[-1] / r[0] - 1).abs().max()) < 1e-6
    assert math.isclose(float(r[0, 0]), math.sqrt(5.0))
