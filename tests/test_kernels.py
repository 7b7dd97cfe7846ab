"""Chapter 4's kernel computations: functional dimensions, the lifted optimum, ball pieces."""

import math

import numpy as np
import pytest
import torch

from lecture_lib.topics import kernels


@pytest.mark.parametrize("n_in, coeffs, q", [(2, kernels.TAYLOR3, 9), (3, (0, 0, 1), 6),
                                             (2, (1, 1, 1), 6), (4, (0, 1), 4)])
def test_functional_dimension_counts_the_monomials(n_in, coeffs, q):
    assert kernels.functional_dimension(n_in, coeffs) == q
    x = torch.randn(50, n_in, dtype=torch.float64)
    assert kernels.monomial_features(x, coeffs).shape == (50, q)


@pytest.mark.parametrize("n_in, coeffs", [(2, kernels.TAYLOR3), (3, (0, 0, 1)), (2, (1, 0.5, 0, 2))])
def test_neurons_span_exactly_the_predicted_space(n_in, coeffs):
    """Numerical rank of sigma(<w_j, x_i>) over many samples and neurons equals q."""
    x = torch.randn(300, n_in, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    q = kernels.numerical_dimension(lambda z: kernels.polynomial(z, coeffs), x, n_neurons=60, rtol=1e-8)
    assert q == kernels.functional_dimension(n_in, coeffs)


def test_empirical_dimension_is_at_most_the_number_of_samples():
    x, _ = kernels.erm_problem(n_in=3, n_samples=12)
    assert kernels.numerical_dimension(torch.tanh, x) == 12
    assert kernels.numerical_dimension(torch.relu, x[:, :1]) == 2  # ReLU on R^1, no bias: a relu(x) + b relu(-x)


def test_poly_net_is_linear_in_the_canonical_parameters():
    net = kernels.PolyActivationNet(2, 5).double()
    x = torch.randn(40, 2, dtype=torch.float64)
    Psi = kernels.monomial_features(x, kernels.TAYLOR3)
    coef = torch.linalg.lstsq(Psi, net(x).detach()).solution
    assert torch.allclose(Psi @ coef, net(x).detach(), atol=1e-10)
    theta = torch.nn.utils.parameters_to_vector(net.parameters())[None]
    assert torch.allclose(net.forward_batched(theta, x)[0], net(x))


def test_least_squares_optimum_is_zero_on_a_planted_polynomial():
    x = torch.randn(60, 2, dtype=torch.float64)
    y = kernels.PolyActivationNet(2, 9).double()(x).detach()
    assert kernels.least_squares_optimum(kernels.monomial_features(x, kernels.TAYLOR3), y) < 1e-20


def test_success_sweep_reaches_the_global_minimum_above_q_and_never_below_rank():
    """Quadratic activation on R^2 (q = 3): one neuron is a rank-one form and cannot fit the
    teacher's projection; with M = 4 >= q the best of the runs reaches E*."""
    s = kernels.polynomial_experiment(n_in=2, coeffs=(0, 0, 1), widths=(1, 4), n_samples=40,
                                      n_seeds=4, steps=500)
    assert s.q == 3 and s.fractions[0] == 0.0 and float(s.gaps[1].min()) <= s.tol
    assert all(float(g.min()) >= -1e-9 for g in s.gaps)  # nobody beats the lifted optimum


@pytest.mark.parametrize("center, radius, pieces", [((0, 2), 1.8, 2), ((0, 2), 1.0, 0), ((0, 0.5), 1.0, 1)])
def test_ball_pieces_of_the_parabola(center, radius, pieces):
    pts = kernels.parabola(np.linspace(-3, 3, 6001))
    assert kernels.ball_pieces(pts, center, radius) == pieces


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="radius"):
        kernels.ball_pieces(kernels.parabola(np.zeros(3)), (0, 0), -1.0)
    with pytest.raises(ValueError, match="coeffs"):
        kernels.functional_dimension(2, (0, 0))
    with pytest.raises(ValueError, match="n_in"):
        kernels.functional_dimension(0, (1,))
