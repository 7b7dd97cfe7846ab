"""The linear problem behind deep linear networks: its batched energy, its global minimum
(reduced-rank regression) and the hypotheses of Kawaguchi (2016, Thm. 2.3).

For ``E(W_1, ..., W_K) = mean_i ||W_K ... W_1 x_i - y_i||^2`` the loss depends on the
weights only through the product ``W = W_K ... W_1``, whose rank is at most the narrowest
width ``r``: the global minimum is the rank-``r`` least-squares problem, solved by
Eckart-Young on the whitened problem. :mod:`lecture_lib.topics.linear_networks` builds the paths.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


def deep_linear_energy(x: Tensor, y: Tensor, widths, ridge: float = 0.0):
    """``theta: (B, d) -> (B,)``: ``mean_i ||W_K ... W_1 x_i - y_i||^2 + ridge ||theta||^2``.

    ``x: (N, n_0)``, ``y: (N, n_K)``; ``theta`` in ``DeepLinear`` order. Pure torch, batched
    (one ``matmul`` per layer over the B points), on the dtype and device of ``theta``.

    >>> E = deep_linear_energy(torch.ones(4, 1), torch.ones(4, 1), [1, 1, 1])
    >>> E(torch.tensor([[1.0, 1.0], [0.0, 0.0]]))
    tensor([0., 1.])
    """
    widths = [int(n) for n in widths]
    d = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
    if x.dim() != 2 or x.shape[1] != widths[0] or y.dim() != 2 or y.shape != (x.shape[0], widths[-1]):
        raise ValueError(f"x must be (N, {widths[0]}) and y (N, {widths[-1]}), got {tuple(x.shape)}, {tuple(y.shape)}")

    def energy(theta):
        if theta.dim() != 2 or theta.shape[1] != d:
            raise ValueError(f"theta must have shape (B, {d}), got {tuple(theta.shape)}")
        h, i = x.to(theta), 0
        for n_in, n_out in zip(widths[:-1], widths[1:]):
            W = theta[:, i:i + n_in * n_out].reshape(-1, n_out, n_in)  # (B, n_k, n_{k-1})
            h = h @ W.transpose(1, 2)  # (B, N, n_k)
            i += n_in * n_out
        return (h - y.to(theta)).square().sum(-1).mean(-1) + ridge * theta.square().sum(1)

    return energy


@dataclass(frozen=True)
class LinearOptimum:
    """Least squares over matrices of rank at most ``rank``: ``min mean ||W x_i - y_i||^2``.

    ``weight (m, n)`` the minimizer; ``loss`` its loss; ``loss_ols`` the unconstrained
    least-squares loss; ``singular_values`` ``sigma_1 >= ...`` of the whitened fit, so that
    the critical point keeping the singular directions ``S`` has loss
    ``loss_ols + sum_{i not in S} sigma_i^2`` (see :meth:`critical_loss`); ``message``.
    """

    weight: Tensor
    loss: float
    loss_ols: float
    rank: int
    singular_values: Tensor
    message: str

    def critical_loss(self, keep) -> float:
        """Loss of the critical point of the rank-constrained problem keeping directions ``keep``
        (0-based indices into ``singular_values``), e.g. ``range(rank)`` for the minimum."""
        s2 = self.singular_values.square()
        mask = torch.ones_like(s2, dtype=torch.bool)
        mask[list(keep)] = False
        return self.loss_ols + float(s2[mask].sum())


def reduced_rank_regression(x: Tensor, y: Tensor, rank: int) -> LinearOptimum:
    """The global minimum of ``mean_i ||W x_i - y_i||^2`` over ``rank(W) <= rank``.

    Eckart-Young on the whitened problem: with ``x = Q R`` (thin QR, ``R`` invertible when
    ``X^T X`` has full rank), ``N L(W) = N L_ols + ||R (W - W_ols)^T||_F^2``; truncate the SVD
    of ``M = R W_ols^T`` to ``rank`` terms and map back, ``W^T = R^{-1} M_rank``. This is the
    optimum a deep linear network with bottleneck ``min_k n_k = rank`` reaches at every local
    minimum (Kawaguchi 2016, Thm. 2.3).

    >>> x = torch.eye(3, dtype=torch.float64); y = torch.diag(torch.tensor([3., 2., 1.], dtype=torch.float64))
    >>> round(reduced_rank_regression(x, y, 2).loss, 6)   # drops sigma_3^2 / N = 1 / 3
    0.333333
    """
    x, y = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)
    if x.dim() != 2 or y.dim() != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x (N, n) and y (N, m) need the same N, got {tuple(x.shape)}, {tuple(y.shape)}")
    N, n = x.shape
    if int(rank) != rank or rank < 0:
        raise ValueError(f"rank must be a nonnegative integer, got {rank}")
    Q, R = torch.linalg.qr(x)
    if torch.linalg.matrix_rank(R) < n:
        raise ValueError("X^T X is singular: the least-squares problem has no unique solution")
    M = Q.T @ y  # (n, m) = R W_ols^T
    U, s, Vt = torch.linalg.svd(M, full_matrices=False)
    k = min(int(rank), len(s))
    Wt = torch.linalg.solve_triangular(R, U[:, :k] * s[:k] @ Vt[:k], upper=True)  # (n, m)
    loss = float((x @ Wt - y).square().sum() / N)
    loss_ols = float((y.square().sum() - M.square().sum()) / N)
    sv = s / N ** 0.5
    return LinearOptimum(Wt.T, loss, loss_ols, k, sv,
                         f"rank-{k} least squares: loss {loss:.6g} (unconstrained {loss_ols:.6g})")


@dataclass(frozen=True)
class KawaguchiConditions:
    """The hypotheses of Kawaguchi (2016, Thm. 2.3) for data ``(x, y)``.

    ``rank_xx``, ``rank_xy``: ranks of ``X X^T`` and ``X Y^T`` (samples as columns);
    ``eigenvalues`` of ``Sigma = Y X^T (X X^T)^{-1} X Y^T``, decreasing; ``min_gap``: the
    smallest gap between consecutive ones relative to the largest; ``hold``; ``message``.
    """

    rank_xx: int
    rank_xy: int
    eigenvalues: Tensor
    min_gap: float
    hold: bool
    message: str


def kawaguchi_conditions(x: Tensor, y: Tensor, gap_tol: float = 1e-8) -> KawaguchiConditions:
    """Check ``X X^T``, ``X Y^T`` full rank, ``d_y <= d_x``, and ``Sigma`` with distinct eigenvalues."""
    X, Y = torch.as_tensor(x, dtype=torch.float64).T, torch.as_tensor(y, dtype=torch.float64).T  # (n, N), (m, N)
    n, m = X.shape[0], Y.shape[0]
    Sxx, Sxy = X @ X.T, X @ Y.T
    r_xx, r_xy = int(torch.linalg.matrix_rank(Sxx)), int(torch.linalg.matrix_rank(Sxy))
    Sigma = Sxy.T @ torch.linalg.solve(Sxx, Sxy) if r_xx == n else torch.full((m, m), float("nan"))
    ev = torch.linalg.eigvalsh(Sigma).flip(0) if r_xx == n else torch.full((m,), float("nan"))
    gap = float((ev[:-1] - ev[1:]).min() / ev[0]) if m > 1 and r_xx == n else float("inf")
    hold = r_xx == n and r_xy == min(n, m) and m <= n and gap > gap_tol
    why = [] if hold else [w for w, bad in (("X X^T is rank deficient", r_xx < n), ("X Y^T is not of full rank", r_xy < min(n, m)),
                                            ("d_y > d_x", m > n), ("Sigma has a repeated eigenvalue", gap <= gap_tol)) if bad]
    msg = "Kawaguchi's hypotheses hold" if hold else "Kawaguchi's hypotheses fail: " + "; ".join(why)
    return KawaguchiConditions(r_xx, r_xy, ev, gap, hold, msg)
