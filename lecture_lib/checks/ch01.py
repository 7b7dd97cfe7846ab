"""Checkers for the exercises of chapter 1 (spurious valleys and sublevel sets).

Each checker takes the student's answer, or a zero-argument function returning it (the
exercise stub raises ``NotImplementedError`` until it is solved), computes the truth from
:mod:`lecture_lib.surfaces`, prints a verdict with a hint, and returns ``True`` or ``False``.

Example::

    >>> from lecture_lib.checks import ch01
    >>> ch01.check_merge_level(1.03)
    Correct: the two valleys of tilted_double_well merge at u* = 1.0315 (you gave 1.03).
    True
"""

from __future__ import annotations

import math
from numbers import Real

from lecture_lib import surfaces

_NOT_ATTEMPTED = object()


def _resolve(answer):
    """The answer itself, or ``answer()`` when callable; ``_NOT_ATTEMPTED`` for a stub."""
    if not callable(answer):
        return answer
    try:
        return answer()
    except NotImplementedError:
        print("Not attempted yet: replace the `raise NotImplementedError` line with your "
              "code and run this cell again.")
        return _NOT_ATTEMPTED


def _is_number(x) -> bool:
    return isinstance(x, Real) and not isinstance(x, bool) and math.isfinite(float(x))


def check_merge_level(answer, tol: float = 0.02) -> bool:
    """Check the level ``u*`` at which the two valleys of ``tilted_double_well`` merge.

    The truth is the energy at the surface's saddle, ``u* = 1.0315``; grid answers within
    ``tol`` pass.
    """
    got = _resolve(answer)
    if got is _NOT_ATTEMPTED:
        return False
    if not _is_number(got):
        print(f"Expected one finite number (a level u), got {got!r} of type {type(got).__name__}.")
        return False
    s = surfaces.get("tilted_double_well")
    truth, got = s.saddles[0][1], float(got)
    if abs(got - truth) <= tol:
        print(f"Correct: the two valleys of {s.name} merge at u* = {truth:.4f} (you gave {got:.4g}).")
        return True
    hints = [
        (s.minima[1][1], "that is the value of the shallow minimum, where its valley is born; "
                         "the valleys merge higher up, at the pass between them"),
        (s.global_min, "that is the global minimum value; the merge happens at the pass"),
        (s.saddles[0][0][0], "that is where the pass lies (its x coordinate); give its level"),
    ]
    hint = next((h for v, h in hints if abs(got - v) <= tol),
                "N_u drops from 2 to 1 at the merge: scan sublevel.components over u, or read "
                "sublevel.merge_tree(grid).merges")
    print(f"Not quite: expected the level at which N_u drops from 2 to 1 (within {tol}), "
          f"got {got:.4g}. Hint: {hint}.")
    return False


def check_spurious_interval(answer, tol: float = 0.5) -> bool:
    """Check ``(lo, hi)``: the levels ``lo <= u < hi`` at which ``muller_brown`` has a
    spurious valley. The truth is ``(E(B), E(S_AC)) = (-108.17, -40.66)``; ``tol`` is absolute.
    """
    got = _resolve(answer)
    if got is _NOT_ATTEMPTED:
        return False
    if not (isinstance(got, (tuple, list)) and len(got) == 2 and all(map(_is_number, got))):
        print(f"Expected a pair (lo, hi) of finite numbers, got {got!r}.")
        return False
    s = surfaces.get("muller_brown")
    (lo, hi), (t_lo, t_hi) = map(float, got), s.spurious_levels[0]
    ok_lo, ok_hi = abs(lo - t_lo) <= tol, abs(hi - t_hi) <= tol
    if ok_lo and ok_hi:
        print(f"Correct: muller_brown has a spurious valley exactly for {t_lo:.2f} <= u < "
              f"{t_hi:.2f} (you gave {lo:.4g}, {hi:.4g}).")
        return True
    if lo > hi:
        hint = "the pair looks reversed: give the lower level first"
    elif not ok_lo:
        hint = ("the first spurious valley is born with the second-deepest minimum"
                if abs(lo - s.minima[2][1]) > tol else
                "at that level a third valley appears, but one was already spurious before")
    else:
        hint = ("at that level two spurious valleys merge into one, which is still spurious"
                if abs(hi - s.saddles[1][1]) <= tol else
                "spurious valleys last until the last merge, when everything joins the global well")
    print(f"Not quite: expected the levels where some valley holds no global minimum (each end "
          f"within {tol}), got ({lo:.4g}, {hi:.4g}); lower end {'right' if ok_lo else 'wrong'}, "
          f"upper end {'right' if ok_hi else 'wrong'}. Hint: {hint}.")
    return False
