import numpy as np
import pytest
import sympy as sp
import torch

from lecture_lib.topics import lifting
from lecture_lib.models import PolynomialNet, QuadraticNet
from lecture_lib.train import fit_ensemble

mse = torch.nn.functional.mse_loss


def _net(U, W):
    net = QuadraticNet(W.shape[1], W.shape[0], n_out=U.shape[0]).double()
    with torch.no_grad():
        net.W.copy_(W)
        net.U.copy_(U)
    return net


def _sym(n, seed, rank=None):
    g = torch.Generator().manual_seed(seed)
    B = torch.randn(n, rank or n, generator=g, dtype=torch.float64)
    s = torch.randn(rank or n, generator=g, dtype=torch.float64)
    return (B * s) @ B.T


@pytest.mark.parametrize("n_out", [1, 3])
def test_lifting_identity_network_output_is_inner_product_with_xxT(n_out):
    g = torch.Generator().manual_seed(0)
    U = torch.randn(n_out, 5, generator=g, dtype=torch.float64)
    W = torch.randn(5, 4, generator=g, dtype=torch.float64)
    x = torch.randn(11, 4, generator=g, dtype=torch.float64)
    A = lifting.lift(U, W)  # (n_out, N, N)
    assert A.shape == (n_out, 4, 4)
    torch.testing.assert_close(A, A.transpose(-1, -2), rtol=0, atol=0)
    lifted = torch.einsum("ipq,jpq->ij", lifting.features(x), A)  # (n, n_out)
    torch.testing.assert_close(lifted, _net(U, W)(x), rtol=1e-12, atol=1e-12)


def test_lift_of_single_output_vector_u_and_batched_points_agree_with_loops():
    g = torch.Generator().manual_seed(1)
    U = torch.randn(6, 2, 3, generator=g, dtype=torch.float64)  # (B, n_out, M)
    W = torch.randn(6, 3, 4, generator=g, dtype=torch.float64)  # (B, M, N)
    A = lifting.lift(U, W)
    for b in range(6):
        torch.testing.assert_close(A[b], lifting.lift(U[b], W[b]), rtol=1e-13, atol=1e-13)
        torch.testing.assert_close(A[b, 0], lifting.lift(U[b, 0], W[b]), rtol=1e-13, atol=1e-13)
    expected = sum(U[0, 1, k] * torch.outer(W[0, k], W[0, k]) for k in range(3))
    torch.testing.assert_close(A[0, 1], expected, rtol=1e-13, atol=1e-13)


def test_lift_theta_matches_forward_batched_of_quadratic_net():
    net = QuadraticNet(3, 5, n_out=2).double()
    theta = torch.randn(4, 3 * 5 + 5 * 2, dtype=torch.float64)
    x = torch.randn(7, 3, dtype=torch.float64)
    A = lifting.lift_theta(net, theta)  # (B, n_out, N, N)
    out = torch.einsum("ipq,bjpq->bij", lifting.features(x), A)
    torch.testing.assert_close(out, net.forward_batched(theta, x), rtol=1e-12, atol=1e-12)
    with pytest.raises(TypeError, match="QuadraticNet"):
        lifting.lift_theta(PolynomialNet([3, 2, 2, 1]), theta)


def test_svec_is_an_isometry_and_smat_inverts_it():
    A, B = _sym(5, 0), _sym(5, 1)
    assert lifting.svec(A).shape == (15,)
    torch.testing.assert_close(lifting.svec(A) @ lifting.svec(B), torch.trace(A @ B), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(lifting.smat(lifting.svec(A)), A, rtol=0, atol=1e-13)
    with pytest.raises(ValueError, match=r"N \(N \+ 1\) / 2"):
        lifting.smat(torch.zeros(7))


@pytest.mark.parametrize("width", [4, 7])
def test_factorize_round_trip_full_rank(width):
    A = _sym(4, 2)
    before = A.clone()
    U, W = lifting.factorize(A, width)
    assert U.shape == (1, width) and W.shape == (width, 4)
    torch.testing.assert_close(lifting.lift(U, W)[0], A, rtol=1e-12, atol=1e-12)
    assert torch.equal(A, before)  # the caller's tensor is untouched


def test_factorize_uses_rank_many_neurons_for_low_rank_matrices():
    A = _sym(5, 3, rank=2)
    U, W = lifting.factorize(A, 2)
    torch.testing.assert_close(lifting.lift(U, W)[0], A, rtol=1e-10, atol=1e-10)


def test_factorize_vector_outputs_by_blocks_and_by_symmetric_basis():
    A = torch.stack([_sym(3, 4), _sym(3, 5), _sym(3, 6)])  # ranks 3 + 3 + 3 = 9 > D = 6
    U, W = lifting.factorize(A, 9)  # spectral blocks
    torch.testing.assert_close(lifting.lift(U, W), A, rtol=1e-11, atol=1e-11)
    U, W = lifting.factorize(A, 6)  # basis e_i, e_i + e_j: width N (N + 1) / 2 is enough
    torch.testing.assert_close(lifting.lift(U, W), A, rtol=1e-11, atol=1e-11)


def test_factorize_width_smaller_than_rank_is_a_clear_error():
    with pytest.raises(ValueError, match=r"width=2 is too small: A has rank \[3\]"):
        lifting.factorize(_sym(3, 7), 2)
    with pytest.raises(ValueError, match="symmetric"):
        lifting.factorize(torch.tensor([[0.0, 1.0], [0.0, 0.0]]), 2)
    with pytest.raises(ValueError, match="shape"):
        lifting.factorize(torch.zeros(2, 3), 2)
    with pytest.raises(ValueError, match="positive integer"):
        lifting.factorize(_sym(2, 0), 0)


def _random_problem(n=30, N=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, N, generator=g, dtype=torch.float64)
    return x, torch.randn(n, 1, generator=g, dtype=torch.float64)


def test_lifted_solution_equals_unconstrained_least_squares_over_all_matrices():
    x, y = _random_problem()
    sol = lifting.lifted_solution(x, y)
    # <B, xx^T> = <(B + B^T)/2, xx^T>: least squares over all N^2 entries has the same minimum.
    design = np.einsum("ip,iq->ipq", x.numpy(), x.numpy()).reshape(len(x), -1)
    coef, *_ = np.linalg.lstsq(design, y.numpy(), rcond=None)
    assert sol.loss == pytest.approx(float(np.mean((design @ coef - y.numpy()) ** 2)), rel=1e-10)
    assert sol.loss == pytest.approx(lifting.lifted_loss(sol.A, x, y), rel=1e-12)
    assert sol.design_rank == sol.n_unknowns == 10 and sol.loss > 0


def test_factorized_lifted_solution_reaches_the_lifted_loss_through_the_network():
    x, y = _random_problem()
    sol = lifting.lifted_solution(x, y)
    U, W = lifting.factorize(sol.A, x.shape[1])  # width N suffices for any symmetric A
    with torch.no_grad():
        assert float(mse(_net(U, W)(x), y)) == pytest.approx(sol.loss, rel=1e-10)


def test_lifted_optimum_is_below_every_trained_network_and_reached_by_wide_ones(one_thread):
    x, y = _random_problem(n=24, N=3)
    sol = lifting.lifted_solution(x, y)
    best = {}
    for M in (1, 3, 7):
        fit = fit_ensemble(lambda: QuadraticNet(3, M).double(), 6, mse, x, y, steps=400, lr=0.03,
                           progress=False)
        assert bool((fit.final_losses >= sol.loss - 1e-12).all())
        best[M] = float(fit.final_losses.min())
    assert best[1] > sol.loss + 0.05  # rank one cannot fit a full-rank optimum
    assert best[7] == pytest.approx(sol.loss, abs=1e-6)


def test_planted_low_rank_teacher_gives_zero_loss_and_its_rank():
    g = torch.Generator().manual_seed(3)
    W_t = torch.randn(2, 4, generator=g, dtype=torch.float64)
    U_t = torch.tensor([[1.5, -0.5]], dtype=torch.float64)
    x = torch.randn(40, 4, generator=g, dtype=torch.float64)
    with torch.no_grad():
        y = _net(U_t, W_t)(x)
    sol = lifting.lifted_solution(x, y)
    assert sol.loss < 1e-25 and sol.ranks == (2,) and sol.min_width == 2
    torch.testing.assert_close(sol.A[0], lifting.lift(U_t, W_t)[0], rtol=1e-9, atol=1e-9)


def test_underdetermined_lifted_problem_interpolates_and_says_so():
    x, y = _random_problem(n=6, N=4)  # 6 samples < 10 unknowns
    sol = lifting.lifted_solution(x, y)
    assert sol.loss < 1e-25 and sol.design_rank == 6
    assert "minimum-norm" in sol.message


def test_lifted_solution_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same n"):
        lifting.lifted_solution(torch.zeros(5, 2), torch.zeros(4, 1))
    with pytest.raises(ValueError, match=r"\(n, N\)"):
        lifting.features(torch.zeros(5))
    with pytest.raises(ValueError, match="lift: need"):
        lifting.lift(torch.zeros(3), torch.zeros(4, 2))


def test_lifted_energy_never_rises_above_its_endpoints_on_a_segment():
    x, y = _random_problem()
    E = lifting.lifted_energy(x, y)
    a, b = torch.randn(2, 10, dtype=torch.float64)
    t = torch.linspace(0, 1, 101, dtype=torch.float64)[:, None]
    values = E((1 - t) * a + t * b)  # (101,)
    assert float(values.max()) <= max(float(values[0]), float(values[-1])) + 1e-12
    sol = lifting.lifted_solution(x, y)
    assert float(E(lifting.svec(sol.A))[0]) == pytest.approx(sol.loss, rel=1e-12)


@pytest.mark.parametrize("N", [2, 3])
def test_sympy_confirms_the_lifting_identity_symbolically(N):
    M = 2
    x = sp.Matrix(sp.symbols(f"x1:{N + 1}"))
    W = sp.Matrix(M, N, lambda k, i: sp.Symbol(f"w{k}{i}"))
    u = sp.symbols(f"u1:{M + 1}")
    f = sum(u[k] * (W[k, :] * x)[0] ** 2 for k in range(M))
    A = sum((u[k] * W[k, :].T * W[k, :] for k in range(M)), sp.zeros(N, N))
    assert sp.expand(f - (x.T * A * x)[0]) == 0


def test_sympy_two_hidden_layers_are_homogeneous_of_degree_four_in_lifted_dimension():
    x1, x2 = sp.symbols("x1 x2")
    net = PolynomialNet([2, 2, 2, 1]).double()
    W1, W2, W3 = (sp.Matrix(w.detach().numpy()).applyfunc(sp.nsimplify) for w in net.weights)
    h = (W1 * sp.Matrix([x1, x2])).applyfunc(lambda z: z ** 2)
    f = sp.Poly(sp.expand((W3 * (W2 * h).applyfunc(lambda z: z ** 2))[0]), x1, x2)
    assert {sum(m) for m in f.monoms()} == {4}
    assert len(f.monoms()) <= lifting.lifted_dimension(2, 4) == 5


def test_lifted_dimension_and_width_bound_values_and_errors():
    assert lifting.lifted_dimension(3, 2) == 6 and lifting.lifted_dimension(4, 4) == 35
    assert lifting.width_bound(2, 1) == 12 and lifting.width_bound(2, 2) == 48
    with pytest.raises(ValueError):
        lifting.width_bound(2, 0)
    with pytest.raises(ValueError):
        lifting.lifted_dimension(0, 2)


def test_inertia_counts_signed_eigenvalues_and_sign_counts_bound_it():
    A = torch.diag(torch.tensor([2.0, -1.0, 0.0, 3.0], dtype=torch.float64))
    assert lifting.inertia(A) == (2, 1)
    g = torch.Generator().manual_seed(5)
    W = torch.randn(1, 6, 4, generator=g, dtype=torch.float64)
    U = torch.tensor([[[1.0, 2.0, -1.0, 0.0, 0.5, 1e-12]]], dtype=torch.float64)  # (1, 1, M)
    (counts,) = lifting.sign_counts(U, W)
    assert counts == (3, 1)  # the zero and the negligible neuron are not counted
    p, q = lifting.inertia(lifting.lift(U, W)[0, 0])
    assert p <= counts[0] and q <= counts[1] and (p, q) == (3, 1)
