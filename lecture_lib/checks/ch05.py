"""Checkers for the exercises of chapter 5 (energy barriers and level-set geodesics).

Each checker takes the student's function, calls it on data made here from a private seed
(fresh copies every call, so a function that mutates its inputs cannot move the truth), and
returns a :class:`~lecture_lib.checks.verdict.Verdict`. The truth is computed with numpy,
independently of :mod:`lecture_lib.topics.barriers`.

Example::

    >>> from lecture_lib.checks import ch05
    >>> ch05.check_normalized_length(lambda nodes: 2.0)   # doctest: +ELLIPSIS
    Not quite: ...
"""

from __future__ import annotations

import numpy as np
import torch

from lecture_lib.checks.verdict import NotAnAnswer, Verdict, as_array, as_number, relative_error

_RTOL = 1e-6


def _call(fn, exercise, what, *args):
    """``fn(*args)``; a stub (``NotImplementedError``) gives the "Not attempted" verdict."""
    if not callable(fn):
        return Verdict(False, f"{exercise}: pass the function {what} itself, not its value")
    try:
        return fn(*args)
    except NotImplementedError:
        from lecture_lib.checks.verdict import not_attempted
        return not_attempted(exercise, what)


def _quadratic_data(seed):
    rng = np.random.default_rng(seed)
    n, N = 120 + 10 * seed, 3 + seed
    x = rng.standard_normal((n, N))
    y = (x @ rng.standard_normal((N, N)) * x).sum(1) + 0.3 * rng.standard_normal(n) + np.abs(x[:, 0])
    return x, y


def _min_quadratic_risk_truth(x, y):
    n, N = x.shape
    iu = np.triu_indices(N)
    feats = (x[:, :, None] * x[:, None, :])[:, iu[0], iu[1]]  # symmetric basis, (n, N(N+1)/2)
    coef, *_ = np.linalg.lstsq(feats, y, rcond=None)
    return float(np.mean((feats @ coef - y) ** 2))


def check_min_quadratic_risk(fn) -> Verdict:
    """Exercise 5.3: ``fn(x, y)`` returns ``min_{B = B^T} mean_i (y_i - x_i^T B x_i)^2`` for
    ``x (n, N)`` and ``y (n,)`` float64 tensors (``beta(f(N), N)``)."""
    ex, what = "Exercise 5.3", "min_quadratic_risk(x, y)"
    for seed in (0, 1):
        x, y = _quadratic_data(seed)
        got = _call(fn, ex, what, torch.tensor(x), torch.tensor(y))
        if isinstance(got, Verdict):
            return got
        try:
            value = as_number(got, name="min_quadratic_risk(x, y)")
        except NotAnAnswer as err:
            return Verdict(False, f"{ex}: {err}")
        truth = _min_quadratic_risk_truth(x, y)
        err = relative_error(value, truth)
        if err > 1e-5:
            hint = ("lower than any symmetric B can reach: is B symmetric, and the loss a mean?"
                    if value < truth else "above the minimum: solve the least-squares problem exactly "
                    "(it is linear in the entries of B)")
            return Verdict(False, f"Not quite: on test data with N = {x.shape[1]} your value is off by "
                                  f"a relative {err:.2g}; {hint}")
    return Verdict(True, f"Correct: {ex}, the exact minimum on two data sets (relative error <= 1e-5).")


def _polylines():
    rng = np.random.default_rng(5)
    straight = np.linspace(0, 1, 5)[:, None] * rng.standard_normal((1, 7))
    corner = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    walk = np.cumsum(rng.standard_normal((9, 4)), 0)
    return straight, corner, walk


def check_normalized_length(fn) -> Verdict:
    """Exercise 5.5: ``fn(nodes)`` returns the length of the polygon through the rows of
    ``nodes (K, d)`` divided by the distance between its first and last rows."""
    ex, what = "Exercise 5.5", "normalized_length(nodes)"
    for nodes in _polylines():
        got = _call(fn, ex, what, torch.tensor(nodes))
        if isinstance(got, Verdict):
            return got
        try:
            value = as_number(got, name="normalized_length(nodes)")
        except NotAnAnswer as err:
            return Verdict(False, f"{ex}: {err}")
        seg = np.linalg.norm(np.diff(nodes, axis=0), axis=1).sum()
        truth = seg / np.linalg.norm(nodes[-1] - nodes[0])
        if relative_error(value, truth) > _RTOL:
            hint = ("a normalized length is never below 1 (triangle inequality)" if value < 1 else
                    "sum the distances between consecutive nodes, then divide by |last - first|")
            return Verdict(False, f"Not quite: on a test path with {len(nodes)} nodes your value is off by "
                                  f"a relative {relative_error(value, truth):.2g}; {hint}")
    return Verdict(True, f"Correct: {ex}, on a straight, a bent and a random path.")


def _kink_data():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((60, 2))
    return x, (x ** 2).sum(1, keepdims=True), (1.0, 0.3), np.array([0.7, -0.4]), 0.2, 1.5


def _kink_truth(x, y, slopes, a, b, v):
    """``(E(t) - E(0)) / t^2`` on each side, from the risk itself (not the closed form)."""
    n = len(x)
    X1 = np.hstack([x, np.ones((n, 1))])
    fit = X1 @ np.linalg.lstsq(X1, y, rcond=None)[0]
    h = lambda z: np.where(z > 0, slopes[0] * z, slopes[1] * z)
    risk = lambda t: np.mean((y[:, 0] - fit[:, 0] - t * v * h(t * (x @ a + b))) ** 2)
    t = 1e-4
    return (risk(t) - risk(0.0)) / t ** 2, (risk(-t) - risk(0.0)) / t ** 2


def check_kink_coefficients(fn) -> Verdict:
    """Exercise 5.4: ``fn(x, y, slopes, a, b, v)`` returns ``(c_plus, c_minus)``, the
    one-sided second-order coefficients of the risk when a unit ``(t a, t b, t v)`` is added
    at the kink to the affine-fit point."""
    ex, what = "Exercise 5.4", "kink_coefficients(x, y, slopes, a, b, v)"
    x, y, slopes, a, b, v = _kink_data()
    got = _call(fn, ex, what, torch.tensor(x), torch.tensor(y), slopes, torch.tensor(a), b, v)
    if isinstance(got, Verdict):
        return got
    try:
        value = as_array(got, name="(c_plus, c_minus)", shape=(2,))
    except NotAnAnswer as err:
        return Verdict(False, f"{ex}: {err}")
    truth = np.array(_kink_truth(x, y, slopes, a, b, v))
    err = relative_error(value, truth)
    if err > 1e-3:
        hint = ("the two coefficients should have opposite signs" if value[0] * value[1] > 0 else
                "use the residuals of the affine fit and the positive homogeneity of h")
        return Verdict(False, f"Not quite: your coefficients are off by a relative {err:.2g}; {hint}")
    return Verdict(True, f"Correct: {ex}, both one-sided coefficients (relative error {err:.1e}).")
