"""Checkers for the exercises of chapter 2 (linear networks).

Each checker takes the student's function (the exercise stub raises ``NotImplementedError``
until it is solved), calls it on inputs of its own, and returns a
:class:`~lecture_lib.checks.verdict.Verdict` whose ``repr`` is the message; graded cells call
``.assert_correct()``. Answers may be numbers, 0-d tensors, numpy scalars or arrays, tuples
or lists; strings and dicts are refused. The truth is computed independently of the
exercise's intended method (sympy, a dense one-dimensional scan refined by scipy, numpy
products), from data private to this module, and a wrong answer is told how far off it is,
never what was expected.

Example::

    >>> from lecture_lib.checks import ch02
    >>> ch02.check_hessian_at_origin(lambda K: ["-2", "2"])   # doctest: +ELLIPSIS
    Expected K = 2 numbers, one eigenvalue per parameter: ...
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.optimize
import sympy as sp
import torch

from lecture_lib.checks.verdict import NotAnAnswer, Verdict, as_array, as_number


def _call(fn, exercise, what, *args):
    """``fn(*args)``, or the "not attempted" :class:`Verdict` for a stub."""
    if not callable(fn):
        return Verdict(False, f"{exercise}: expected the function {what}, got "
                              f"{type(fn).__name__} {fn!r:.60}.")
    try:
        return fn(*args)
    except NotImplementedError:
        return Verdict(False, f"Not attempted yet: {exercise}. Write {what} (replace the "
                              "`raise NotImplementedError` line) and run this cell again.",
                       attempted=False)


@functools.lru_cache(maxsize=None)
def _hessian_eigenvalues(K: int) -> tuple:
    """Eigenvalues (sorted floats) of the Hessian of ``(w_K ... w_1 - 1)^2`` at ``w = 0``."""
    w = sp.symbols(f"w1:{K + 1}")
    H = sp.hessian((sp.Mul(*w) - 1) ** 2, w).subs({v: 0 for v in w})
    return tuple(sorted(float(ev) for ev, mult in H.eigenvals().items() for _ in range(mult)))


def _exact_to_float(got):
    """Exact sympy numbers (what ``Matrix.eigenvals`` returns) as floats; anything else as is."""
    if isinstance(got, sp.Basic) and got.is_number:
        return float(got)
    if isinstance(got, (list, tuple)) and any(isinstance(v, sp.Basic) for v in got):
        return [float(v) if isinstance(v, sp.Basic) and v.is_number else v for v in got]
    if isinstance(got, sp.MatrixBase):
        return [float(v) for v in got]
    return got


def check_hessian_at_origin(fn) -> Verdict:
    """Exercise 2.3: ``fn(K)`` returns the eigenvalues of the Hessian at the origin of
    ``(w_K ... w_1 - 1)^2``, in any order; checked for K = 2 and K = 3 against sympy."""
    what = "`hessian_at_origin(K)` returning the K eigenvalues"
    for K in (2, 3):
        got = _call(fn, "Exercise 2.3", what, K)
        if isinstance(got, Verdict):
            return got
        try:
            vals = np.sort(as_array(_exact_to_float(got), name=f"the eigenvalues for K = {K}", shape=(-1,)))
            if vals.size != K:
                raise NotAnAnswer(f"got {vals.size} values")
        except NotAnAnswer as error:
            return Verdict(False, f"Expected K = {K} numbers, one eigenvalue per parameter: {error}.")
        off = float(np.max(np.abs(vals - np.asarray(_hessian_eigenvalues(K)))))
        if off > 1e-8:
            hint = ("the Hessian is 2 grad p grad p^T + 2 (p - 1) Hess p with p = w_1 w_2; "
                    "at 0 only the mixed second derivative of p survives" if K == 2 else
                    "every second derivative of p = w_1 w_2 w_3 at 0 still contains a factor w_k")
            return Verdict(False, f"Not quite for K = {K}: your eigenvalues are off by up to "
                                  f"{off:.3g}. Hint: {hint}.")
    return Verdict(True, "Correct for K = 2 and K = 3: the origin is a strict saddle for two "
                         "layers and a degenerate critical point for three.")


def _grid_ridge(lam: float, resolution: int = 2001) -> tuple:
    """``(min value, merge level)`` of ``(w_1 w_2 - 1)^2 + lam (w_1^2 + w_2^2)`` computed
    without its closed form: the minimum by ``scipy.optimize.minimize`` from ``(1, 1)``; the
    merge level of the minima in the quadrants ``w_1 w_2 > 0`` as the lowest value on the
    set ``w_1 w_2 <= 0`` that separates them (on it ``E >= 1 + lam |w|^2``), scanned densely."""
    E = lambda w: (w[0] * w[1] - 1) ** 2 + lam * (w[0] ** 2 + w[1] ** 2)  # noqa: E731
    low = float(scipy.optimize.minimize(E, np.array([1.0, 1.0]), tol=1e-14).fun)
    s = np.linspace(-3.0, 3.0, resolution)
    axis = np.concatenate([np.stack([s, 0 * s]), np.stack([0 * s, s]), np.stack([s, -s])], axis=1)
    return low, float(E(axis).min())


def check_ridge_merge(fn, lambdas=(0.1, 0.3, 0.6, 0.9), tol: float = 2e-3) -> Verdict:
    """Exercise 2.4: ``fn(lam)`` returns ``(min_value, merge_level)`` of
    ``(w_1 w_2 - 1)^2 + lam (w_1^2 + w_2^2)`` for ``0 < lam < 1``; each within ``tol``
    (a grid of the widget's resolution is that close)."""
    what = "`ridge_merge(lam)` returning the pair (min_value, merge_level)"
    for lam in lambdas:
        got = _call(fn, "Exercise 2.4", what, lam)
        if isinstance(got, Verdict):
            return got
        try:
            m, u = as_array(got, name=f"the answer for lambda = {lam}", shape=(2,))
        except NotAnAnswer as error:
            return Verdict(False, f"Expected a pair (min_value, merge_level) of numbers: {error}.")
        t_m, t_u = _grid_ridge(float(lam))
        if abs(m - t_m) > tol:
            return Verdict(False, f"Not quite for lambda = {lam}: your minimum value is off by "
                                  f"{abs(m - t_m):.3g}. Hint: the minima are balanced, w_1 = w_2 = t, "
                                  "and t solves a quadratic equation in t^2.")
        if abs(u - t_u) > tol:
            return Verdict(False, f"Not quite for lambda = {lam}: your merge level is off by "
                                  f"{abs(u - t_u):.3g}. Hint: any path between the two minima "
                                  "crosses the set w_1 w_2 <= 0; what is the lowest energy there?")
    return Verdict(True, f"Correct for lambda in {tuple(lambdas)}: the minimum moves with lambda, "
                         "the merge level does not.")


def _gl_problem(seed: int):
    g = torch.Generator().manual_seed(seed)
    widths = [3, 4, 5, 2]
    Ws = [torch.randn(o, i, generator=g, dtype=torch.float64) for i, o in zip(widths[:-1], widths[1:])]
    Us = [torch.randn(n, n, generator=g, dtype=torch.float64) + 2 * torch.eye(n, dtype=torch.float64)
          for n in widths[1:-1]]
    return Ws, Us


def check_gl_action(fn, seed: int = 0) -> Verdict:
    """Exercise 2.2: ``fn(weights, Us)`` returns ``[U_1 W_1, U_2 W_2 U_1^{-1}, ..., W_K U_{K-1}^{-1}]``
    (tensors or numpy arrays); checked on a random network ``3 -> 4 -> 5 -> 2``."""
    Ws, Us = _gl_problem(seed)
    got = _call(fn, "Exercise 2.2", "`act(weights, Us)` returning the list of moved matrices",
                [W.clone() for W in Ws], [U.clone() for U in Us])
    if isinstance(got, Verdict):
        return got
    if isinstance(got, (str, bytes, dict)) or not hasattr(got, "__len__") or len(got) != len(Ws):
        return Verdict(False, f"Expected a list of {len(Ws)} matrices, got {type(got).__name__}.")
    # The truth in numpy, with explicit inverses: independent of lecture_lib.symmetry.
    Wn, Un = [W.numpy() for W in Ws], [np.eye(3)] + [U.numpy() for U in Us] + [np.eye(2)]
    for k, (a, W) in enumerate(zip(got, Wn), start=1):
        want = Un[k] @ W @ np.linalg.inv(Un[k - 1])
        try:
            a = as_array(a, name=f"W_{k}", shape=want.shape)
        except NotAnAnswer as error:
            return Verdict(False, f"Not quite: {error}. Hint: the action keeps every shape.")
        off = float(np.max(np.abs(a - want)))
        if off > 1e-8 * max(1.0, float(np.max(np.abs(want)))):
            return Verdict(False, f"Not quite: W_{k} differs from U_{k} W_{k} U_{k - 1}^{{-1}} "
                                  f"(with U_0 = U_K = I) by up to {off:.3g}. Hint: the last layer "
                                  "has no U on its left, the first none on its right.")
    return Verdict(True, "Correct: your action moves every layer and leaves the product, hence "
                         "the loss, unchanged.")


def _f(t, lam):
    return (t ** 3 - 1) ** 2 + 3 * lam * t ** 2


@functools.lru_cache(maxsize=None)
def _spurious_truth(lam: float):
    """``(lo, hi)`` or ``None``, without the quartic's roots. Critical points are balanced,
    so the balanced energy ``f(t) = (t^3 - 1)^2 + 3 lam t^2`` is scanned on a dense grid of
    ``[0, 2]``: its local minima are the origin and possibly one ``t* > 0``; the one that is
    not global has a spurious valley from its value up to the highest value of ``f`` between
    the two (refined by ``minimize_scalar``)."""
    t = np.linspace(0.0, 2.0, 200_001)
    f = _f(t, lam)
    inner = np.nonzero((f[1:-1] < f[:-2]) & (f[1:-1] <= f[2:]))[0] + 1
    minima = ([0] if f[1] > f[0] else []) + inner.tolist()
    if len(minima) < 2:
        return None
    i, k = sorted(minima[:2])
    poor = i if f[i] > f[k] else k
    j = i + int(np.argmax(f[i:k + 1]))
    peak = scipy.optimize.minimize_scalar(lambda s: -_f(s, lam), bounds=(t[j - 1], t[j + 1]),
                                          method="bounded", options={"xatol": 1e-13})
    return float(f[poor]), float(max(-peak.fun, f[j]))


def check_spurious_range(fn, lambdas=(0.1, 0.2, 0.3, 0.4, 0.6), rtol: float = 0.05,
                         atol: float = 2e-4) -> Verdict:
    """Exercise 2.5: ``fn(lam)`` returns ``(lo, hi)``, the levels ``lo <= u < hi`` at which the
    depth-3 ridge energy has a spurious valley, or ``None`` when it has none. Each end must be within ``atol + rtol * (hi - lo)`` of the truth (what a grid of the
    widget's resolution achieves)."""
    what = "`spurious_range(lam)` returning (lo, hi), or None when there is no spurious valley"
    for lam in lambdas:
        got = _call(fn, "Exercise 2.5", what, lam)
        if isinstance(got, Verdict):
            return got
        truth = _spurious_truth(float(lam))
        if truth is None or got is None:
            if truth is None and got is None:
                continue
            return Verdict(False, f"Not quite for lambda = {lam}: you "
                                  f"{'found no spurious valley, but there is one' if got is None else 'gave a range, but there is no spurious valley'}"
                                  ". Hint: compare the value at the origin with the global minimum "
                                  "of f(t) = (t^3 - 1)^2 + 3 lambda t^2 over t > 0.")
        try:
            lo, hi = as_array(got, name=f"the answer for lambda = {lam}", shape=(2,))
        except NotAnAnswer as error:
            return Verdict(False, f"Expected a pair (lo, hi) of numbers, or None: {error}.")
        tol = atol + rtol * (truth[1] - truth[0])
        for end, value, t in (("lower", lo, truth[0]), ("upper", hi, truth[1])):
            if abs(value - t) > tol:
                hint = ("a spurious valley is born at the value of a local minimum that is not "
                        "global: which one is it at this lambda, the origin or the balanced "
                        "minima?" if end == "lower" else
                        "the valley dies at the lowest saddle between the poor minimum and a "
                        "global one; critical points are balanced, w = t (1, 1, 1) up to signs")
                return Verdict(False, f"Not quite for lambda = {lam}: your {end} end is off by "
                                      f"{abs(value - t):.3g} (the check accepts {tol:.2g}). Hint: {hint}.")
    return Verdict(True, f"Correct for lambda in {tuple(lambdas)}: weight decay makes the origin a "
                         "strict local minimum, and one of the two kinds of minima holds a spurious "
                         "valley for a short range of levels, until lambda is too large.")


# Exercise 2.6: two networks 3 -> 5 -> 4 -> 2 on private data, never shown in the text.
_JOIN_WIDTHS = (3, 5, 4, 2)


@functools.lru_cache(maxsize=None)
def _join_arrays():
    """Data and two global minima ``a``, ``b`` with the same product (the least-squares
    fit), ``b`` moved from ``a`` by the symmetry with orientation-reversing ``U_1``, ``U_2``:
    the straight segment between them leaves the set of minima."""
    g = np.random.default_rng(2026)
    x = g.standard_normal((80, 3))
    y = x @ g.standard_normal((3, 2)) + 0.3 * g.standard_normal((80, 2))
    P = np.linalg.lstsq(x, y, rcond=None)[0].T  # (2, 3), the least-squares product
    W1, W2 = g.standard_normal((5, 3)), g.standard_normal((4, 5))
    a = [W1, W2, P @ np.linalg.pinv(W2 @ W1)]
    U1 = np.diag([-1.0, 1, 1, 1, 1]) @ (np.eye(5) + 0.3 * g.standard_normal((5, 5)))
    U2 = np.diag([1.0, -1, 1, 1]) @ (np.eye(4) + 0.3 * g.standard_normal((4, 4)))
    b = [U1 @ a[0], U2 @ a[1] @ np.linalg.inv(U1), a[2] @ np.linalg.inv(U2)]
    out = (x, y, a, b)
    for arr in (x, y, *a, *b):
        arr.setflags(write=False)
    return out


def join_data():
    """Exercise 2.6: ``(x (80, 3), y (80, 2), a, b)`` as float64 torch copies, ``a`` and ``b``
    lists ``[W_1, W_2, W_3]`` of a network ``3 -> 5 -> 4 -> 2``."""
    x, y, a, b = _join_arrays()
    t = lambda arr: torch.tensor(np.array(arr), dtype=torch.float64)  # noqa: E731
    return t(x), t(y), [t(W) for W in a], [t(W) for W in b]


def _join_energy(theta: np.ndarray) -> np.ndarray:
    """``mean_i ||W_3 W_2 W_1 x_i - y_i||^2`` for rows ``theta (P, d)`` in DeepLinear order."""
    x, y, _, _ = _join_arrays()
    h, i = np.broadcast_to(x, (len(theta),) + x.shape), 0
    for n_in, n_out in zip(_JOIN_WIDTHS[:-1], _JOIN_WIDTHS[1:]):
        W = theta[:, i:i + n_in * n_out].reshape(-1, n_out, n_in)
        h = h @ W.transpose(0, 2, 1)
        i += n_in * n_out
    return ((h - y) ** 2).sum(-1).mean(-1)


def check_join(fn, max_nodes: int = 20_000, subdivisions: int = 8, tol: float = 1e-5) -> Verdict:
    """Exercise 2.6: ``fn(a, b, x, y)`` returns the nodes ``(n, d)`` of a polygonal path (a
    tensor, an array or a :class:`~lecture_lib.paths.Path`) from ``a`` to ``b`` of
    :func:`join_data` along which the loss never exceeds ``max(E(a), E(b))`` by more than
    ``tol`` times the loss of the zero network above it (room for the chords of a curved
    path). The check evaluates its own loss at every node and at ``subdivisions`` points
    inside every chord."""
    x, y, a, b = join_data()
    got = _call(fn, "Exercise 2.6", "`join(a, b, x, y)` returning the nodes of a path", a, b, x, y)
    if isinstance(got, Verdict):
        return got
    got = getattr(got, "nodes", getattr(getattr(got, "path", None), "nodes", got))
    d = sum(i * o for i, o in zip(_JOIN_WIDTHS[:-1], _JOIN_WIDTHS[1:]))
    try:
        nodes = as_array(got, name="the path's nodes", shape=(-1, d))
    except NotAnAnswer as error:
        return Verdict(False, f"Expected the nodes of a path, one flat parameter vector per row "
                              f"(W_1, W_2, W_3 flattened in order): {error}.")
    if not 2 <= len(nodes) <= max_nodes:
        return Verdict(False, f"Expected between 2 and {max_nodes} nodes, got {len(nodes)}.")
    _, _, A, B = _join_arrays()
    ends = [np.concatenate([W.ravel() for W in L]) for L in (A, B)]
    for name, node, end in (("first", nodes[0], ends[0]), ("last", nodes[-1], ends[1])):
        if np.max(np.abs(node - end)) > 1e-8:
            return Verdict(False, f"Not quite: the {name} node is not the network "
                                  f"{'a' if name == 'first' else 'b'} (off by {np.max(np.abs(node - end)):.3g}).")
    s = np.linspace(0.0, 1.0, subdivisions + 1)[:-1]
    dense = (nodes[:-1, None] + s[None, :, None] * (nodes[1:] - nodes[:-1])[:, None]).reshape(-1, d)
    dense = np.concatenate([dense, nodes[-1:]])
    energies = np.concatenate([_join_energy(chunk) for chunk in np.array_split(dense, max(1, len(dense) // 2048))])
    top = max(_join_energy(np.stack(ends)))
    excess = float(energies.max() - top)
    scale = _join_energy(np.zeros((1, d)))[0] - top
    if excess <= tol * scale:
        return Verdict(True, f"Correct: along your {len(nodes)}-node path the loss stays within "
                             f"{max(excess, 0.0):.1e} of the higher endpoint, as Freeman and Bruna's "
                             "construction promises when every hidden layer is wider than min(n, m).")
    hint = ("the path is nearly level: the excess comes from the chords of a curved phase, so "
            "use more nodes" if excess <= 1e-2 * scale else
            "the straight segment has a barrier; lift to the product, follow the straight line "
            "there and factorize back (lecture_lib.topics.linear_networks)")
    return Verdict(False, f"Not quite: your path climbs {excess:.3g} above the higher endpoint "
                          f"(at {float(np.argmax(energies)) / (len(energies) - 1):.0%} of it; the check "
                          f"accepts {tol * scale:.1e}). Hint: {hint}.")
