"""Checkers for the exercises of chapter 3 (quadratic networks and the lifting).

Each checker takes the student's function or answer (a zero-argument function returning it
also works: exercise stubs raise ``NotImplementedError`` until solved) and returns a
:class:`~lecture_lib.checks.verdict.Verdict` whose ``repr`` is the message; graded cells call
``.assert_correct()``. Tensors, numpy arrays and scalars, tuples and lists are all accepted;
NaN and infinities never pass. The truth is computed here in numpy, from private read-only
arrays, independently of :mod:`lecture_lib.topics.lifting`; a wrong answer is told how far
off it is, never what was expected.

Example::

    >>> from lecture_lib.checks import ch03
    >>> ch03.check_lift(lambda U, W: W.T @ W)
    Not quite: you returned W^T W, which forgets the output weights. Hint: each neuron enters as u_k w_k w_k^T.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from lecture_lib.checks.verdict import NotAnAnswer, Verdict, as_array, as_number, resolve


def _call(fn, exercise, what, *args):
    """``fn(*args)`` (or ``fn`` itself when it is not callable and takes no arguments), or
    the "not attempted" :class:`Verdict` for a stub."""
    if not callable(fn):
        return Verdict(False, f"{exercise}: expected the function {what}, got {type(fn).__name__}.")
    try:
        return fn(*args)
    except NotImplementedError:
        return Verdict(False, f"Not attempted yet: {exercise}. Write {what} (replace the "
                              "`raise NotImplementedError` line) and run this cell again.",
                       attempted=False)


def _frozen(*arrays):
    for a in arrays:
        a.setflags(write=False)
    return arrays


@functools.lru_cache(maxsize=None)
def _networks(n_in=4, width=5, count=3):
    g = np.random.default_rng(2024)
    return tuple(_frozen(g.standard_normal(width), g.standard_normal((width, n_in))) for _ in range(count))


def _lift(U, W):
    return (W.T * U) @ W


def check_lift(fn) -> Verdict:
    """Exercise 3.1: ``fn(U: (M,), W: (M, N)) -> A: (N, N)`` must return ``sum_k U_k w_k w_k^T``
    (torch tensors in, a tensor or an array out)."""
    worst = 0.0
    for U, W in _networks():
        got = _call(fn, "Exercise 3.1", "`lift_by_hand(U, W)` returning the (N, N) matrix",
                    torch.tensor(U), torch.tensor(W))
        if isinstance(got, Verdict):
            return got
        truth = _lift(U, W)
        try:
            A = as_array(got, name="A", shape=truth.shape)
        except NotAnAnswer as error:
            hint = ("W W^T is (M, M): the lifted matrix is W^T diag(U) W, of shape (N, N)"
                    if "shape (5, 5)" in str(error) else "return the (N, N) matrix, with finite entries")
            return Verdict(False, f"Not quite: {error}. Hint: {hint}.")
        if np.allclose(A, W.T @ W) and not np.allclose(truth, W.T @ W):
            return Verdict(False, "Not quite: you returned W^T W, which forgets the output weights. "
                                  "Hint: each neuron enters as u_k w_k w_k^T.")
        worst = max(worst, float(np.max(np.abs(A - truth))))
    if worst <= 1e-8:
        return Verdict(True, f"Correct: your A equals sum_k u_k w_k w_k^T on 3 random networks "
                             f"(max error {worst:.1e}).")
    return Verdict(False, f"Not quite: the largest entry error is {worst:.3g}. Hint: A = sum_k u_k "
                          "w_k w_k^T, with w_k the k-th row of W; check that <A, x x^T> equals "
                          "U (W x)^2 for one x.")


@functools.lru_cache(maxsize=None)
def _factorization_cases():
    """Three 4 x 4 symmetric matrices: indefinite of full rank, positive semidefinite of rank
    2, indefinite of rank 3."""
    g = np.random.default_rng(7)
    cases = []
    for spectrum in ([2.0, -1.0, 0.5, -3.0], [1.5, 0.0, 0.7, 0.0], [0.0, -2.0, 1.0, 0.4]):
        Q = np.linalg.qr(g.standard_normal((4, 4)))[0]
        B = Q @ np.diag(1.0 + g.random(4))  # not orthogonal: the eigenvectors must be computed
        A = B @ np.diag(spectrum) @ B.T
        cases.append((_frozen((A + A.T) / 2)[0], int(np.count_nonzero(spectrum))))
    return tuple(cases)


def check_factorization(fn) -> Verdict:
    """Exercise 3.2: ``fn(A: (N, N)) -> (u: (M,), W: (M, N))`` with ``M <= N`` and
    ``W^T diag(u) W = A``; checked on an indefinite matrix of full rank and on two rank-deficient
    ones (one semidefinite, one indefinite)."""
    what = "`width_n_factors(A)` returning the pair (u, W)"
    for k, (A, rank) in enumerate(_factorization_cases(), start=1):
        kind = ("an indefinite matrix of full rank", "a semidefinite matrix of rank 2",
                "an indefinite matrix of rank 3")[k - 1]
        got = _call(fn, "Exercise 3.2", what, torch.tensor(A))
        if isinstance(got, Verdict):
            return got
        if isinstance(got, (str, bytes, dict)) or not hasattr(got, "__len__") or len(got) != 2:
            return Verdict(False, f"Expected a pair (u, W), got {type(got).__name__}.")
        try:
            u = as_array(got[0], name="u", shape=(-1,))
            W = as_array(got[1], name="W", shape=(len(u), 4))
        except NotAnAnswer as error:
            return Verdict(False, f"Expected u of shape (M,) and W of shape (M, 4), the neurons as "
                                  f"rows of W: {error}. Hint: eigh returns eigenvectors as columns.")
        if len(u) > 4:
            return Verdict(False, f"Your factors use M = {len(u)} neurons; the exercise asks for at "
                                  "most N = 4.")
        scale = float(np.max(np.abs(A)))
        err = float(np.max(np.abs(_lift(u, W) - A)))
        if err > 1e-8 * scale:
            swapped = _lift(u, W.T) if W.shape == (4, 4) else None
            hint = ("transpose your W: torch.linalg.eigh returns the eigenvectors as columns"
                    if swapped is not None and np.max(np.abs(swapped - A)) <= 1e-8 * scale else
                    "take u = the eigenvalues and W = the eigenvectors (as rows) of A; negative "
                    "eigenvalues are fine, since u may have any sign")
            return Verdict(False, f"Not quite on {kind}: W^T diag(u) W differs from A by up to "
                                  f"{err:.3g}. Hint: {hint}.")
    return Verdict(True, "Correct: your factors reproduce an indefinite matrix of full rank and two "
                         "rank-deficient ones (max error below 1e-8 of their size).")


@functools.lru_cache(maxsize=None)
def _exercise_arrays():
    g = torch.Generator().manual_seed(303)
    x = torch.randn(40, 3, generator=g, dtype=torch.float64)
    y = x[:, :1] * x[:, 1:2] - x[:, 2:] ** 2 + 0.5 * torch.randn(40, 1, generator=g, dtype=torch.float64)
    return _frozen(x.numpy().copy(), y.numpy().copy())


@functools.lru_cache(maxsize=None)
def _planted_arrays():
    g = torch.Generator().manual_seed(304)
    W = torch.randn(3, 5, generator=g, dtype=torch.float64)  # three hidden neurons
    U = torch.tensor([1.0, -2.0, 0.7], dtype=torch.float64)
    x = torch.randn(60, 5, generator=g, dtype=torch.float64)
    return _frozen(x.numpy().copy(), ((x @ W.T).square() @ U[:, None]).numpy().copy())


def exercise_data():
    """The data of Exercise 3.3: ``x (40, 3)``, ``y (40, 1)``, float64 tensors (copies)."""
    return tuple(torch.tensor(a) for a in _exercise_arrays())


def planted_data():
    """Data planted by a hidden quadratic teacher (Exercise 3.4): ``x (60, 5)``, ``y (60, 1)``,
    float64 tensors (copies)."""
    return tuple(torch.tensor(a) for a in _planted_arrays())


def _quadratic_lstsq(x, y):
    """``(min value, minimiser A)`` of ``mean (x^T A x - y)^2`` over symmetric ``A``, in numpy:
    features ``x_p x_q`` (``p <= q``) and ``numpy.linalg.lstsq``."""
    n, N = x.shape
    i, j = np.triu_indices(N)
    Phi = x[:, i] * x[:, j]
    coef = np.linalg.lstsq(Phi, y[:, 0], rcond=None)[0]
    A = np.zeros((N, N))
    A[i, j] = np.where(i == j, coef, coef / 2)
    A = A + np.triu(A, 1).T
    return float(np.mean((Phi @ coef - y[:, 0]) ** 2)), A


def _number(answer, exercise, what):
    got = resolve(answer, exercise, what)
    if isinstance(got, Verdict):
        return got
    try:
        return as_number(got, name="your answer")
    except NotAnAnswer as error:
        return Verdict(False, f"Expected one number: {error}.")


def check_global_minimum(answer, rtol: float = 1e-6) -> Verdict:
    """Exercise 3.3: the global minimum of ``mean |U (W x)^2 - y|^2`` over networks of width
    ``M >= 3`` on :func:`exercise_data`, within ``rtol`` (relative)."""
    got = _number(answer, "Exercise 3.3", "`global_minimum()` returning one loss value")
    if isinstance(got, Verdict):
        return got
    x, y = _exercise_arrays()
    truth, _ = _quadratic_lstsq(x, y)
    if abs(got - truth) <= rtol * truth:
        return Verdict(True, f"Correct: {got:.6f} is the global minimum of the network loss at every "
                             "width M >= 3, found without training.")
    affine = np.column_stack([x, np.ones(len(x))])
    diag = np.linalg.lstsq(x ** 2, y, rcond=None)[0]
    hints = [(float(np.mean(y ** 2)), "that is the loss of the zero network"),
             (float(np.mean((affine @ np.linalg.lstsq(affine, y, rcond=None)[0] - y) ** 2)),
              "that is the best affine fit, not a quadratic form"),
             (float(np.mean((x ** 2 @ diag - y) ** 2)), "you used only the diagonal features "
              "x_i^2; the cross terms x_i x_j matter too")]
    hint = next((h for v, h in hints if abs(got - v) <= 1e-6 * max(abs(v), 1e-12)),
                "solve the least squares over symmetric A with features x_p x_q, p <= q")
    return Verdict(False, f"Not quite: your value is off by {abs(got - truth) / truth:.2%} of the "
                          f"minimum ({'too high' if got > truth else 'too low: no network gets there'}). "
                          f"Hint: {hint}.")


def check_min_width(answer) -> Verdict:
    """Exercise 3.4: the smallest width ``M`` whose network reaches the global minimum on
    :func:`planted_data`."""
    got = _number(answer, "Exercise 3.4", "`smallest_width()` returning an integer width M")
    if isinstance(got, Verdict):
        return got
    if not float(got).is_integer():
        return Verdict(False, f"Expected an integer width M, got {got!r}.")
    got = int(got)
    x, y = _planted_arrays()
    _, A = _quadratic_lstsq(x, y)
    lam = np.linalg.eigvalsh(A)
    truth, N = int(np.sum(np.abs(lam) > 1e-9 * np.max(np.abs(lam)))), x.shape[1]
    if got == truth:
        return Verdict(True, f"Correct: the lifted optimum has rank {got}, so M = {got} neurons "
                             f"represent it (and M = {got - 1} cannot: rank(W^T diag(u) W) <= M).")
    hints = {N: f"M = N = {N} always suffices, but fewer do when the optimum has lower rank",
             2 * N + 1: "that is the theorem's width for no spurious valleys, not the width "
                        "needed to represent the optimum",
             N * (N + 1) // 2: "that is the number of unknowns of the lifted problem"}
    return Verdict(False, f"Not quite: M = {got} is {'too many' if got > truth else 'too few'}. "
                          f"Hint: {hints.get(got, 'compute the numerical rank of the lifted minimiser A*')}.")


FAILURE_WIDTHS = tuple(range(3, 10))


@functools.lru_cache(maxsize=None)
def _failure_truth(n_in: int) -> tuple:
    """Immutable rows ``(M, fraction, (p, q), ((n_pos, n_neg), ...))`` from runs of
    :func:`lecture_lib.widgets.quadratic.experiment` of this checker's own (``path=False``, a
    cache entry of its own)."""
    from lecture_lib.widgets import quadratic

    rows = []
    for M in FAILURE_WIDTHS:
        r = quadratic.experiment(n_in, M, "random", path=False)
        stuck = tuple(tuple(int(c) for c in r.sign_counts[i]) for i in range(r.n_seeds) if not bool(r.reached[i]))
        rows.append((M, float(r.fraction_reached), tuple(int(c) for c in r.inertia), stuck))
    return tuple(rows)


def _row(row, k):
    if isinstance(row, (str, bytes, dict)) or not hasattr(row, "__len__") or len(row) != 4:
        raise NotAnAnswer(f"row {k} must be (M, fraction, inertia, stuck sign counts), got {row!r:.80}")
    M = as_number(row[0], name=f"M in row {k}")
    if not M.is_integer():
        raise NotAnAnswer(f"M in row {k} must be an integer width, got {M!r}")
    inertia = as_array(row[2], name=f"the inertia in row {k}", shape=(2,))
    stuck = as_array(row[3], name=f"the stuck sign counts in row {k}") if len(row[3]) else np.zeros((0, 2))
    if stuck.ndim != 2 or stuck.shape[1] != 2:
        raise NotAnAnswer(f"the stuck sign counts in row {k} must be pairs (n_pos, n_neg), got shape {stuck.shape}")
    return int(M), as_number(row[1], name=f"the fraction in row {k}"), inertia, stuck


def check_failure_table(answer, n_in: int = 3) -> Verdict:
    """Exercise 3.5: one row ``(M, fraction_at_E*, (p, q), stuck_sign_counts)`` for every width
    ``M = 3, ..., 9`` at ``N = n_in`` for the random target, as the widget's runs measure them
    (:func:`lecture_lib.widgets.quadratic.update`). Compares the complete table."""
    rows = resolve(answer, "Exercise 3.5", "`failure_table()` returning one row per width M = 3, ..., 9")
    if isinstance(rows, Verdict):
        return rows
    if isinstance(rows, (str, bytes, dict)) or not hasattr(rows, "__len__"):
        return Verdict(False, f"Expected a list of rows, got {type(rows).__name__}.")
    try:
        got = [_row(r, k) for k, r in enumerate(rows, start=1)]
    except NotAnAnswer as error:
        return Verdict(False, f"Not quite: {error}.")
    truth = {M: row for M, *row in (r for r in _failure_truth(int(n_in)))}
    widths = [M for M, *_ in got]
    missing = [M for M in FAILURE_WIDTHS if M not in widths]
    extra = sorted({M for M in widths if M not in truth} | {M for M in widths if widths.count(M) > 1})
    if missing or extra:
        return Verdict(False, "Not quite: the table needs exactly one row per width M = 3, ..., 9"
                              + (f"; missing M = {missing}" if missing else "")
                              + (f"; unexpected or repeated M = {extra}" if extra else "") + ".")
    wrong = []
    for M, frac, inertia, stuck in got:
        t_frac, t_inertia, t_stuck = truth[M]
        fields = [name for name, ok in (
            ("fraction", abs(frac - t_frac) < 1e-9), ("inertia", tuple(inertia) == t_inertia),
            ("stuck sign counts", [tuple(s) for s in stuck.astype(int).tolist()] == list(t_stuck)
             and np.all(stuck == np.round(stuck)))) if not ok]
        if fields:
            wrong.append(f"M = {M} ({', '.join(fields)})")
    if wrong:
        return Verdict(False, f"Not quite: rows differ from the widget's runs at {'; '.join(wrong)}. "
                              f"Hint: use quadratic.update(M, {n_in}, 'random') and its fields "
                              "fraction_reached, inertia, sign_counts and reached (a run is stuck "
                              "when reached is False), in seed order.")
    enough = sum(s[0] >= t[1][0] and s[1] >= t[1][1] for t in truth.values() for s in t[2])
    note = ("every stuck run has too few output weights of one sign for the inertia of A*"
            if not enough else f"{enough} stuck runs have enough signs of both kinds: look at them")
    return Verdict(True, f"Correct: your table matches the widget's runs at all {len(got)} widths; {note}.")
