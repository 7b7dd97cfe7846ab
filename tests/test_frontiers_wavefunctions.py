"""RBM wave functions for the transverse-field Ising chain: the Hamiltonian, exact
diagonalization against the free-fermion closed form, the variational bound, and convergence."""

import pytest
import torch

from lecture_lib.frontiers import wavefunctions as wf

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py



@pytest.mark.parametrize("n", [4, 6, 8, 10])
@pytest.mark.parametrize("h", [0.3, 1.0, 2.5])
def test_eigsh_ground_energy_equals_the_free_fermion_closed_form(n, h):
    assert abs(wf.exact_ground_energy(wf.tfim_hamiltonian(n, h)) - wf.free_fermion_ground_energy(n, h)) < 1e-9


def test_limits_of_the_chain_are_the_classical_and_the_paramagnetic_energies():
    assert wf.free_fermion_ground_energy(8, 0.0) == pytest.approx(-8.0)
    assert wf.exact_ground_energy(wf.tfim_hamiltonian(8, 0.0)) == pytest.approx(-8.0)
    assert wf.exact_ground_energy(wf.tfim_hamiltonian(6, 1.0, J=0.0)) == pytest.approx(-6.0)


def test_hamiltonian_is_symmetric_with_n_plus_one_entries_per_row():
    H = wf.tfim_hamiltonian(5, 0.7)
    assert abs(H - H.T).max() == 0 and H.nnz == 2**5 * 6


def test_configurations_are_all_distinct_sign_vectors():
    s = wf.configurations(4)
    assert s.shape == (16, 4) and set(s.unique().tolist()) == {-1.0, 1.0}
    assert len({tuple(r) for r in s.tolist()}) == 16


def test_rbm_log_psi_matches_the_product_formula():
    n, m = 3, 2
    theta = torch.randn(2, wf.n_parameters(n, m), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    s = wf.configurations(n)
    a, b, W = theta[1, :n], theta[1, n:n + m], theta[1, n + m:].reshape(m, n)
    psi = torch.exp(s @ a) * torch.prod(2 * torch.cosh(b + s @ W.T), dim=1)
    assert torch.allclose(wf.rbm_log_psi(theta, s, m)[1], psi.log())


def test_variational_energy_is_an_upper_bound_and_equals_rayleigh_quotient():
    n, m, h = 6, 6, 0.8
    E = wf.rbm_energy(n, h, m)
    theta = torch.randn(5, wf.n_parameters(n, m), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    values = E(theta)
    exact = wf.exact_ground_energy(wf.tfim_hamiltonian(n, h))
    assert values.shape == (5,) and (values >= exact - 1e-10).all()
    psi = wf.rbm_log_psi(theta[:1], wf.configurations(n), m).exp()[0].numpy()
    Hd = wf.tfim_hamiltonian(n, h).toarray()
    assert float(values[0]) == pytest.approx(psi @ Hd @ psi / (psi @ psi), rel=1e-12)


def test_optimised_rbm_reaches_the_ground_state_and_error_falls_with_alpha():
    r1 = wf.fit_ground_state(6, 1.0, 1, steps=800, lr=0.02)
    r3 = wf.fit_ground_state(6, 1.0, 3, steps=800, lr=0.02)
    assert 0 <= r1.relative_error < 2e-3 and -1e-12 <= r3.relative_error < r1.relative_error


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_spins=1, h=1.0), r"n_spins must be in \[2, 16\]"), (dict(n_spins=6, h=float("nan")), "h must be"),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        wf.tfim_hamiltonian(**kwargs)


@pytest.mark.parametrize("n", [3, 5, 7, 9, 11])
@pytest.mark.parametrize("h", [0.3, 1.0, 2.5])
def test_closed_form_holds_for_odd_chains_too(n, h):
    # the ground state is in the antiperiodic sector for every N; for odd N, k = pi is unpaired
    for J in (1.0, 0.4):
        exact = wf.exact_ground_energy(wf.tfim_hamiltonian(n, h, J))
        assert abs(exact - wf.free_fermion_ground_energy(n, h, J)) < 1e-9


def test_closed_form_refuses_negative_fields_and_energy_refuses_wrong_shapes():
    with pytest.raises(ValueError, match="h must be"):
        wf.free_fermion_ground_energy(5, -1.0)
    with pytest.raises(ValueError, match=r"theta must have shape \(B, 14\)"):
        wf.rbm_energy(4, 1.0, 2)(torch.zeros(1, 5, dtype=torch.float64))
