"""Checkers for the exercises of chapter 6 (ResNets versus linear models).

Each checker takes the student's answer, or a zero-argument function returning it (the
exercise stub raises ``NotImplementedError`` until it is solved), and returns a
:class:`~lecture_lib.checks.verdict.Verdict`; graded cells call ``.assert_correct()`` on it.
Answers may be numbers, 0-d tensors, numpy scalars or arrays, tuples or lists.

The data of the exercises are generated here from a fixed numpy seed, kept read-only, and
handed out as fresh copies; the truth is computed with numpy (normal equations and the
closed-form gradient), not with :mod:`lecture_lib.topics.resnets`, so neither the student's
method nor a changed library can move it.

Example::

    >>> from lecture_lib.checks import ch06
    >>> ch06.check_best_linear_loss(1.0)   # doctest: +ELLIPSIS
    Not quite: ...
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from lecture_lib.checks.verdict import NotAnAnswer, Verdict, as_array, as_number, resolve


@functools.lru_cache(maxsize=None)
def _data():
    """``x (40, 3)``, ``y (40,)`` (a nonlinear target with a linear part), ``A (4, 3)``, ``b (4,)``."""
    rng = np.random.default_rng(606)
    x = rng.standard_normal((40, 3))
    y = x @ np.array([1.0, -0.5, 0.25]) + np.abs(x[:, 0] * x[:, 1]) + 0.1 * rng.standard_normal(40)
    A, b = rng.standard_normal((4, 3)), 0.3 * rng.standard_normal(4)
    for a in (x, y, A, b):
        a.setflags(write=False)
    return x, y, A, b


def exercise_data():
    """``(x, y)``: float64 tensors ``(40, 3)`` and ``(40, 1)``, fresh copies."""
    x, y, _, _ = _data()
    return torch.tensor(x), torch.tensor(y)[:, None]


def exercise_features():
    """``(A, b)``: the first layer of ``F_theta(x) = relu(A x + b)``, ``(4, 3)`` and ``(4,)``."""
    _, _, A, b = _data()
    return torch.tensor(A), torch.tensor(b)


def _linear(x, y, intercept=False):
    X = np.hstack([x, np.ones((len(x), 1))]) if intercept else x
    w = np.linalg.solve(X.T @ X, X.T @ y)  # normal equations
    return w, float(np.mean((X @ w - y) ** 2))


def check_best_linear_loss(answer, rtol: float = 1e-6) -> Verdict:
    """Exercise 6.3: the train loss ``min_w mean (w^T x_i - y_i)^2`` on :func:`exercise_data`."""
    got = resolve(answer, "Exercise 6.3 (The linear baseline)", "`best_linear_loss()`")
    if isinstance(got, Verdict):
        return got
    try:
        value = as_number(got, name="your loss")
    except NotAnAnswer as err:
        return Verdict(False, f"Expected one finite number (the loss), got something else: {err}")
    x, y, _, _ = _data()
    _, truth = _linear(x, y)
    _, with_intercept = _linear(x, y, intercept=True)
    err = abs(value - truth) / truth
    if err <= rtol:
        return Verdict(True, f"Correct: the best linear predictor has train loss {value:.6g}, the "
                             "value every local minimum of the ResNet must match or beat.")
    if abs(value - float(np.mean(y ** 2))) <= 1e-6 * truth:
        hint = "that is the loss of the zero predictor w = 0; solve the normal equations for w*"
    elif abs(value - with_intercept) <= 1e-6 * truth:
        hint = "you fitted an intercept; Phi(x) = w^T (x + V F(x)) has none, so neither does the slice"
    elif value < truth:
        hint = "no linear predictor has a smaller loss than the least-squares one: check the loss is a mean of squares"
    else:
        hint = "compute w* = (X^T X)^{-1} X^T y and the mean of (X w* - y)^2 (mean, not sum)"
    return Verdict(False, f"Not quite: your loss {value:.6g} is off by {100 * err:.2g}%. Hint: {hint}.")


def _grad_V(x, y, A, b):
    """``dL/dV`` at ``(w*, 0, A, b)``: ``(2/N) sum_i (w*^T x_i - y_i) w* F(x_i)^T``, ``(3, 4)``."""
    w, _ = _linear(x, y)
    F = np.maximum(x @ A.T + b, 0.0)  # (N, k)
    r = x @ w - y  # (N,)
    return 2.0 * np.outer(w, F.T @ r) / len(x)


def check_grad_V(answer, rtol: float = 1e-6) -> Verdict:
    """Exercise 6.2: the gradient ``dL/dV (3, 4)`` at the embedded best linear predictor
    ``(w*, V = 0, A, b)``, data :func:`exercise_data`, ``A, b`` :func:`exercise_features`."""
    got = resolve(answer, "Exercise 6.2 (Is the linear slice critical?)", "`grad_V_at_linear()`")
    if isinstance(got, Verdict):
        return got
    try:
        G = as_array(got, name="your gradient")
    except NotAnAnswer as err:
        return Verdict(False, f"Expected a 3 x 4 array of numbers: {err}")
    x, y, A, b = _data()
    truth = _grad_V(x, y, A, b)
    scale = float(np.abs(truth).max())
    if G.shape == truth.T.shape and G.shape != truth.shape:
        return Verdict(False, "Not quite: your gradient has shape 4 x 3; V maps R^k to R^n, so "
                              "dL/dV has the shape of V, n x k = 3 x 4 (transpose it).")
    if G.shape != truth.shape:
        return Verdict(False, f"Not quite: dL/dV has the shape of V, 3 x 4; got shape {G.shape}.")
    err = float(np.abs(G - truth).max()) / scale
    if err <= rtol:
        return Verdict(True, f"Correct: dL/dV = w* E[l'(w*^T x, y) F(x)]^T is not zero (largest entry "
                             f"{scale:.3g}), so the linear slice is not a critical set: moving V "
                             "lowers the loss below the best linear predictor.")
    if float(np.abs(G + truth).max()) / scale <= rtol:
        hint = "your sign is flipped: l'(p, y) = 2 (p - y), prediction minus target"
    elif float(np.abs(2 * G - truth).max()) / scale <= rtol:
        hint = "you dropped the factor 2 of d/dp (p - y)^2"
    elif float(np.abs(G).max()) <= 1e-12:
        hint = ("the gradient in w vanishes at w*, and the one in A, b vanishes at V = 0, but the one "
                "in V need not: differentiate Phi = w^T (x + V F(x)) in V")
    else:
        hint = "dPhi/dV = w F(x)^T; average l'(Phi(x_i), y_i) w F(x_i)^T over the 40 samples"
    return Verdict(False, f"Not quite: your gradient is off by {100 * err:.2g}% of its largest entry. "
                          f"Hint: {hint}.")
