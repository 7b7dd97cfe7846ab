"""Deep linear networks: the constructive path of Freeman & Bruna, and the linear optimum.

For ``E(W_1, ..., W_K) = mean_i ||W_K ... W_1 x_i - y_i||^2`` (lecture section 2) the loss
depends on the weights only through the product ``W = W_K ... W_1`` (shape ``(n_K, n_0)``),
and ``L(W) = mean_i ||W x_i - y_i||^2`` is convex. Freeman & Bruna (2017, Prop. 2.1) prove
``N_u = 1`` at every level when every hidden width exceeds ``min(n_0, n_K)``: lift two points
to their products, join the products by the straight line (where the convex ``L`` stays
below the larger endpoint value) and factorize the line back. :func:`constructive_path`
carries that proof out. With ``n = n_0 <= n_K`` (otherwise every matrix is transposed and
the layers reversed, which maps products to transposes and straight lines to straight lines):

1. *Prepare* each endpoint, product fixed, by segments of parameter space, until every
   partial product ``W_k ... W_1`` (k < K) has full column rank. By induction on K, with
   ``Phi = W_{K-1} ... W_1`` (``(p, n)``, ``p = n_{K-1}``), ``T = W_K``, ``P = T Phi``:
   (a) ``T -> T Pi``, ``Pi`` the projector on ``range(Phi)`` (``T Pi Phi = P``);
   (b) prepare the lower network, ``T Pi`` fixed;
   (c) ``Phi -> F = Phi + D``, ``D = c U_perp V_perp^T`` (its columns lie in
   ``range(Phi)^perp``, which ``T Pi`` ignores; needs ``p >= n``), by moving the lower top
   layer only, ``W_{K-1} -> W_{K-1} + D (W_{K-2} ... W_1)^+``; ``F`` has full column rank;
   (d) ``T -> P F^+`` (``P F^+ F = P``).
2. *Middle*: with ``b`` prepared (lower layers ``L_b``, product ``F_b``), ``W -> (L_b, W F_b^+)``
   factorizes every ``W`` linearly, so the segment ``(L_b, W_a F_b^+) -> (L_b, W_b F_b^+)`` has
   product ``(1-t) W_a + t W_b``, where the convex ``L`` stays below ``max(L(W_a), L(W_b))``.
3. *Connect* prepared ``a`` to ``(L_b, W_a F_b^+)``, product fixed at ``W_a``: the lower
   product travels ``F_a = Q_a R_a -> Q_a -> Q_b -> Q_b R_b = F_b`` through full-rank matrices
   (triangular segments, then ``O(s) Q_a``, ``O(s) = exp(s log O)``, ``O in SO(p)``,
   ``O Q_a = Q_b``), realized by the lower top layer, with ``T = W_a F(s)^+``; then the lower
   network is connected to ``L_b`` in the same way (induction). This is the full-rank case of
   the lecture's simple fact about wide matrices (chapter 2, ``cor-02-simple-fact``):
   full-rank ``p x n`` matrices form a connected set when ``p > n``, since ``O`` can be
   completed on ``range(Q_a)^perp`` (nonzero only when ``p > n``) to determinant +1. For
   ``p = n`` it fails, ``GL(n)`` having two components: here ``n_k > min(n_0, n_K)`` enters,
   for every hidden layer in turn.
4. ``path = prepare(a) + connect + middle + reversed prepare(b)``. The energy is constant
   except on the middle segment, so it never exceeds ``max(E(a), E(b))``. All phases but the
   connection are exact segments of the polygon; the connection is curved (its nodes lie on
   the curve, chords deviate by ``O(h^2)``) and runs at the product of ``a``, so it is placed
   at the endpoint of lower energy when the energy is given.

*Two-layer ridge* (Freeman & Bruna 2017, the ridge case): the penalty
``lambda (||W_1||^2 + ||W_2||^2)`` is not controlled by the factorization above. Its minimum
over factorizations of ``W`` is ``2 lambda ||W||_*``, attained by the balanced
``(E S(W), h(W) E^T)``, ``S = (W^T W)^{1/4}``, ``h(W) = U Sigma^{1/2} V^T`` (continuous in
``W``), and ``L(W) + 2 lambda ||W||_*`` is convex. ``factorization="balanced"`` follows the
straight product line with balanced factors and reaches them from each end by moves that
never raise the penalty: ``W_2 -> W_2 Pi``, ``W_1 -> Pi_{row W_2} W_1`` (segments), the
balancing ``(G W_1, W_2 G^{-1})``, ``G(s) = ((1-s) I + s A)^{1/2}`` on ``range(W_1)`` (``A``
solves ``A C_1 A = C_2``; the penalty ``tr(A C_1) + tr(A^{-1} C_2)`` is convex in ``A``), and
a rotation ``(R W_1, W_2 R^T)``, ``R in SO(n_1)``, which keeps it constant.

Also here: :func:`bottleneck_path` (two global minima of a bottleneck network, joined along
the ``GL(r)`` orbit or, across the two orientation classes, around a loop in the
Grassmannian through Kawaguchi's lowest saddle). The batched energy
(:func:`deep_linear_energy`), the global minimum (:func:`reduced_rank_regression`) and the
hypotheses of Kawaguchi 2016, Thm. 2.3 (:func:`kawaguchi_conditions`) live in
:mod:`lecture_lib.topics.linear_optimum` and are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import scipy.linalg
import torch
from torch import Tensor

from .linear_optimum import (KawaguchiConditions, LinearOptimum, deep_linear_energy,  # noqa: F401
                             kawaguchi_conditions, reduced_rank_regression)
from ..paths import Path

FACTORIZATIONS = ("pseudoinverse", "balanced")


def _layers(w) -> list[np.ndarray]:
    """``[W_1, ..., W_K]`` as float64 arrays from a ``DeepLinear`` or a list of matrices."""
    mats = list(w.weights) if hasattr(w, "weights") else list(w)
    if not mats:
        raise ValueError("need at least one weight matrix")
    out = [m.detach().cpu().double().numpy().copy() if isinstance(m, Tensor) else np.array(m, dtype=float)
           for m in mats]
    for k, W in enumerate(out, start=1):
        if W.ndim != 2:
            raise ValueError(f"W_{k} must be a matrix, got shape {W.shape}")
        if k > 1 and W.shape[1] != out[k - 2].shape[0]:
            raise ValueError(f"W_{k} has shape {W.shape}; it needs {out[k - 2].shape[0]} columns")
        if not np.all(np.isfinite(W)):
            raise ValueError(f"W_{k} has non-finite entries")
    return out


def widths_of(w) -> list[int]:
    """``[n_0, ..., n_K]`` of a list of weights or a ``DeepLinear``."""
    L = _layers(w)
    return [L[0].shape[1]] + [W.shape[0] for W in L]


def flat(layers) -> np.ndarray:
    """Flat vector in ``DeepLinear`` parameter order (W_1 row-major, then W_2, ...)."""
    return np.concatenate([np.asarray(W).reshape(-1) for W in layers])


def unflat(theta, widths) -> list[np.ndarray]:
    """Inverse of :func:`flat` for ``widths = [n_0, ..., n_K]``."""
    theta = theta.detach().cpu().double().numpy() if isinstance(theta, Tensor) else np.asarray(theta, dtype=float)
    out, i = [], 0
    for n_in, n_out in zip(widths[:-1], widths[1:]):
        out.append(theta[i:i + n_in * n_out].reshape(n_out, n_in))
        i += n_in * n_out
    if i != theta.size:
        raise ValueError(f"theta has {theta.size} entries; widths {widths} need {i}")
    return out


def _prod(layers):
    """``W_K ... W_1`` for matrices ``(a, b)`` or stacks ``(S, a, b)``."""
    out = layers[0]
    for W in layers[1:]:
        out = W @ out
    return out


def check_widths(widths) -> None:
    """``ValueError`` naming the first hidden layer with ``n_k <= min(n_0, n_K)``."""
    lo = min(widths[0], widths[-1])
    for k, n_k in enumerate(widths[1:-1], start=1):
        if n_k <= lo:
            raise ValueError(
                f"hidden layer {k} has width n_{k} = {n_k} <= min(n_0, n_K) = {lo}: the constructive "
                f"path (Freeman & Bruna 2017, Prop. 2.1) needs n_k > min(n_0, n_K) for every hidden layer")


# --------------------------------------------------------------------------- the phases
@dataclass(frozen=True)
class _Phase:
    """A piece of the path: ``layers(s: (S,)) -> [(S, n_k, n_{k-1})]``, s from 0 to 1."""

    name: str
    layers: Callable
    straight: bool


def _const(W, s):
    return np.broadcast_to(W, (len(s),) + W.shape)


def _segment(name, start, end):
    """The segment between two lists of layers (matrices)."""
    return _Phase(name, lambda s: [a + s[:, None, None] * (b - a) for a, b in zip(start, end)], True)


def _lift(phase, top):
    """A phase of the lower network with the top layer ``top`` held fixed."""
    return _Phase(phase.name, lambda s: phase.layers(s) + [_const(top, s)], phase.straight)


def _rank(sv, rtol):
    return int((sv > rtol * sv[0]).sum()) if sv.size and sv[0] > 0 else 0


def _rotation_to(A, B):
    """``R in SO(p)`` with ``R A = B`` for ``(p, n)`` matrices with ``A^T A = B^T B``, ``p > n``.

    Orthogonal Procrustes (``R = U V^T`` from the SVD of ``B A^T``), then, if ``det R = -1``,
    a reflection in a unit vector ``u`` orthogonal to ``range(A)``, which leaves ``R A``
    unchanged: the extra dimension ``p > n`` is what makes ``u`` exist.
    """
    U, _, Vt = np.linalg.svd(B @ A.T)
    R = U @ Vt
    if np.linalg.det(R) < 0:
        u = np.linalg.svd(A)[0][:, -1]  # (p,) orthogonal to range(A) since rank(A) <= n < p
        R = R - 2 * np.outer(R @ u, u)
    return R


def _so_log(R):
    """Real Schur form of ``R in SO(p)``: ``R = Z blockdiag(rot(theta_1), ...) Z^T``.

    Returns ``Z`` and the planes ``[(i, j, theta)]``: each 2x2 block of ``T`` is a rotation by
    ``theta = atan2(T[j, i], T[i, i])``; the eigenvalues -1 (an even number, since
    ``det R = 1``) are paired into rotations by ``pi``; the eigenvalues +1 stay fixed. So
    ``log R = Z (sum theta (e_j e_i^T - e_i e_j^T)) Z^T`` is real and skew.
    """
    T, Z = scipy.linalg.schur(R, output="real")
    p, planes, minus, i = R.shape[0], [], [], 0
    while i < p:
        if i + 1 < p and abs(T[i + 1, i]) > 1e-12:
            planes.append((i, i + 1, np.arctan2(T[i + 1, i], T[i, i])))
            i += 2
        else:
            minus += [i] if T[i, i] < 0 else []
            i += 1
    if len(minus) % 2:
        raise ValueError("_so_log needs a rotation (determinant +1)")
    return Z, planes + [(a, b, np.pi) for a, b in zip(minus[::2], minus[1::2])]


def _rotation_path(R):
    """``s -> exp(s log R)``, ``(S,) -> (S, p, p)``: each Schur plane turned by ``s theta``."""
    Z, planes = _so_log(R)

    def at(s):
        D = np.broadcast_to(np.eye(len(R)), (len(s), len(R), len(R))).copy()
        for i, j, theta in planes:
            c, n = np.cos(s * theta), np.sin(s * theta)
            D[:, i, i], D[:, j, j], D[:, j, i], D[:, i, j] = c, c, n, -n
        return Z @ D @ Z.T

    return at


def _top_follows(lower, Gamma):
    """Layers of the lower net whose product is ``Gamma(s)``: its top layer moves,
    ``W_{K-1}(s) = Gamma(s) Phi^+`` with ``Phi`` the (full column rank) product below it."""
    if len(lower) == 1:
        return lambda s: [Gamma(s)]
    below = np.linalg.pinv(_prod(lower[:-1]))
    return lambda s: [_const(W, s) for W in lower[:-1]] + [Gamma(s) @ below]


def _prepare(Ws, rtol):
    """Steps (a)-(d): segments, product fixed, to a point whose partial products
    ``W_k ... W_1`` (k < K) all have full column rank. Returns ``(phases, end point)``."""
    if len(Ws) == 1:
        return [], Ws
    lower, T = Ws[:-1], Ws[-1]
    n, Phi = Ws[0].shape[1], _prod(lower)  # (p, n)
    U, sv, Vt = np.linalg.svd(Phi)
    r = _rank(sv, rtol)
    T1 = T @ (U[:, :r] @ U[:, :r].T)  # (a)
    sub, lower1 = _prepare(lower, rtol)  # (b)
    D = (sv[0] if r else 1.0) * U[:, r:n] @ Vt[r:n]  # (c): columns in range(Phi)^perp
    lower2 = lower1[:-1] + [lower1[-1] + (D if len(lower) == 1 else D @ np.linalg.pinv(_prod(lower1[:-1])))]
    T2 = (T @ Phi) @ np.linalg.pinv(Phi + D)  # (d)
    phases = [_segment("project top", lower + [T], lower + [T1])] + [_lift(ph, T1) for ph in sub]
    phases += [_segment("complete rank", lower1 + [T1], lower2 + [T1]),
               _segment("top to P F^+", lower2 + [T1], lower2 + [T2])]
    return phases, lower2 + [T2]


def _connect(C, D):
    """Step (e): from ``C`` to ``D``, prepared points with the same product ``P``.

    The lower product travels ``F_C = Q_C R_C -> Q_C -> Q_D -> Q_D R_D = F_D`` through full-rank
    matrices (triangular segments, then ``O(s) Q_C`` with ``O in SO(p)``, ``O Q_C = Q_D``),
    realized by the lower net's top layer, with ``T = P F(s)^+``; then recursively the lower
    net goes to ``D``'s lower layers with its product fixed.
    """
    if len(C) == 1:
        return []
    P, LC, LD = _prod(C), C[:-1], D[:-1]
    (QC, RC), (QD, RD) = (_qr_positive(_prod(L)) for L in (LC, LD))
    n = RC.shape[0]
    rot = _rotation_path(_rotation_to(QC, QD))
    gammas = [("shrink R", lambda s: QC @ ((1 - s)[:, None, None] * RC + s[:, None, None] * np.eye(n))),
              ("rotate frame", lambda s: rot(s) @ QC),
              ("grow R", lambda s: QD @ ((1 - s)[:, None, None] * np.eye(n) + s[:, None, None] * RD))]
    phases = [_segment("top to P F^+", C, LC + [P @ np.linalg.pinv(_prod(LC))])]
    for name, G in gammas:
        low = _top_follows(LC, G)
        phases.append(_Phase(name, lambda s, low=low, G=G: low(s) + [P @ np.linalg.pinv(G(s))], False))
    L_end = [m[0] for m in _top_follows(LC, lambda s: _prod(LD)[None])(np.zeros(1))]
    T_D = P @ np.linalg.pinv(_prod(LD))
    phases += [_lift(ph, T_D) for ph in _connect(L_end, LD)]
    return phases + [_segment("top to its own", LD + [T_D], D)]


def _qr_positive(F):
    """``F = Q R`` with ``R`` upper triangular of positive diagonal (so ``(1-s) R + s I`` is invertible)."""
    Q, R = np.linalg.qr(F)
    d = np.where(np.diag(R) < 0, -1.0, 1.0)
    return Q * d, d[:, None] * R


def _balanced(W):
    """``(S(W), h(W))`` for ``W: (S, m, n)``: ``(W^T W)^{1/4}`` and ``U Sigma^{1/2} V^T``."""
    U, sv, Vt = np.linalg.svd(W, full_matrices=False)
    r = np.sqrt(sv)[:, :, None]  # (S, k, 1)
    return Vt.transpose(0, 2, 1) @ (r * Vt), U @ (r * Vt)


def _balanced_to_canonical(W1, W2, rtol):
    """Ridge fiber path: ``(W_1, W_2)`` to ``(E S(W), h(W) E^T)``, penalty never rising."""
    n1, n = W1.shape
    U, sv, _ = np.linalg.svd(W1)
    W2a = W2 @ (U[:, :_rank(sv, rtol)] @ U[:, :_rank(sv, rtol)].T)
    _, sv2, Vt2 = np.linalg.svd(W2a)
    V = Vt2[:_rank(sv2, rtol)]
    W1a = V.T @ V @ W1
    phases = [_segment("project W_2", [W1, W2], [W1, W2a]), _segment("project W_1", [W1, W2a], [W1a, W2a])]
    U, sv, _ = np.linalg.svd(W1a)
    Z = U[:, :_rank(sv, rtol)]  # (n1, r): range(W_1) = row(W_2)
    M1, M2 = Z.T @ W1a, W2a @ Z
    if Z.shape[1]:
        C1, C2 = M1 @ M1.T, M2.T @ M2
        c1 = scipy.linalg.sqrtm(C1).real
        c1i = np.linalg.inv(c1)
        A = c1i @ scipy.linalg.sqrtm(c1 @ C2 @ c1).real @ c1i  # A C1 A = C2 (geometric mean)
        A = (A + A.T) / 2

        def balance(s):
            lam, Q = np.linalg.eigh((1 - s)[:, None, None] * np.eye(len(A)) + s[:, None, None] * A)
            G = Q @ (np.sqrt(lam)[:, :, None] * Q.transpose(0, 2, 1))
            Gi = Q @ (1 / np.sqrt(lam)[:, :, None] * Q.transpose(0, 2, 1))
            return [W1a + Z @ (G - np.eye(len(A))) @ M1, W2a + M2 @ (Gi - np.eye(len(A))) @ Z.T]

        phases.append(_Phase("balance", balance, False))
        W1b, W2b = (m[0] for m in balance(np.ones(1)))
    else:
        W1b, W2b = W1a, W2a
    S, _ = _balanced((W2b @ W1b)[None])
    rot = _rotation_path(_rotation_to(W1b, np.eye(n1, n) @ S[0]))
    phases.append(_Phase("rotate", lambda s: [rot(s) @ W1b, W2b @ rot(s).transpose(0, 2, 1)], False))
    return phases


def _pinv_phases(A, B, rtol):
    """Prepare both ends, connect at ``a``'s product, then the straight middle phase."""
    if len(A) == 1:  # one layer: the parameter is the product, the path is the segment
        return [("middle: straight product", _segment("middle", A, B))]
    pa, CA = _prepare(A, rtol)
    pb, CB = _prepare(B, rtol)
    F_B = _prod(CB[:-1])
    CA2 = CB[:-1] + [_prod(A) @ np.linalg.pinv(F_B)]  # b's lower layers, a's product
    return ([("a: " + p.name, p) for p in pa + _connect(CA, CA2)]
            + [("middle: straight product", _segment("middle", CA2, CB))]
            + [("b: " + p.name, _reverse(p)) for p in pb[::-1]])


def _balanced_phases(A, B, rtol):
    w = widths_of(A)
    E = np.eye(w[1], w[0])

    def middle(s):
        S, h = _balanced((1 - s)[:, None, None] * _prod(A) + s[:, None, None] * _prod(B))  # (S, m, n)
        return [E @ S, h @ E.T]

    return ([("a: " + p.name, p) for p in _balanced_to_canonical(*A, rtol)]
            + [("middle: straight product", _Phase("middle", middle, False))]
            + [("b: " + p.name, _reverse(p)) for p in _balanced_to_canonical(*B, rtol)[::-1]])


def _reverse(ph):
    return _Phase(ph.name, lambda s: ph.layers(1 - s), ph.straight)


# --------------------------------------------------------------------------- assembly
@dataclass(frozen=True)
class ConstructivePath:
    """What :func:`construct_path` built.

    ``path``: the :class:`~lecture_lib.paths.Path` (flat ``DeepLinear`` order);
    ``phase``: the phase name of each node (``"a: ..."``, ``"middle: straight product"``,
    ``"b: ..."``); ``middle``: ``(first, last)`` node indices of the middle phase;
    ``widths``, ``factorization``, ``transposed`` (the construction ran on transposes since
    ``n_K < n_0``); ``message``.
    """

    path: Path
    phase: tuple
    middle: tuple
    widths: tuple
    factorization: str
    transposed: bool
    message: str


def _allocate(lengths, n_segments):
    """Segments per phase, proportional to length, at least one each (largest remainder)."""
    lengths = np.asarray(lengths, dtype=float)
    extra = n_segments - len(lengths)
    share = extra * lengths / lengths.sum() if lengths.sum() > 0 else np.zeros_like(lengths)
    k = np.floor(share).astype(int)
    k[np.argsort(share - k)[::-1][:extra - k.sum()]] += 1
    return k + 1


def construct_path(a, b, n_points: int = 201, *, factorization: str = "pseudoinverse",
                   energy=None, rtol: float = 1e-10) -> ConstructivePath:
    """The constructive path of Freeman & Bruna (2017, Prop. 2.1) from ``a`` to ``b``.

    ``a, b``: ``DeepLinear`` modules or lists ``[W_1, ..., W_K]`` with the same widths,
    ``n_k > min(n_0, n_K)`` for every hidden layer (else ``ValueError`` naming the layer).
    ``factorization``: ``"pseudoinverse"`` (any depth; module docstring steps 1-3) or
    ``"balanced"`` (two layers; the ridge construction, valid for every ridge ``lambda``).
    ``energy`` (optional, ``Tensor[B, d] -> Tensor[B]``): with ``"pseudoinverse"`` the curved
    phase (e) runs at the endpoint of lower energy, so that every chord of the polygon, not
    only every node, stays at most ``max(E(a), E(b))`` when the two differ; without it, at
    ``a``. ``n_points`` nodes are shared among the phases in proportion to their lengths
    (curved phases at equal arc length). ``rtol``: singular values below ``rtol * largest``
    count as zero. The path starts exactly at ``a`` and ends exactly at ``b``; its product is
    constant before and after the middle phase and runs along ``(1-t) W_a + t W_b`` in it.

    >>> import torch
    >>> a = [torch.eye(2, 1), torch.ones(1, 2)]
    >>> b = [-torch.eye(2, 1), -torch.ones(1, 2)]
    >>> p = constructive_path(a, b, 41)
    >>> p.nodes.shape, round(float(p.nodes[0, 0]), 3), round(float(p.nodes[-1, 0]), 3)
    (torch.Size([41, 4]), 1.0, -1.0)
    """
    if factorization not in FACTORIZATIONS:
        raise ValueError(f"unknown factorization {factorization!r}; choose one of {FACTORIZATIONS}")
    A, B = _layers(a), _layers(b)
    widths = widths_of(A)
    if widths_of(B) != widths:
        raise ValueError(f"a has widths {widths} but b has widths {widths_of(B)}")
    check_widths(widths)
    if factorization == "balanced" and len(A) != 2:
        raise ValueError(f"factorization='balanced' (the ridge case) is the two-layer construction of "
                         f"Freeman & Bruna; got K = {len(A)} layers. For K >= 3 the smallest penalty "
                         f"over factorizations, K sum_i sigma_i^(2/K), is not convex in the product")
    swap = False
    if energy is not None and factorization == "pseudoinverse":
        with torch.no_grad():
            e = energy(torch.as_tensor(np.stack([flat(A), flat(B)]), dtype=torch.float64))
        swap = bool(e[1] < e[0])  # build from b to a, then reverse
    transposed = widths[-1] < widths[0]
    if transposed:  # run on [W_K^T, ..., W_1^T], whose widths satisfy n_k > n_0
        A, B = [W.T for W in A[::-1]], [W.T for W in B[::-1]]
    build = _pinv_phases if factorization == "pseudoinverse" else _balanced_phases
    if swap:
        flip = lambda name: "b: " + name[3:] if name.startswith("a: ") else "a: " + name[3:] if name.startswith("b: ") else name
        phases = [(flip(n), _reverse(p)) for n, p in build(B, A, rtol)[::-1]]
    else:
        phases = build(A, B, rtol)

    def nodes_of(ph, s):
        Ls = ph.layers(s)
        if transposed:
            Ls = [L.transpose(0, 2, 1) for L in Ls[::-1]]
        return np.concatenate([np.asarray(L).reshape(len(s), -1) for L in Ls], axis=1)  # (S, d)

    nodes, labels, middle = _sample(phases, n_points, nodes_of)
    path = _as_path(nodes, a, b)
    msg = (f"{len(set(labels))} phases, {path.n_nodes} nodes, widths {widths}, factorization {factorization!r}"
           f"{' (built on transposes, n_K < n_0)' if transposed else ''}; normalized length "
           f"{path.normalized_length():.3f}")
    return ConstructivePath(path, tuple(labels), middle, tuple(widths), factorization, transposed, msg)


def _sample(phases, n_points, nodes_of):
    """Nodes ``(n_points, d)``, a phase name per node and the middle phase's node range.

    Phases of zero length are dropped; the others get segments in proportion to their
    lengths, curved ones sampled at (nearly) equal arc length through a fine sampling.
    """
    lengths, arcs = [], []
    for _, ph in phases:
        s = np.linspace(0, 1, 2 if ph.straight else 257)
        cum = np.concatenate([[0.0], np.linalg.norm(np.diff(nodes_of(ph, s), axis=0), axis=1).cumsum()])
        lengths.append(cum[-1])
        arcs.append((s, cum))
    scale = max(lengths) if max(lengths) > 0 else 1.0
    keep = [i for i, L in enumerate(lengths) if L > 1e-12 * scale or phases[i][0].startswith("middle")]
    if n_points - 1 < len(keep):
        raise ValueError(f"n_points = {n_points} is too small: this path has {len(keep)} phases, "
                         f"so it needs n_points >= {len(keep) + 1}")
    chunks, labels, middle = [], [], (0, 0)
    for j, (i, k) in enumerate(zip(keep, _allocate([lengths[i] for i in keep], n_points - 1))):
        name, ph = phases[i]
        s = np.linspace(0, 1, k + 1)
        if not ph.straight and lengths[i] > 0:
            s = np.interp(s * arcs[i][1][-1], arcs[i][1], arcs[i][0])
        s = s[0 if j == 0 else 1:]
        if name.startswith("middle"):
            start = sum(len(c) for c in chunks) - (0 if j == 0 else 1)
            middle = (int(start), int(start + k))
        chunks.append(nodes_of(ph, s))
        labels += [name] * len(s)
    return np.concatenate(chunks), labels, middle


def _as_path(nodes, a, b):
    """A :class:`Path` starting exactly at ``a`` and ending exactly at ``b``, in their dtype."""
    nodes[0], nodes[-1] = flat(_layers(a)), flat(_layers(b))
    ref = a.weights[0] if hasattr(a, "weights") else (a[0] if isinstance(a[0], Tensor) else None)
    dtype = ref.dtype if ref is not None and ref.is_floating_point() else torch.float64
    return Path(torch.as_tensor(nodes, dtype=dtype, device=ref.device if ref is not None else "cpu"))


def constructive_path(a, b, n_points: int = 201, *, factorization: str = "pseudoinverse",
                      energy=None, rtol: float = 1e-10) -> Path:
    """The :class:`~lecture_lib.paths.Path` of :func:`construct_path` (see there)."""
    return construct_path(a, b, n_points, factorization=factorization, energy=energy, rtol=rtol).path


def _gl_path(G):
    """``s -> G(s)`` from ``I`` to ``G`` in ``GL+(r)``: polar ``G = O S``, ``O(s) ((1-s) I + s S)``."""
    U, sv, Vt = np.linalg.svd(G)
    rot, S = _rotation_path(U @ Vt), Vt.T @ (sv[:, None] * Vt)
    r = len(G)
    return lambda s: rot(s) @ ((1 - s)[:, None, None] * np.eye(r) + s[:, None, None] * S)


def _gl_phase(name, W1, W2, G):
    """The symmetry orbit ``(G(s) W_1, W_2 G(s)^{-1})``: product, hence energy, constant."""
    path = _gl_path(G)
    return _Phase(name, lambda s: [path(s) @ W1, W2 @ np.linalg.inv(path(s))], False)


def bottleneck_path(a, b, x: Tensor, y: Tensor, n_points: int = 201, *, atol: float = 1e-4) -> ConstructivePath:
    """A path between two global minima of a two-layer bottleneck network ``n_1 = r < min(n, m)``.

    Their products are the rank-``r`` least-squares optimum ``W*``, and ``W_1^b = G W_1^a``,
    ``W_2^b = W_2^a G^{-1}`` for some ``G in GL(r)`` (Venturi et al. 2019: the symmetry).
    If ``det G > 0`` the path is the orbit ``G(s)`` in ``GL+(r)``: the energy is constant. If
    ``det G < 0`` no orbit joins them; the path goes along the orbit to the principal
    factorization ``W_2 = V_0``, ``W_1 = V_0^T M^T R^{-T}`` (whitened fit ``M = Q^T y = sum
    sigma_i u_i v_i^T``, ``x = Q R``, ``V_0 = [v_1, ..., v_r]`` up to the sign of ``v_r``),
    then along a loop of column spaces in the Grassmannian ``Gr(r, m)``, ``v_r -> cos(theta)
    v_r + sin(theta) v_{r+1}``, ``theta`` from 0 to ``pi``, which reverses the orientation of
    the frame, then along an orbit to ``b``. On the loop the loss is ``E* + (sigma_r^2 -
    sigma_{r+1}^2) sin^2 theta`` (singular values of :class:`LinearOptimum`): the path crosses
    the saddle of Kawaguchi's theorem that keeps directions ``1, ..., r-1, r+1``, the lowest
    critical point above the minimum, so its barrier is the smallest possible.
    ``ValueError`` if ``a`` or ``b`` is not a global minimum (products off ``W*`` by more than
    ``atol`` relative) or the network is not a two-layer bottleneck.
    """
    A, B = _layers(a), _layers(b)
    widths = widths_of(A)
    if len(A) != 2 or widths_of(B) != widths or not widths[1] < min(widths[0], widths[2]):
        raise ValueError(f"need two two-layer networks with the same widths [n, r, m], r < min(n, m); "
                         f"got {widths} and {widths_of(B)}")
    r = widths[1]
    W = reduced_rank_regression(x, y, r).weight.numpy()
    for name, L in (("a", A), ("b", B)):
        gap = np.abs(_prod(L) - W).max()
        if gap > atol * max(1.0, np.abs(W).max()):
            raise ValueError(f"{name} is not a global minimum: its product is {gap:.2e} away from the "
                             f"rank-{r} least-squares optimum")
    X, Y = (np.asarray(t.detach().cpu() if isinstance(t, Tensor) else t, dtype=float) for t in (x, y))
    Qx, R = np.linalg.qr(X)
    M = Qx.T @ Y  # (n, m) whitened fit
    V = np.linalg.svd(M)[2].T  # (m, m): right singular vectors v_1, v_2, ...
    Z = np.linalg.solve(R, M).T  # (m, n) = M^T R^{-T}: W_1 = V^T Z for the frame V
    V0 = V[:, :r].copy()
    if np.linalg.det(V0.T @ Z @ np.linalg.pinv(A[0])) < 0:
        V0[:, -1] *= -1  # start in a's orientation class
    W1_0 = V0.T @ Z
    loop = np.linalg.det(B[0] @ np.linalg.pinv(W1_0)) < 0
    v_r, v_next = V0[:, -1], V[:, r]

    def frames(s):  # (S, m, r)
        F = np.broadcast_to(V0, (len(s),) + V0.shape).copy()
        F[:, :, -1] = np.cos(np.pi * s)[:, None] * v_r + np.sin(np.pi * s)[:, None] * v_next
        return F

    end = frames(np.ones(1))[0] if loop else V0
    W1_end = end.T @ Z
    phases = [("a: symmetry orbit", _gl_phase("orbit", A[0], A[1], W1_0 @ np.linalg.pinv(A[0]))),
              ("middle: Grassmannian loop" if loop else "middle: none",
               _Phase("loop", lambda s: [frames(s).transpose(0, 2, 1) @ Z, frames(s)], False) if loop
               else _segment("none", [W1_0, V0], [W1_0, V0])),
              ("b: symmetry orbit", _reverse(_gl_phase("orbit", B[0], B[1], W1_end @ np.linalg.pinv(B[0]))))]
    nodes_of = lambda ph, s: np.concatenate([L.reshape(len(s), -1) for L in ph.layers(s)], axis=1)
    nodes, labels, middle = _sample(phases, n_points, nodes_of)
    path = _as_path(nodes, a, b)
    how = ("opposite orientations (det G < 0): orbit, loop through the saddle, orbit" if loop else
           "same orientation (det G > 0): a symmetry orbit at constant energy")
    return ConstructivePath(path, tuple(labels), middle, tuple(widths), "bottleneck", False,
                            f"{how}; {path.n_nodes} nodes, normalized length {path.normalized_length():.3f}")


# --------------------------------------------------------------------------- the linear optimum
