"""Checkers for the exercises of chapter 7 (open problems).

Each checker takes the student's function (the exercise stub raises ``NotImplementedError``
until it is solved), calls it on inputs of its own, computes the truth independently of the
library code the chapter uses (numpy on matrices the student does not see; the Ising
Hamiltonian rebuilt from Kronecker products), and returns a
:class:`~lecture_lib.checks.verdict.Verdict` with a hint; it never prints the expected value.

Example::

    >>> from lecture_lib.checks import ch07
    >>> v = ch07.check_decomposition(lambda J: ((J + J.T) / 2, (J - J.T) / 2))
    >>> bool(v)
    True
"""

from __future__ import annotations

import numpy as np

from lecture_lib.checks.verdict import NotAnAnswer, Verdict, as_array, as_number, relative_error, resolve

_RNG_SEED = 7070  # the checkers' own matrices, regenerated on every call (nothing to mutate)


def _jacobians():
    rng = np.random.default_rng(_RNG_SEED)
    return [rng.normal(size=(d, d)) for d in (2, 3, 5)]


def _call(fn, exercise, what, *args):
    if not callable(fn):
        raise NotAnAnswer(f"expected a function, got {type(fn).__name__}")
    return resolve(lambda: fn(*args), exercise, what)


def check_decomposition(fn, tol: float = 1e-9) -> Verdict:
    """``fn(J)`` returns ``(S, A)``, the symmetric and antisymmetric parts of a game Jacobian
    (Balduzzi et al. 2018); checked on three matrices of sizes 2, 3 and 5."""
    exercise, what = 'Exercise 7.1 (Decompose a game Jacobian)', "decompose(J) returning (S, A)"
    for J in _jacobians():
        try:
            got = _call(fn, exercise, what, J.copy())
            if isinstance(got, Verdict):
                return got
            if not (isinstance(got, (tuple, list)) and len(got) == 2):
                raise NotAnAnswer(f"expected a pair (S, A), got {type(got).__name__}")
            d = len(J)
            S, A = (as_array(x, name=n, shape=(d, d)) for x, n in zip(got, ("S", "A")))
        except NotAnAnswer as error:
            return Verdict(False, f"Not an answer for a {len(J)}x{len(J)} Jacobian: {error}.")
        if not np.allclose(S, S.T, atol=tol):
            return Verdict(False, f"Not quite: your S is not symmetric for a {len(J)}x{len(J)} J. "
                                  "Hint: S must equal its transpose.")
        if not np.allclose(A, -A.T, atol=tol):
            return Verdict(False, f"Not quite: your A is not antisymmetric (A^T = -A fails) for a "
                                  f"{len(J)}x{len(J)} J.")
        err = relative_error(S + A, J)
        if err > tol:
            return Verdict(False, f"Not quite: S + A differs from J by {err:.2g} (relative) for a "
                                  f"{len(J)}x{len(J)} J. Hint: the two parts must add up to J.")
    return Verdict(True, "Correct: S = (J + J^T)/2 is the potential part and A = (J - J^T)/2 the "
                         "Hamiltonian part, and the split is unique.")


def _sigma(n, site, op):
    mats = [np.eye(2)] * n
    mats[site] = op
    out = mats[0]
    for m in mats[1:]:
        out = np.kron(out, m)
    return out


def _tfim_dense(n, h, J=1.0):
    """``-J sum Z_i Z_{i+1} - h sum X_i`` (periodic) from Kronecker products: the checker's own truth."""
    Z, X = np.diag([1.0, -1.0]), np.array([[0.0, 1.0], [1.0, 0.0]])
    H = np.zeros((2**n, 2**n))
    for i in range(n):
        H -= J * _sigma(n, i, Z) @ _sigma(n, (i + 1) % n, Z)
        H -= h * _sigma(n, i, X)
    return H


CHAIN_CASES = ((4, 0.5), (6, 1.0), (7, 1.3))


def check_ground_energy(fn, rtol: float = 1e-6) -> Verdict:
    """``fn(n_spins, h)`` returns the exact ground-state energy of the periodic transverse-field
    Ising chain ``H = -sum Z_i Z_{i+1} - h sum X_i``; checked on three chains (one of odd length)."""
    exercise = 'Exercise 7.2 (The exact ground-state energy of a small chain)'
    what = "ground_energy(n_spins, h)"
    for n, h in CHAIN_CASES:
        try:
            got = _call(fn, exercise, what, n, h)
            if isinstance(got, Verdict):
                return got
            value = as_number(got, name=f"ground_energy({n}, {h})")
        except NotAnAnswer as error:
            return Verdict(False, f"Not an answer: {error}.")
        truth = float(np.linalg.eigvalsh(_tfim_dense(n, h))[0])
        err = abs(value - truth) / abs(truth)
        if err > rtol:
            if value > truth:
                hint = ("above the ground state: a variational estimate, or a sector that misses it? "
                        "Diagonalize exactly (scipy.sparse.linalg.eigsh with which='SA')")
            else:
                hint = "below the true minimum: check the signs and the periodic bond between spins N and 1"
            if n % 2:
                hint += ("; for odd N the closed form still holds (the unpaired mode k = pi gives "
                         "-(J + h)), or diagonalize")
            return Verdict(False, f"Not quite for N = {n}, h = {h}: relative error {err:.2g}. Hint: {hint}.")
    return Verdict(True, f"Correct: your ground-state energies match exact diagonalization on "
                         f"{len(CHAIN_CASES)} chains to {rtol:g}.")


def _sga_truth(xi, J, lam, eps=0.1):
    A = (J - J.T) / 2
    at_xi = A.T @ xi
    grad_h = J.T @ xi
    sign = np.sign((xi @ grad_h) * (at_xi @ grad_h) / len(xi) + eps)
    return xi + lam * sign * at_xi


def _sga_cases():
    """A stable game (S positive definite: the sign rule gives lambda > 0), an unstable one (S
    negative definite: lambda < 0), and a random one; all with a strong Hamiltonian part."""
    rng = np.random.default_rng(_RNG_SEED + 1)
    cases = []
    for d, sign in ((2, 1.0), (3, -1.0), (4, 0.0)):
        M, B = rng.normal(size=(d, d)), rng.normal(size=(d, d))
        S = sign * (B @ B.T / d + np.eye(d)) if sign else (B + B.T) / 2
        cases.append((rng.normal(size=d), 2.0 * (M - M.T) + S, 0.5))
    return cases


def check_sga(fn, tol: float = 1e-9) -> Verdict:
    """``fn(xi, J, lam)`` returns the adjusted direction of symplectic gradient adjustment with
    the sign rule (alignment) of Balduzzi et al. (2018), Algorithm 1, ``eps = 1/10``."""
    exercise = 'Exercise 7.3 (The sign rule of symplectic gradient adjustment)'
    what = "sga_direction(xi, J, lam)"
    for xi, J, lam in _sga_cases():
        try:
            got = _call(fn, exercise, what, xi.copy(), J.copy(), lam)
            if isinstance(got, Verdict):
                return got
            value = as_array(got, name="the adjusted direction", shape=(len(xi),))
        except NotAnAnswer as error:
            return Verdict(False, f"Not an answer: {error}.")
        truth = _sga_truth(xi, J, lam)
        err = relative_error(value, truth)
        if err > tol:
            flipped = _sga_truth(xi, J, -lam)
            hint = ("the sign of lambda is flipped: lambda = lam * sign(<xi, J^T xi><A^T xi, J^T xi>/d + 1/10)"
                    if relative_error(value, flipped) <= tol else
                    "use A = (J - J^T)/2, the adjustment A^T xi, and grad H = J^T xi")
            return Verdict(False, f"Not quite for a {len(xi)}-dimensional game: relative error {err:.2g}. "
                                  f"Hint: {hint}.")
    return Verdict(True, "Correct: xi + lambda A^T xi with the sign rule, on a stable, an unstable and a "
                         "random game.")
