"""Checkers for the exercises of chapter 1 (spurious valleys and sublevel sets).

Each checker takes the student's answer, or a zero-argument function returning it (the
exercise stub raises ``NotImplementedError`` until it is solved), and returns a
:class:`~lecture_lib.checks.verdict.Verdict` whose ``repr`` is the message; graded cells
call ``.assert_correct()`` on it. Answers may be numbers, 0-d tensors, numpy scalars or
arrays, tuples or lists.

The truth is computed here, from private copies of the surfaces' formulas (critical points
refined with :mod:`scipy.optimize`), never from :mod:`lecture_lib.surfaces` at check time:
a student function that rewrites ``surfaces.SURFACES`` cannot move it.

Example::

    >>> from lecture_lib.checks import ch01
    >>> ch01.check_merge_level(2.5)   # doctest: +ELLIPSIS
    Not quite: your level 2.5 is off by ...
"""

from __future__ import annotations

import functools
import math

import numpy as np
import scipy.optimize
import torch

from lecture_lib.checks.verdict import NotAnAnswer, Verdict, as_array, as_number, resolve

# Mueller & Brown (1979): E = sum_k A_k exp(a_k dx^2 + b_k dx dy + c_k dy^2), a private copy.
_MB = np.array([[-200.0, -100.0, -170.0, 15.0], [-1.0, -1.0, -6.5, 0.7], [0.0, 0.0, 11.0, 0.6],
                [-10.0, -10.0, -6.5, 0.7], [1.0, 0.0, -0.5, -1.0], [0.0, 0.5, 1.5, 1.0]])
_MB.setflags(write=False)
# Starting points for the critical points (minima A, B, C; saddles B-C, A-B/C).
_MB_STARTS = ((-0.56, 1.44), (0.62, 0.03), (-0.05, 0.47), (0.21, 0.29), (-0.82, 0.62))


def _mb_grad(p):
    A, a, b, c, x0, y0 = _MB
    dx, dy = p[0] - x0, p[1] - y0
    e = A * np.exp(a * dx ** 2 + b * dx * dy + c * dy ** 2)
    return np.array([np.sum(e * (2 * a * dx + b * dy)), np.sum(e * (b * dx + 2 * c * dy))])


def _mb(p):
    A, a, b, c, x0, y0 = _MB
    dx, dy = p[0] - x0, p[1] - y0
    return float(np.sum(A * np.exp(a * dx ** 2 + b * dx * dy + c * dy ** 2)))


@functools.lru_cache(maxsize=None)
def _muller_brown_levels() -> tuple:
    """``(E(A), E(B), E(C), E(S_BC), E(S_A))``: critical values refined by ``scipy.optimize.root``."""
    return tuple(_mb(scipy.optimize.root(_mb_grad, s, tol=1e-13).x) for s in _MB_STARTS)


@functools.lru_cache(maxsize=None)
def _double_well_levels() -> tuple:
    """``(deep minimum, shallow minimum, saddle)`` values of ``(x^2 - 1)^2 + x/2 + y^2``:
    the critical points are ``y = 0`` and the roots of ``4 x^3 - 4 x + 1/2``."""
    xs = np.sort(np.roots([4.0, 0.0, -4.0, 0.5]).real)
    f = lambda x: (x * x - 1.0) ** 2 + 0.5 * x  # noqa: E731
    return f(xs[0]), f(xs[2]), f(xs[1])


# The surface of Exercise 1.5, seen nowhere in the text: E = p(x) + 2 (y - s(x))^2 with
# p(x) = x^2 (x^2 - 4)^2 / 8 + x / 2 and s(x) = 0.8 sin(1.5 x). For each x the minimum over y
# is p(x), attained on the curve y = s(x), so {E <= u} is the set of (x, y) with p(x) <= u
# and |y - s(x)| <= sqrt((u - p(x)) / 2): its valleys are exactly the intervals of
# {p <= u}, and its merge tree is that of the one-variable p.
_P = np.poly1d([1 / 8, 0.0, -1.0, 0.0, 2.0, 0.5, 0.0])
_EXERCISE_EXTENT = (-3.0, 3.0, -2.0, 2.0)


def exercise_surface():
    """``(energy, extent)`` of the surface of Exercise 1.5: a fresh batched energy
    ``Tensor[B, 2] -> Tensor[B]`` and the window ``(xmin, xmax, ymin, ymax)``."""

    def energy(theta: torch.Tensor) -> torch.Tensor:
        x, y = theta[:, 0], theta[:, 1]
        p = x ** 2 * (x ** 2 - 4) ** 2 / 8 + x / 2
        return p + 2 * (y - 0.8 * torch.sin(1.5 * x)) ** 2

    return energy, _EXERCISE_EXTENT


@functools.lru_cache(maxsize=None)
def _exercise_truth() -> tuple:
    """The levels where the surface of Exercise 1.5 has a spurious valley, as disjoint
    intervals ``((lo, hi), ...)``, and its critical values ``(minima, saddles)``.

    On the line, the valley of a non-global minimum at ``x_i`` is born at ``p(x_i)`` and
    joins the global well at the highest saddle between ``x_i`` and the global minimizer."""
    r = np.roots(_P.deriv())
    xs = np.sort(r.real[np.abs(r.imag) < 1e-9])
    curv = _P.deriv(2)(xs)
    mins, sads = xs[curv > 0], xs[curv < 0]
    g = mins[np.argmin(_P(mins))]
    spans = sorted((float(_P(m)), float(max(_P(s) for s in sads if min(m, g) < s < max(m, g))))
                   for m in mins if m != g)
    merged = [list(spans[0])]
    for lo, hi in spans[1:]:
        if lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return (tuple(tuple(m) for m in merged), tuple(float(_P(m)) for m in mins),
            tuple(float(_P(s)) for s in sads))


def _pair(got, name):
    pair = as_array(got, name=name, shape=(2,))
    return float(pair[0]), float(pair[1])


def check_merge_level(answer, tol: float = 0.02) -> Verdict:
    """Exercise 1.3: the level ``u*`` at which the two valleys of ``tilted_double_well``
    merge, within ``tol`` (a grid answer is that close)."""
    got = resolve(answer, "Exercise 1.3", "`merge_level()` returning one level u")
    if isinstance(got, Verdict):
        return got
    try:
        u = as_number(got, name="the merge level")
    except NotAnAnswer as error:
        return Verdict(False, f"Expected one finite number (a level u): {error}.")
    deep, shallow, saddle = _double_well_levels()
    off = u - saddle
    if abs(off) <= tol:
        return Verdict(True, f"Correct: the two valleys of tilted_double_well merge at the level "
                             f"you gave, {u:.4g} (within {tol} of the pass).")
    hints = [(shallow, "that is the value of the shallow minimum, where its valley is born; "
                       "the valleys merge higher up, at the pass between them"),
             (deep, "that is the global minimum value; the merge happens at the pass"),
             (float(np.sort(np.roots([4.0, 0.0, -4.0, 0.5]).real)[1]), "that looks like where the pass lies (its x coordinate); give its level")]
    hint = next((h for v, h in hints if abs(u - v) <= tol),
                "N_u drops from 2 to 1 at the merge: scan sublevel.components over u, or read "
                "sublevel.merge_tree(grid).merges")
    return Verdict(False, f"Not quite: your level {u:.4g} is off by {abs(off):.3g} "
                          f"({'too high' if off > 0 else 'too low'}; the check accepts {tol}). Hint: {hint}.")


def _interval_verdict(got, truth, tol, exercise, births, where):
    try:
        lo, hi = _pair(got, "the interval (lo, hi)")
    except NotAnAnswer as error:
        return Verdict(False, f"Expected a pair (lo, hi) of finite numbers: {error}.")
    ok_lo, ok_hi = abs(lo - truth[0]) <= tol, abs(hi - truth[1]) <= tol
    if ok_lo and ok_hi:
        return Verdict(True, f"Correct: {where} has a spurious valley exactly for {lo:.4g} <= u < "
                             f"{hi:.4g}, within {tol} at both ends.")
    if lo > hi:
        hint = "the pair looks reversed: give the lower level first"
    elif not ok_lo:
        hint = ("the first spurious valley is born with the second-deepest minimum (the second birth)"
                if not any(abs(lo - b) <= tol for b in births[2:]) else
                "at that level another valley is born, but one was already spurious before")
    else:
        hint = "spurious valleys last until the last merge, when everything has joined the global well"
    return Verdict(False, f"Not quite for {exercise}: lower end {'right' if ok_lo else 'wrong'}"
                          f"{'' if ok_lo else f' (off by {abs(lo - truth[0]):.3g})'}, upper end "
                          f"{'right' if ok_hi else 'wrong'}{'' if ok_hi else f' (off by {abs(hi - truth[1]):.3g})'}"
                          f"; each end must be within {tol}. Hint: {hint}.")


def check_spurious_interval(answer, tol: float = 0.5) -> Verdict:
    """Exercise 1.4: ``(lo, hi)``, the levels ``lo <= u < hi`` at which ``muller_brown`` has a
    spurious valley; each end within ``tol`` (absolute)."""
    got = resolve(answer, "Exercise 1.4", "`spurious_interval()` returning a pair (lo, hi)")
    if isinstance(got, Verdict):
        return got
    a, b, c, s_bc, s_a = _muller_brown_levels()
    verdict = _interval_verdict(got, (b, s_a), tol, "Exercise 1.4", (a, b, c), "muller_brown")
    if not verdict.correct and "upper end wrong" in verdict.message:
        hi = _pair(got, "the interval")[1]
        if abs(hi - s_bc) <= tol:
            return Verdict(False, verdict.message.replace(
                "Hint: ", "Hint: at that level two spurious valleys merge into one, which is still "
                          "spurious; "))
    return verdict


def check_new_surface(answer, tol: float = 0.05) -> Verdict:
    """Exercise 1.5: the levels at which the surface of :func:`exercise_surface` has a
    spurious valley, as a list of disjoint intervals ``[(lo, hi), ...]`` in increasing order
    (``lo <= u < hi``); every end within ``tol`` (a merge tree on a 151 x 151 grid of its
    window is well inside)."""
    got = resolve(answer, "Exercise 1.5", "`new_surface_intervals()` returning a list of "
                                           "pairs (lo, hi)")
    if isinstance(got, Verdict):
        return got
    try:
        spans = as_array(got, name="the intervals")
        spans = spans.reshape(1, 2) if spans.shape == (2,) else spans
        if spans.ndim != 2 or spans.shape[1] != 2 or len(spans) == 0:
            raise NotAnAnswer(f"the intervals must be pairs (lo, hi), got shape {spans.shape}")
    except NotAnAnswer as error:
        return Verdict(False, f"Expected a list of pairs (lo, hi) of finite numbers: {error}.")
    truth, minima, saddles = _exercise_truth()
    if len(spans) != len(truth):
        hint = ("after one spurious valley joins the global well, is there a range of levels "
                "where every valley holds the global minimum before the next one is born?"
                if len(spans) < len(truth) else
                "intervals that overlap are one interval: merge them")
        return Verdict(False, f"Not quite for Exercise 1.5: you gave {len(spans)} interval(s), "
                              f"which is not the right number. Hint: {hint}")
    if np.any(spans[:, 0] > spans[:, 1]) or np.any(np.diff(spans[:, 0]) < 0):
        return Verdict(False, "Not quite for Exercise 1.5: give each pair as (lo, hi) with lo <= hi, "
                              "the intervals in increasing order.")
    off = np.abs(spans - np.asarray(truth))
    if np.all(off <= tol):
        return Verdict(True, f"Correct: the new surface has a spurious valley exactly on "
                             f"{len(truth)} separate ranges of levels, every end within {tol}.")
    wrong = [f"interval {i + 1} {'lower' if j == 0 else 'upper'} end (off by {off[i, j]:.3g})"
             for i, j in zip(*np.nonzero(off > tol))]
    return Verdict(False, f"Not quite for Exercise 1.5: wrong {', '.join(wrong)}; each end must be "
                          f"within {tol}. Hint: a spurious valley is born at the value of a minimum "
                          "other than the global one and lives until its branch of the merge tree "
                          "joins the branch of the global minimum.")
