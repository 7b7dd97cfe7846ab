"""Integrators of Hamiltonian systems: orders, symplectic energy conservation, and the learned
correction's gain inside its training box and failure outside it."""

import math

import pytest
import torch

from lecture_lib.frontiers import integrators as itg


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


Z0 = torch.tensor([[1.0, 0.0]], dtype=torch.float64)


def _harmonic(z):
    return 0.5 * (z[:, 0] ** 2 + z[:, 1] ** 2)


def test_vector_field_is_hamiltons_equations():
    z = torch.tensor([[0.3, -0.4]], dtype=torch.float64)
    expected = torch.tensor([[-0.4, -math.sin(0.3)]], dtype=torch.float64)
    assert torch.allclose(itg.vector_field(itg.pendulum, z), expected)


@pytest.mark.parametrize("method, order", [("euler", 1), ("rk4", 4), ("leapfrog", 2)])
def test_global_error_on_the_harmonic_oscillator_has_the_methods_order(method, order):
    step = getattr(itg, method)
    exact = torch.tensor([[math.cos(1.0), -math.sin(1.0)]], dtype=torch.float64)

    def err(n):
        z = Z0
        for _ in range(n):
            z = step(_harmonic, z, 1.0 / n)
        return float((z - exact).norm())
    assert math.log2(err(20) / err(40)) == pytest.approx(order, abs=0.25)


def test_leapfrog_energy_error_stays_bounded_while_euler_grows():
    z_lf, z_eu, worst = Z0, Z0, 0.0
    e0 = float(itg.pendulum(Z0))
    for _ in range(2000):
        z_lf, z_eu = itg.leapfrog(itg.pendulum, z_lf, 0.1), itg.euler(itg.pendulum, z_eu, 0.1)
        worst = max(worst, abs(float(itg.pendulum(z_lf)) - e0))
    assert worst < 0.01 * 0.1 * 10  # O(h^2), no drift over t = 200
    assert float(itg.pendulum(z_eu)) - e0 > 1.0


def test_learned_correction_wins_short_term_inside_the_box_drifts_long_term_and_fails_outside():
    c = itg.train_correction()
    r = itg.compare(c, [(1.0, 0.0), (0.0, 2.5)], n_steps=200)
    assert r.inside_box == (True, False)
    err, drift = r.error, r.energy_error
    assert err["learned"][10, 0] < 0.5 * err["leapfrog"][10, 0]  # short horizon: better than leapfrog
    assert err["learned"][-1, 0] < 0.01 * err["euler"][-1, 0]  # far better than its own coarse step
    assert drift["learned"][-1, 0] > 10 * drift["leapfrog"][-1, 0]  # no symplectic bound: energy drifts
    assert err["learned"][100, 1] > 10 * err["leapfrog"][100, 1]  # outside the training box


def test_flow_map_reference_is_exact_for_the_harmonic_oscillator():
    z = itg.flow_map(_harmonic, Z0, 0.5)
    assert torch.allclose(z, torch.tensor([[math.cos(0.5), -math.sin(0.5)]], dtype=torch.float64), atol=1e-7)


def test_bad_arguments_are_named():
    c = itg.train_correction(steps=1, n_points=8)
    with pytest.raises(ValueError, match="unknown method 'verlet'"):
        itg.compare(c, (1.0, 0.0), methods=("verlet",))
    with pytest.raises(ValueError, match="h must be a finite number > 0"):
        itg.train_correction(h=-0.1)
