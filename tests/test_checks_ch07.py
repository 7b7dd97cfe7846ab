"""Chapter 7 checkers: right answers in several forms pass, wrong ones and NaN fail with a hint
and without the expected value, a stub is "Not attempted", and assert_correct raises."""

import numpy as np
import pytest
import torch

from lecture_lib.checks import ch07
from lecture_lib.frontiers import games, wavefunctions as wf


def _stub(*args):
    raise NotImplementedError("replace this line with your code")


def _sga(xi, J, lam):
    A = (J - J.T) / 2
    g = J.T @ xi
    return xi + lam * np.sign((xi @ g) * ((A.T @ xi) @ g) / len(xi) + 0.1) * (A.T @ xi)


@pytest.mark.parametrize("fn", [
    lambda J: ((J + J.T) / 2, (J - J.T) / 2),
    lambda J: [M.clone() for M in games.decompose(torch.from_numpy(J))],
    lambda J: tuple(((J + J.T) / 2).tolist() for _ in range(1)) + (((J - J.T) / 2).tolist(),),
])
def test_decomposition_right_answers_pass(fn):
    v = ch07.check_decomposition(fn)
    assert v.correct and v.assert_correct() is v


@pytest.mark.parametrize("fn, hint", [
    (lambda J: (J, np.zeros_like(J)), "not symmetric"),
    (lambda J: ((J + J.T) / 2, (J.T - J) / 2), "add up to J"),
    (lambda J: ((J + J.T) / 2, np.full_like(J, np.nan)), "finite"),
    (lambda J: (J + J.T) / 2, "pair"),
])
def test_decomposition_wrong_answers_fail_with_a_hint(fn, hint):
    v = ch07.check_decomposition(fn)
    assert not v.correct and hint in v.message
    with pytest.raises(AssertionError):
        v.assert_correct()


@pytest.mark.parametrize("fn", [
    lambda n, h: wf.exact_ground_energy(wf.tfim_hamiltonian(n, h)),
    lambda n, h: torch.tensor(wf.exact_ground_energy(wf.tfim_hamiltonian(n, h))),
    lambda n, h: np.array([wf.exact_ground_energy(wf.tfim_hamiltonian(n, h))]),
])
def test_ground_energy_right_answers_pass(fn):
    assert ch07.check_ground_energy(fn).correct


def test_ground_energy_wrong_answers_fail_without_revealing_the_value():
    truth = wf.exact_ground_energy(wf.tfim_hamiltonian(4, 0.5))
    v = ch07.check_ground_energy(lambda n, h: 0.99 * wf.exact_ground_energy(wf.tfim_hamiltonian(n, h)))
    assert not v.correct and "above the ground state" in v.message and f"{truth:.4f}" not in v.message
    v = ch07.check_ground_energy(lambda n, h: wf.free_fermion_ground_energy(n, h) if n % 2 == 0 else -1.0)
    assert not v.correct and "N = 7" in v.message and "odd N" in v.message
    assert not ch07.check_ground_energy(lambda n, h: float("nan")).correct
    assert not ch07.check_ground_energy(lambda n, h: "minus ten").correct


def test_sga_right_answer_passes_and_the_flipped_sign_gets_the_sign_hint():
    assert ch07.check_sga(_sga).correct
    assert ch07.check_sga(lambda xi, J, lam: torch.tensor(_sga(xi, J, lam))).correct
    v = ch07.check_sga(lambda xi, J, lam: _sga(xi, J, -lam))
    assert not v.correct and "flipped" in v.message
    v = ch07.check_sga(lambda xi, J, lam: xi + lam * ((J - J.T) / 2).T @ xi)  # no sign rule
    assert not v.correct
    assert not ch07.check_sga(lambda xi, J, lam: xi[:1]).correct


def test_sga_cases_exercise_both_signs_of_the_rule():
    signs = {float(np.sign(_sga(xi, J, 1.0) @ ((J - J.T) / 2).T @ xi - xi @ ((J - J.T) / 2).T @ xi))
             for xi, J, lam in ch07._sga_cases()}
    assert signs == {-1.0, 1.0}


@pytest.mark.parametrize("check, exercise", [(ch07.check_decomposition, "Decompose a game Jacobian"),
                                             (ch07.check_ground_energy, "ground-state energy of a small chain"),
                                             (ch07.check_sga, "sign rule of symplectic gradient adjustment")])
def test_stub_is_not_attempted_and_names_the_exercise(check, exercise):
    v = check(_stub)
    assert not v.attempted and exercise in v.message and "Not attempted" in v.message
    with pytest.raises(NotImplementedError):
        v.assert_correct()


def test_checker_truth_survives_a_student_who_mutates_the_input():
    def vandal(J):
        S, A = (J + J.T) / 2, (J - J.T) / 2
        J[:] = 0  # the checker compares with its own matrix, not the one it handed out
        return S, A
    assert ch07.check_decomposition(vandal).correct
    assert ch07.check_decomposition(lambda J: ((J + J.T) / 2, (J - J.T) / 2)).correct
