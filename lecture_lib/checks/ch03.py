"""Checkers for the exercises of chapter 3 (quadratic networks and the lifting).

Each checker takes the student's function or answer (a zero-argument function returning
it also works: exercise stubs raise ``NotImplementedError`` until solved), computes the
truth with :mod:`lecture_lib.lifting`, prints a verdict with a hint and returns a bool.

Example::

    >>> from lecture_lib.checks import ch03
    >>> ch03.check_lift(lambda U, W: (W.T * U) @ W)
    Correct: your A equals sum_k u_k w_k w_k^T on 3 random networks (max error 8.9e-16).
    True
"""

from __future__ import annotations

import functools
import math
from numbers import Integral, Real

import torch

from lecture_lib.topics import lifting
from lecture_lib.data import linear_least_squares

_NOT_ATTEMPTED = object()
_HINT = ("Not attempted yet: replace the `raise NotImplementedError` line with your code "
         "and run this cell again.")


def _call(fn, *args):
    """``fn(*args)``, or ``_NOT_ATTEMPTED`` (after a friendly note) for an unsolved stub."""
    try:
        return fn(*args)
    except NotImplementedError:
        print(_HINT)
        return _NOT_ATTEMPTED


def _resolve(answer):
    return _call(answer) if callable(answer) else answer


def _networks(n_in=4, width=5, count=3):
    g = torch.Generator().manual_seed(2024)
    return [(torch.randn(width, generator=g, dtype=torch.float64),
             torch.randn(width, n_in, generator=g, dtype=torch.float64)) for _ in range(count)]


def check_lift(fn) -> bool:
    """``fn(U: (M,), W: (M, N)) -> A: (N, N)`` must return ``sum_k U_k w_k w_k^T``."""
    worst = 0.0
    for U, W in _networks():
        got = _call(fn, U.clone(), W.clone())
        if got is _NOT_ATTEMPTED:
            return False
        truth = lifting.lift(U, W)
        if not isinstance(got, torch.Tensor) or got.shape != truth.shape:
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            hint = ("W W^T is (M, M): the lifted matrix is W^T diag(U) W, of shape (N, N)"
                    if shape == (W.shape[0],) * 2 else "return a torch tensor of shape (N, N)")
            print(f"Expected a tensor of shape {tuple(truth.shape)}, got {shape}. Hint: {hint}.")
            return False
        got = got.to(truth.dtype)
        if torch.allclose(got, W.T @ W) and not torch.allclose(truth, W.T @ W):
            print("Not quite: you returned W^T W, which forgets the output weights. Hint: each "
                  "neuron enters as u_k w_k w_k^T.")
            return False
        worst = max(worst, float((got - truth).abs().max()))
    if worst <= 1e-8:
        print(f"Correct: your A equals sum_k u_k w_k w_k^T on 3 random networks (max error {worst:.1e}).")
        return True
    print(f"Not quite: the largest entry error is {worst:.3g}. Hint: A = sum_k u_k w_k w_k^T, "
          "with w_k the k-th row of W; check that <A, x x^T> equals U (W x)^2 for one x.")
    return False


def check_factorization(fn) -> bool:
    """``fn(A: (N, N)) -> (u: (M,), W: (M, N))`` with ``M <= N`` and ``lift(u, W) = A``."""
    g = torch.Generator().manual_seed(7)
    B = torch.randn(4, 4, generator=g, dtype=torch.float64)
    A = B @ torch.diag(torch.tensor([2.0, -1.0, 0.5, -3.0], dtype=torch.float64)) @ B.T
    got = _call(fn, A.clone())
    if got is _NOT_ATTEMPTED:
        return False
    if not (isinstance(got, (tuple, list)) and len(got) == 2
            and all(isinstance(t, torch.Tensor) for t in got)):
        print(f"Expected a pair (u, W) of tensors, got {type(got).__name__}.")
        return False
    u, W = (t.to(torch.float64) for t in got)
    if u.dim() != 1 or W.dim() != 2 or W.shape != (u.shape[0], 4):
        print(f"Expected u (M,) and W (M, 4) with the neurons as rows of W, got u "
              f"{tuple(u.shape)} and W {tuple(W.shape)}. Hint: eigh returns eigenvectors as columns.")
        return False
    if u.shape[0] > 4:
        print(f"Your factors use M = {u.shape[0]} neurons; the exercise asks for at most N = 4.")
        return False
    err = float((lifting.lift(u, W) - A).abs().max())
    if err <= 1e-8 * float(A.abs().max()):
        print(f"Correct: {u.shape[0]} neurons reproduce the indefinite 4 x 4 matrix (max error {err:.1e}).")
        return True
    wrong_axis = float((lifting.lift(u, W.T) - A).abs().max()) if W.shape[0] == 4 else math.inf
    hint = ("transpose your W: torch.linalg.eigh returns the eigenvectors as columns"
            if wrong_axis <= 1e-8 * float(A.abs().max()) else
            "take u = the eigenvalues and W = the eigenvectors (as rows) of A; negative "
            "eigenvalues are fine, since u may have any sign")
    print(f"Not quite: lift(u, W) differs from A by up to {err:.3g}. Hint: {hint}.")
    return False


@functools.lru_cache(maxsize=None)
def _exercise_arrays():
    g = torch.Generator().manual_seed(303)
    x = torch.randn(40, 3, generator=g, dtype=torch.float64)
    y = x[:, :1] * x[:, 1:2] - x[:, 2:] ** 2 + 0.5 * torch.randn(40, 1, generator=g, dtype=torch.float64)
    return x, y


@functools.lru_cache(maxsize=None)
def _planted_arrays():
    g = torch.Generator().manual_seed(304)
    W = torch.randn(3, 5, generator=g, dtype=torch.float64)  # three hidden neurons
    U = torch.tensor([1.0, -2.0, 0.7], dtype=torch.float64)
    x = torch.randn(60, 5, generator=g, dtype=torch.float64)
    return x, (x @ W.T).square() @ U[:, None]


def exercise_data():
    """The data of the global-minimum exercise: ``x (40, 3)``, ``y (40, 1)``, float64 (copies)."""
    return tuple(t.clone() for t in _exercise_arrays())


def planted_data():
    """Data planted by a hidden quadratic teacher: ``x (60, 5)``, ``y (60, 1)``, float64 (copies)."""
    return tuple(t.clone() for t in _planted_arrays())


def _number(answer, what):
    got = _resolve(answer)
    if got is _NOT_ATTEMPTED:
        return _NOT_ATTEMPTED
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    if not isinstance(got, Real) or isinstance(got, bool) or not math.isfinite(float(got)):
        print(f"Expected {what}, got {got!r} of type {type(got).__name__}.")
        return _NOT_ATTEMPTED
    return got


def check_global_minimum(answer, rtol: float = 1e-6) -> bool:
    """The global minimum of ``mean |U (W x)^2 - y|^2`` over networks of width ``M >= 3`` on
    :func:`exercise_data` (the lifted least-squares optimum)."""
    got = _number(answer, "one number (a loss value)")
    if got is _NOT_ATTEMPTED:
        return False
    x, y = exercise_data()
    truth = lifting.lifted_solution(x, y).loss
    if abs(got - truth) <= rtol * truth:
        print(f"Correct: E* = {truth:.6f} (you gave {got:.6f}),\n"
              f"the global minimum of the network loss at every width M >= 3.")
        return True
    diag = torch.linalg.lstsq(x ** 2, y).solution
    hints = [(float(y.square().mean()), "that is the loss of the zero network"),
             (linear_least_squares(x, y), "that is the best affine fit, not a quadratic form"),
             (float((x ** 2 @ diag - y).square().mean()), "you used only the diagonal features "
              "x_i^2; the cross terms x_i x_j matter too")]
    hint = next((h for v, h in hints if abs(got - v) <= 1e-6 * max(abs(v), 1e-12)),
                "solve the least squares over symmetric A with features svec(x x^T)")
    print(f"Not quite: expected E* = {truth:.6f}, got {got:.6g}. Hint: {hint}.")
    return False


def check_min_width(answer) -> bool:
    """The smallest width ``M`` whose network reaches the global minimum on :func:`planted_data`."""
    got = _number(answer, "an integer width M")
    if got is _NOT_ATTEMPTED:
        return False
    x, y = planted_data()
    sol = lifting.lifted_solution(x, y)
    truth, N = sol.ranks[0], x.shape[1]
    if isinstance(got, Integral) or float(got).is_integer():
        got = int(got)
    if got == truth:
        print(f"Correct: the lifted optimum has rank {truth}, so M = {truth} neurons represent it\n"
              f"(and M = {truth - 1} cannot: rank(W^T diag(u) W) <= M).")
        return True
    hints = {N: f"M = N = {N} always suffices, but fewer do when the optimum has lower rank",
             2 * N + 1: "that is the theorem's width for no spurious valleys, not the width "
                        "needed to represent the optimum",
             N * (N + 1) // 2: "that is the number of unknowns of the lifted problem"}
    print(f"Not quite: you gave {got}. Hint: {hints.get(got, 'compute the numerical rank of the lifted minimiser A*')}.")
    return False


def check_failure_table(answer, n_in: int = 3) -> bool:
    """Rows ``(M, fraction_at_E*, (p, q), stuck_sign_counts)`` for the random target at
    ``N = n_in``, as measured by :func:`lecture_lib.widgets.quadratic.update`; prints the
    table and checks every row against the widget's own results."""
    from lecture_lib.widgets import quadratic

    rows = _resolve(answer)
    if rows is _NOT_ATTEMPTED:
        return False
    if not rows or not all(isinstance(r, (tuple, list)) and len(r) == 4 for r in rows):
        print("Expected a list of rows (M, fraction, inertia, stuck sign counts), one per width.")
        return False
    ok = True
    for M, frac, inertia, stuck in rows:
        r = quadratic.update(int(M), n_in, "random")
        truth = [r.sign_counts[i] for i in range(r.n_seeds) if not r.reached[i]]
        good = (abs(float(frac) - r.fraction_reached) < 1e-9 and tuple(inertia) == r.inertia
                and [tuple(s) for s in stuck] == truth)
        ok &= good
        print(f"M={int(M)}: {r.fraction_reached:4.0%} at E*, inertia of A* {r.inertia}, stuck runs' "
              f"signs {truth}" + ("" if good else "   <- your row differs"))
    if ok:
        worst = [s for _, _, inertia, stuck in rows for s in stuck
                 if s[0] >= inertia[0] and s[1] >= inertia[1]]
        note = ("every stuck run has too few signs of one kind for the inertia of A*" if not worst
                else f"{len(worst)} stuck runs have enough signs: look at them")
        print(f"Correct: your table matches the widget's runs; {note}.")
        return True
    print("Not quite: compare your rows with the widget's above. Hint: use quadratic.update(M, "
          f"{n_in}, 'random') and its fields fraction_reached, inertia, sign_counts and reached.")
    return False
