"""Checkers for the exercises of chapter 4 (ReLU asymptotics, kernels, the functional view).

Each checker takes the student's function (or, for :func:`check_merge_level`, the answer
or a zero-argument function returning it) and returns a
:class:`~lecture_lib.checks.verdict.Verdict`; the truth is computed here by a method of
its own, never from the student's. A wrong answer is told how far off it is and given a
hint, never the expected value.

Example::

    >>> from lecture_lib.checks import ch04
    >>> ch04.check_merge_level(0.5)
    Correct: the two valleys of the construction merge at level 0.5 (you gave 0.5).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch

from lecture_lib.checks.verdict import NotAnAnswer, Verdict, as_number, not_attempted, resolve
from lecture_lib.topics import relu

# (N, p) pairs for the dimension exercise, and (center, radius) cases for the ball exercise
# (none of them tangent, so a sampled answer is exact with a fine enough grid).
_DIMENSION_CASES = ((1, 3), (2, 2), (3, 3), (4, 2), (2, 5), (5, 1))
_BALL_CASES = (((0.0, 2.0), 1.8), ((0.0, 2.0), 1.0), ((0.0, 0.5), 1.0), ((0.0, 3.0), 2.0),
               ((1.0, 1.0), 0.5), ((0.5, 2.5), 1.9))


def _call(fn, args, exercise, what):
    """``fn(*args)``, or a not-attempted :class:`Verdict` for a stub."""
    try:
        return fn(*args)
    except NotImplementedError:
        return not_attempted(exercise, what)


def _integer(value, name):
    v = as_number(value, name=name)
    if v != round(v):
        raise NotAnAnswer(f"{name} must be a whole number, got {v:g}")
    return int(round(v))


def _count_monomials(n_in: int, degree: int) -> int:
    """Exponent vectors ``alpha in N^n`` with ``|alpha| <= degree``, by enumeration."""
    return sum(1 for alpha in itertools.product(range(degree + 1), repeat=n_in) if sum(alpha) <= degree)


def check_dimension(fn) -> Verdict:
    """``fn(N, p)`` must return ``q = dim span {sigma(<w, .>)}`` for a polynomial activation
    of degree ``p`` in ``N`` inputs whose coefficients ``c_0, ..., c_p`` are all non-zero."""
    exercise, what = "Exercise 4.2", "`functional_dim(N, p)`"
    for N, p in _DIMENSION_CASES:
        got = _call(fn, (N, p), exercise, what)
        if isinstance(got, Verdict):
            return got
        try:
            got = _integer(got, f"functional_dim({N}, {p})")
        except NotAnAnswer as error:
            return Verdict(False, f"Not an answer: {error}.")
        truth = _count_monomials(N, p)
        if got != truth:
            if got == math.comb(N + p - 1, p):
                hint = ("that counts the homogeneous polynomials of degree p only; scaling w by t "
                        "shows every homogeneous part of sigma(<w, .>) is in the span too")
            elif got in (N ** p, (N + 1) ** p):
                hint = "that counts ordered products of coordinates; monomials commute"
            else:
                hint = "count the monomials x^alpha with |alpha| <= p; each degree j contributes C(N + j - 1, j)"
            off = "too large" if got > truth else "too small"
            return Verdict(False, f"Not quite: for N={N}, p={p} your q is {off} (you gave {got}). Hint: {hint}.")
    return Verdict(True, f"Correct: your q matches the number of monomials of degree <= p on "
                         f"{len(_DIMENSION_CASES)} cases (N, p).")


def _crossing_minimum() -> float:
    """The lowest loss on the slice where the first neuron switches side (``w_11 = 0``),
    by dense evaluation over ``w_21`` in [-3, 3]: the level of the pass."""
    E = relu.slice_energy()
    c = torch.linspace(-3.0, 3.0, 6001, dtype=torch.float64)
    with torch.no_grad():
        return float(E(torch.stack([torch.zeros_like(c), c], 1)).min())


def check_merge_level(answer, tol: float = 0.02) -> Verdict:
    """The level at which the two valleys of the two-neuron construction merge (within ``tol``)."""
    got = resolve(answer, "Exercise 4.3", "`merge_level()`")
    if isinstance(got, Verdict):
        return got
    try:
        got = as_number(got, name="the merge level")
    except NotAnAnswer as error:
        return Verdict(False, f"Not an answer: {error}.")
    truth = _crossing_minimum()
    if abs(got - truth) <= tol:
        return Verdict(True, f"Correct: the two valleys of the construction merge at level "
                             f"{truth:.4g} (you gave {got:.4g}).")
    if abs(got - 1.0) <= tol:
        hint = ("that is the loss at the midpoint W_1 = 0 of the straight segment; a bent path "
                "through a sign region crosses lower")
    elif abs(got) <= tol:
        hint = "that is the level of the two minima; the valleys merge higher up"
    else:
        hint = "N_u drops from 2 to 1 at the merge: scan sublevel.components over u on the slice"
    return Verdict(False, f"Not quite: your level is off by {abs(got - truth):.3g} (more than "
                          f"{tol}). Hint: {hint}.")


def _pieces_by_roots(center, radius) -> int:
    """Intervals of ``t`` where ``|(t, t^2) - c|^2 <= r^2``: the quartic
    ``t^4 + (1 - 2 c_2) t^2 - 2 c_1 t + |c|^2 - r^2 <= 0`` (roots by numpy)."""
    c1, c2 = center
    roots = np.roots([1.0, 0.0, 1.0 - 2.0 * c2, -2.0 * c1, c1 * c1 + c2 * c2 - radius * radius])
    real = np.sort(roots[np.abs(roots.imag) < 1e-9].real)
    return len(real) // 2  # a positive quartic is <= 0 between consecutive pairs of simple roots


def check_ball_pieces(fn) -> Verdict:
    """``fn(center, radius)`` must count the pieces of the parabola ``{(t, t^2)}`` inside the
    closed ball ``B(center, radius)``, on several balls."""
    for center, radius in _BALL_CASES:
        got = _call(fn, (center, radius), "Exercise 4.5", "`ball_pieces_parabola(center, radius)`")
        if isinstance(got, Verdict):
            return got
        try:
            got = _integer(got, f"ball_pieces_parabola({center}, {radius})")
        except NotAnAnswer as error:
            return Verdict(False, f"Not an answer: {error}.")
        truth = _pieces_by_roots(center, radius)
        if got != truth:
            return Verdict(False, f"Not quite: for the ball of center {center} and radius {radius} you "
                                  f"counted {got} piece(s), which is {'too many' if got > truth else 'too few'}. "
                                  "Hint: sample t densely on an interval wide enough to hold the whole "
                                  "intersection (|t| <= sqrt(|c| + r) + 1 suffices) and count the runs "
                                  "of samples inside the ball.")
    return Verdict(True, f"Correct: your counts agree with the real roots of the quartic "
                         f"|(t, t^2) - c|^2 = r^2 on {len(_BALL_CASES)} balls.")
