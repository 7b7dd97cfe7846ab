"""Checkers for the exercises of chapter 2 (linear networks).

Each checker takes the student's function (the exercise stub raises ``NotImplementedError``
until it is solved), calls it on a few inputs, computes the truth independently (sympy,
:mod:`lecture_lib.symmetry`, the grids of :mod:`lecture_lib.widgets.linear`), prints a
verdict with a hint, and returns ``True`` or ``False``.

Example::

    >>> from lecture_lib.checks import ch02
    >>> ch02.check_hessian_at_origin(lambda K: [-2, 2] if K == 2 else [0] * K)
    Correct: at the origin the Hessian of (w_K ... w_1 - 1)^2 has eigenvalues [-2, 2] for K = 2 (a strict saddle) and [0, 0, 0] for K = 3 (degenerate).
    True
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp
import torch

_NOT_ATTEMPTED = object()


def _call(fn, *args):
    """``fn(*args)``, or ``_NOT_ATTEMPTED`` (with a hint printed) for a stub."""
    if not callable(fn):
        print(f"Expected a function, got {fn!r} of type {type(fn).__name__}.")
        return _NOT_ATTEMPTED
    try:
        return fn(*args)
    except NotImplementedError:
        print("Not attempted yet: replace the `raise NotImplementedError` line with your "
              "code and run this cell again.")
        return _NOT_ATTEMPTED


def hessian_eigenvalues_at_origin(K: int) -> list:
    """Eigenvalues (sorted, exact) of the Hessian of ``(w_K ... w_1 - 1)^2`` at ``w = 0``."""
    w = sp.symbols(f"w1:{K + 1}")
    H = sp.hessian((sp.Mul(*w) - 1) ** 2, w).subs({v: 0 for v in w})
    return sorted((ev for ev, mult in H.eigenvals().items() for _ in range(mult)), key=float)


def _numbers(got):
    try:
        return sorted(float(v) for v in np.asarray(got, dtype=object).ravel())
    except (TypeError, ValueError):
        return None


def check_hessian_at_origin(fn) -> bool:
    """``fn(K)`` returns the Hessian eigenvalues at the origin of ``(w_K ... w_1 - 1)^2``;
    checked for K = 2 and K = 3 against sympy."""
    truths = {K: hessian_eigenvalues_at_origin(K) for K in (2, 3)}
    for K, truth in truths.items():
        got = _call(fn, K)
        if got is _NOT_ATTEMPTED:
            return False
        vals = _numbers(got)
        if vals is None or len(vals) != K:
            print(f"For K = {K} expected {K} eigenvalues (one per parameter), got {got!r}.")
            return False
        if not np.allclose(vals, [float(t) for t in truth], atol=1e-8):
            hint = ("the off-diagonal entries are d^2E/dw_1 dw_2 = 2 (2 w_1 w_2 - 1) = -2 at 0"
                    if K == 2 else "every second derivative at 0 contains a factor w_k (k not differentiated)")
            print(f"Not quite for K = {K}: expected {truth}, got {vals}. Hint: {hint}.")
            return False
    print(f"Correct: at the origin the Hessian of (w_K ... w_1 - 1)^2 has eigenvalues {truths[2]} "
          f"for K = 2 (a strict saddle) and {truths[3]} for K = 3 (degenerate).")
    return True


def check_ridge_merge(fn, lambdas=(0.1, 0.3, 0.6, 0.9)) -> bool:
    """``fn(lam)`` returns ``(min_value, merge_level)`` of ``(w_1 w_2 - 1)^2 + lam (w_1^2 + w_2^2)``
    for ``0 < lam < 1``; checked against the closed form and against the widget's grid."""
    from lecture_lib.widgets import linear

    for lam in lambdas:
        got = _call(fn, lam)
        if got is _NOT_ATTEMPTED:
            return False
        try:
            m, u = (float(v) for v in got)
        except (TypeError, ValueError):
            print(f"Expected a pair (min_value, merge_level) for lambda = {lam}, got {got!r}.")
            return False
        view = linear.update(1.0, lam, 2)
        truth = (2 * lam - lam ** 2, 1.0)
        if not (math.isclose(m, truth[0], abs_tol=1e-6) and math.isclose(u, truth[1], abs_tol=1e-6)):
            hint = ("the minima are balanced, w_1 = w_2 = t with t^2 = 1 - lambda" if not
                    math.isclose(m, truth[0], abs_tol=1e-6) else
                    "the lowest pass between the two minima is the critical point at the origin")
            print(f"Not quite for lambda = {lam}: expected (min, merge) = ({truth[0]:.6g}, {truth[1]:.6g}), "
                  f"got ({m:.6g}, {u:.6g}); the grid of lecture_lib.widgets.linear gives "
                  f"({view.min_value:.4g}, {view.merge_level:.4g}). Hint: {hint}.")
            return False
    print(f"Correct: for 0 < lambda < 1 the minimum is 2 lambda - lambda^2 and the two valleys merge "
          f"at u = 1, the energy of the saddle at the origin, whatever lambda (grid at lambda = {lam}: "
          f"merge at {view.merge_level:.4g}).")
    return True


def check_gl_action(fn, seed: int = 0) -> bool:
    """``fn(weights, Us)`` implements ``W_k -> U_k W_k U_{k-1}^{-1}``; checked against
    :func:`lecture_lib.symmetry.gl_act` and for the invariance of the product."""
    from lecture_lib import symmetry

    g = torch.Generator().manual_seed(seed)
    widths = [3, 4, 5, 2]
    Ws = [torch.randn(o, i, generator=g, dtype=torch.float64) for i, o in zip(widths[:-1], widths[1:])]
    Us = [torch.randn(n, n, generator=g, dtype=torch.float64) + 2 * torch.eye(n, dtype=torch.float64)
          for n in widths[1:-1]]
    got = _call(fn, [W.clone() for W in Ws], [U.clone() for U in Us])
    if got is _NOT_ATTEMPTED:
        return False
    if not isinstance(got, (list, tuple)) or len(got) != len(Ws):
        print(f"Expected a list of {len(Ws)} matrices, got {type(got).__name__}.")
        return False
    want = symmetry.gl_act(Ws, Us)
    for k, (a, b) in enumerate(zip(got, want), start=1):
        if not isinstance(a, torch.Tensor) or a.shape != b.shape or not torch.allclose(a.double(), b, atol=1e-8):
            print(f"Not quite: W_{k} differs from U_{k} W_{k} U_{k - 1}^{{-1}} (with U_0 = U_K = I). "
                  f"Hint: the last layer has no U on its left, the first none on its right.")
            return False
    P, Q = symmetry.product(Ws), symmetry.product(list(got))
    print(f"Correct: your action matches lecture_lib.symmetry.gl_act, and the product moved by "
          f"{float((P - Q).abs().max()):.1e}: the loss, a function of the product, is invariant.")
    return True


def spurious_range(lam: float) -> tuple:
    """``[1, f(t_s))``: levels with a spurious valley at the origin for depth 3 and ridge ``lam``;
    ``t_s`` the smallest positive root of ``t^4 - t + lam`` (the balanced saddle),
    ``f(t) = (t^3 - 1)^2 + 3 lam t^2``; ``None`` when there is no such root."""
    roots = [r.real for r in np.roots([1, 0, 0, -1, lam]) if abs(r.imag) < 1e-12 and r.real > 0]
    if not roots:
        return None
    t = min(roots)
    return 1.0, float((t ** 3 - 1) ** 2 + 3 * lam * t ** 2)


def check_spurious_range(fn, lambdas=(0.1, 0.2, 0.3, 0.4)) -> bool:
    """``fn(lam)`` returns ``(lo, hi)``, the levels ``lo <= u < hi`` at which the depth-3 ridge
    energy has a spurious valley around the origin."""
    for lam in lambdas:
        got = _call(fn, lam)
        if got is _NOT_ATTEMPTED:
            return False
        try:
            lo, hi = (float(v) for v in got)
        except (TypeError, ValueError):
            print(f"Expected a pair (lo, hi) for lambda = {lam}, got {got!r}.")
            return False
        truth = spurious_range(lam)
        if not (math.isclose(lo, truth[0], abs_tol=1e-6) and math.isclose(hi, truth[1], abs_tol=1e-6)):
            print(f"Not quite for lambda = {lam}: expected ({truth[0]:.6g}, {truth[1]:.7g}), got "
                  f"({lo:.6g}, {hi:.7g}). Hint: the valley is born at E(0) = 1 and dies at the "
                  f"balanced saddle (t, t, t), where f'(t) = 0 for f(t) = (t^3 - 1)^2 + 3 lambda t^2.")
            return False
    print(f"Correct: the origin is a strict local minimum (Hessian 2 lambda I) holding no global "
          f"minimum; its valley lives for 1 <= u < f(t_s), e.g. up to {truth[1]:.5f} at lambda = {lam}.")
    return True
