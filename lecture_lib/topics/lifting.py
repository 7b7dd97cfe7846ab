"""Quadratic activations as a lifting: a two-layer quadratic network is linear in ``x x^T``.

For ``rho(z) = z^2`` and a network ``f(x) = U rho(W x)`` with ``W: (M, N)`` (rows ``w_k``)
and ``U: (n_out, M)``, output ``j`` is

    f_j(x) = sum_k U_jk <w_k, x>^2 = <A_j, x x^T>,      A_j = sum_k U_jk w_k w_k^T = W^T diag(U_j) W,

so the network is a *linear* model in the lifted features ``X = x x^T`` with a symmetric
parameter ``A_j`` (Mathematics of Deep Learning, lecture 13; Venturi, Bandeira & Bruna
2019). The square loss ``E(U, W) = mean_i |f(x_i) - y_i|^2`` is therefore
``E_lift(A(U, W))`` with the *convex* lifted loss ``E_lift(A) = mean_i |<A, x_i x_i^T> - y_i|^2``,
a least-squares problem in the ``N (N + 1) / 2`` entries of a symmetric matrix.

Why the two global minima agree once ``M >= N`` (one output): every network value is a
lifted value, so ``min E >= min E_lift``; conversely every symmetric ``A`` is
``sum_i lambda_i v_i v_i^T`` (spectral theorem), i.e. the lift of ``u_i = lambda_i``,
``w_i = v_i`` with ``rank A <= N <= M`` neurons (:func:`factorize`), so the lifted
minimiser is reached by a network. With ``n_out`` outputs sharing ``W`` the width needed is
at most ``min(sum_j rank A_j, N (N + 1) / 2)``: a fixed basis of ``N (N + 1) / 2`` rank-one
matrices spans all symmetric matrices.

Symmetric matrices are vectorised isometrically (:func:`svec`): diagonal entries, then
``sqrt(2) A_ij`` for ``i < j`` (row-major upper triangle), so ``<A, X>_F = svec(A) . svec(X)``.

>>> x = torch.tensor([[1.0, 2.0]])
>>> features(x)
tensor([[[1., 2.],
         [2., 4.]]])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["svec", "smat", "features", "lift", "lift_theta", "factorize", "LiftedSolution",
           "lifted_solution", "lifted_loss", "lifted_energy", "symmetric_rank", "inertia",
           "sign_counts", "lifted_dimension", "width_bound"]


def _triu(n, device):
    return torch.triu_indices(n, n, offset=1, device=device)


def svec(A: Tensor) -> Tensor:
    """Isometric vectorisation of symmetric matrices: ``(..., N, N) -> (..., N (N + 1) / 2)``.

    ``svec(A) = [A_11, ..., A_NN, sqrt(2) A_12, sqrt(2) A_13, ..., sqrt(2) A_{N-1,N}]``, so
    ``svec(A) . svec(B) = trace(A B)`` for symmetric ``A, B``. Only the upper triangle is read.
    """
    if not isinstance(A, Tensor) or A.dim() < 2 or A.shape[-1] != A.shape[-2]:
        raise ValueError(f"svec: A must have shape (..., N, N), got {tuple(getattr(A, 'shape', ()))}")
    n = A.shape[-1]
    i, j = _triu(n, A.device)
    diag = torch.diagonal(A, dim1=-2, dim2=-1)  # (..., N)
    return torch.cat([diag, math.sqrt(2.0) * A[..., i, j]], dim=-1)


def smat(v: Tensor) -> Tensor:
    """Inverse of :func:`svec`: ``(..., N (N + 1) / 2) -> (..., N, N)`` symmetric."""
    if not isinstance(v, Tensor) or v.dim() < 1:
        raise ValueError(f"smat: v must have shape (..., D), got {type(v).__name__}")
    D = v.shape[-1]
    n = int(round((math.sqrt(8 * D + 1) - 1) / 2))
    if n * (n + 1) // 2 != D or n < 1:
        raise ValueError(f"smat: the last axis must have length N (N + 1) / 2 for some N, got {D}")
    i, j = _triu(n, v.device)
    A = v.new_zeros(*v.shape[:-1], n, n)
    idx = torch.arange(n, device=v.device)
    A[..., idx, idx] = v[..., :n]
    off = v[..., n:] / math.sqrt(2.0)
    A[..., i, j] = off
    A[..., j, i] = off
    return A


def features(x: Tensor, *, vectorize: bool = False) -> Tensor:
    """Lifted features ``X_i = x_i x_i^T``: ``x (n, N) -> (n, N, N)``, or ``svec`` of them
    ``(n, N (N + 1) / 2)`` with ``vectorize=True``. ``<A, X_i>`` is then the network output."""
    if not isinstance(x, Tensor) or x.dim() != 2:
        raise ValueError(f"features: x must have shape (n, N), got {tuple(getattr(x, 'shape', ()))}")
    X = x[:, :, None] * x[:, None, :]  # (n, N, N)
    return svec(X) if vectorize else X


def lift(U: Tensor, W: Tensor) -> Tensor:
    """The lifted parameter ``A_j = W^T diag(U_j) W = sum_k U_jk w_k w_k^T``.

    Shapes: ``U (M,)``, ``W (M, N)`` -> ``A (N, N)``; ``U (n_out, M)``, ``W (M, N)`` ->
    ``(n_out, N, N)``; batched over parameter points ``U (B, n_out, M)``, ``W (B, M, N)`` ->
    ``(B, n_out, N, N)``. Differentiable.

    >>> lift(torch.tensor([2.0]), torch.tensor([[1.0, 1.0]]))
    tensor([[2., 2.],
            [2., 2.]])
    """
    for name, t in (("U", U), ("W", W)):
        if not isinstance(t, Tensor):
            raise TypeError(f"lift: {name} must be a torch.Tensor, got {type(t).__name__}")
    ok = (U.dim() in (1, 2) and W.dim() == 2) or (U.dim() == 3 and W.dim() == 3 and U.shape[0] == W.shape[0])
    if not ok or U.shape[-1] != W.shape[-2]:
        raise ValueError(f"lift: need U (M,) or (n_out, M) with W (M, N), or U (B, n_out, M) with "
                         f"W (B, M, N); got U {tuple(U.shape)}, W {tuple(W.shape)}")
    if U.dim() == 3:
        A = torch.einsum("bjm,bmp,bmq->bjpq", U, W, W)
    else:
        A = torch.einsum("...m,mp,mq->...pq", U, W, W)
    return (A + A.transpose(-1, -2)) / 2  # exactly symmetric (einsum rounds each half apart)


def lift_theta(model, theta: Tensor) -> Tensor:
    """Lift flat parameter vectors of a :class:`~lecture_lib.models.QuadraticNet`:
    ``theta (B, d) -> A (B, n_out, N, N)`` (layout of ``model.parameters()``: W, then U)."""
    if not hasattr(model, "split_theta") or len(getattr(model, "widths", ())) != 3:
        raise TypeError(f"lift_theta needs a QuadraticNet (parameters W, U), got {type(model).__name__}")
    W, U = model.split_theta(theta)  # (B, M, N), (B, n_out, M)
    return lift(U, W)


def symmetric_rank(A: Tensor, rtol: float | None = None) -> int:
    """Numerical rank of a symmetric ``A (N, N)``: eigenvalues above ``rtol * max |lambda|``
    (default ``rtol = N * eps``, as ``numpy.linalg.matrix_rank``)."""
    lam = torch.linalg.eigvalsh(A)
    rtol = A.shape[-1] * torch.finfo(A.dtype).eps if rtol is None else rtol
    top = float(lam.abs().max()) if lam.numel() else 0.0
    return int((lam.abs() > rtol * top).sum()) if top > 0 else 0


def inertia(A: Tensor, rtol: float = 1e-6) -> tuple[int, int]:
    """``(p, q)``: the numbers of positive and negative eigenvalues of a symmetric ``A (N, N)``
    above ``rtol * max |lambda|`` in absolute value."""
    lam = torch.linalg.eigvalsh(A)
    big = lam.abs() > rtol * float(lam.abs().max())
    return int((big & (lam > 0)).sum()), int((big & (lam < 0)).sum())


def sign_counts(U: Tensor, W: Tensor, rtol: float = 1e-6) -> tuple:
    """Numbers of neurons with positive and negative contribution ``u_k |w_k|^2`` (those below
    ``rtol`` of the largest ignored), per parameter point: ``U (B, 1, M)``, ``W (B, M, N)`` ->
    ``((p_1, q_1), ..., (p_B, q_B))``. By Weyl's inequality (Sylvester's law of inertia)
    ``lift(U, W)`` has at most ``p_b`` positive and ``q_b`` negative eigenvalues."""
    c = U[:, 0] * W.square().sum(-1)  # (B, M)
    big = c.abs() > rtol * c.abs().amax(1, keepdim=True)
    return tuple((int(p), int(q)) for p, q in zip((big & (c > 0)).sum(1), (big & (c < 0)).sum(1)))


def _check_symmetric(A):
    if not isinstance(A, Tensor) or A.dim() not in (2, 3) or A.shape[-1] != A.shape[-2]:
        raise ValueError(f"factorize: A must have shape (N, N) or (n_out, N, N), got "
                         f"{tuple(getattr(A, 'shape', ()))}")
    if not A.is_floating_point():
        raise TypeError(f"factorize: A must have a floating dtype, got {A.dtype}")
    scale = float(A.abs().max()) if A.numel() else 0.0
    asym = float((A - A.transpose(-1, -2)).abs().max()) if A.numel() else 0.0
    if asym > 1e3 * torch.finfo(A.dtype).eps * max(scale, 1.0):
        raise ValueError(f"factorize: A must be symmetric, but max |A - A^T| = {asym:.3g}")


def _basis_factors(A):
    """Width ``N(N+1)/2``: ``w = e_i`` and ``w = e_i + e_j`` (i < j) span the symmetric matrices."""
    n = A.shape[-1]
    i, j = _triu(n, A.device)
    eye = torch.eye(n, dtype=A.dtype, device=A.device)
    W = torch.cat([eye, eye[i] + eye[j]])  # (D, N)
    off = A[:, i, j]  # (n_out, D - N): coefficient of (e_i + e_j)(e_i + e_j)^T
    diag = torch.diagonal(A, dim1=-2, dim2=-1) - (A.sum(-1) - torch.diagonal(A, dim1=-2, dim2=-1))
    return torch.cat([diag, off], dim=1), W  # U (n_out, D)


def factorize(A: Tensor, width: int, *, rtol: float | None = None) -> tuple[Tensor, Tensor]:
    """Network weights ``(U, W)`` with ``lift(U, W) = A``: the inverse of the lifting.

    Spectral construction: ``A_j = sum_i lambda_i v_i v_i^T`` gives neurons ``w = v_i`` with
    output weight ``lambda_i`` for the eigenvalues above ``rtol * max |lambda|`` (default
    ``N * eps``); outputs get disjoint blocks of neurons, unused neurons are zero. This needs
    ``width >= sum_j rank A_j``. When that is larger than ``N (N + 1) / 2`` and ``width`` is
    not smaller, the basis ``e_i, e_i + e_j`` is used instead. Returns ``U (n_out, width)``
    (``(1, width)`` for a single ``A (N, N)``) and ``W (width, N)``.

    >>> U, W = factorize(torch.diag(torch.tensor([1.0, -2.0])), 3)
    >>> torch.allclose(lift(U, W)[0], torch.diag(torch.tensor([1.0, -2.0])))
    True
    """
    _check_symmetric(A)
    if int(width) != width or width < 1:
        raise ValueError(f"factorize: width must be a positive integer, got {width!r}")
    A = A[None] if A.dim() == 2 else A  # (n_out, N, N)
    A = (A + A.transpose(-1, -2)) / 2
    n_out, n = A.shape[0], A.shape[-1]
    lam, V = torch.linalg.eigh(A)  # (n_out, N), (n_out, N, N)
    rtol = n * torch.finfo(A.dtype).eps if rtol is None else rtol
    keep = lam.abs() > rtol * lam.abs().amax(dim=1, keepdim=True).clamp_min(torch.finfo(A.dtype).tiny)
    ranks = [int(k.sum()) for k in keep]
    U = A.new_zeros(n_out, width)
    W = A.new_zeros(width, n)
    if sum(ranks) <= width:
        start = 0
        for j in range(n_out):
            r = ranks[j]
            U[j, start:start + r] = lam[j][keep[j]]
            W[start:start + r] = V[j][:, keep[j]].T
            start += r
        return U, W
    D = n * (n + 1) // 2
    if width < D:
        raise ValueError(f"factorize: width={width} is too small: A has rank {ranks} (sum "
                         f"{sum(ranks)}) and a width-{width} quadratic network only represents "
                         f"symmetric matrices of rank <= {width} per output; use width >= "
                         f"{min(sum(ranks), D)}")
    Ub, Wb = _basis_factors(A)
    U[:, :D], W[:D] = Ub, Wb
    return U, W


def lifted_loss(A: Tensor, x: Tensor, y: Tensor) -> float:
    """``mean_{i, j} (<A_j, x_i x_i^T> - y_ij)^2`` for ``A (N, N)`` or ``(n_out, N, N)``,
    ``x (n, N)``, ``y (n,)`` or ``(n, n_out)``: ``torch.nn.functional.mse_loss`` of the network."""
    A = A[None] if A.dim() == 2 else A
    y = y.reshape(len(y), -1)
    pred = torch.einsum("ipq,jpq->ij", features(x).to(A.dtype), A)  # (n, n_out)
    return float((pred - y.to(A.dtype)).square().mean())


def lifted_energy(x: Tensor, y: Tensor):
    """The convex lifted loss as a batched energy over ``svec(A)``: ``(B, D) -> (B,)``, one
    output (``y (n,)`` or ``(n, 1)``). Linear paths in it never rise above their endpoints."""
    Phi = features(x, vectorize=True)  # (n, D)
    y = y.reshape(-1)

    def energy(a):  # (B, D) -> (B,)
        return (a @ Phi.to(a.dtype).T - y.to(a.dtype)).square().mean(dim=1)
    return energy


@dataclass(frozen=True)
class LiftedSolution:
    """Global minimiser of the lifted least squares ``min_A mean |<A, x x^T> - y|^2``.

    Fields: ``A (n_out, N, N)`` float64 (the minimum-Frobenius-norm minimiser when the
    design is rank deficient); ``loss`` (the global minimum value); ``ranks`` (numerical
    rank of each ``A_j``); ``eigenvalues (n_out, N)``; ``min_width``, the width the
    spectral factorisation needs (``sum_j ranks``, capped at ``N (N + 1) / 2``);
    ``n_samples``, ``n_unknowns`` (``N (N + 1) / 2`` per output), ``design_rank``; ``message``.
    """

    A: Tensor
    loss: float
    ranks: tuple
    eigenvalues: Tensor
    min_width: int
    n_samples: int
    n_unknowns: int
    design_rank: int
    message: str


def lifted_solution(x: Tensor, y: Tensor) -> LiftedSolution:
    """Solve the convex lifted problem exactly (``torch.linalg.lstsq``, driver ``gelsd``, float64).

    ``x (n, N)``, ``y (n,)`` or ``(n, n_out)``. Its ``loss`` is the global minimum of the
    quadratic network ``U (W x)^2`` of any width ``M >= N`` (one output; module docstring).

    >>> x = torch.randn(20, 2, dtype=torch.float64)
    >>> round(lifted_solution(x, (x[:, 0] * x[:, 1])[:, None]).loss, 12)
    0.0
    """
    if not isinstance(x, Tensor) or not isinstance(y, Tensor) or x.dim() != 2 or y.dim() not in (1, 2) \
            or len(x) != len(y):
        raise ValueError(f"lifted_solution: need x (n, N) and y (n,) or (n, n_out) with the same n, got "
                         f"{tuple(getattr(x, 'shape', ()))} and {tuple(getattr(y, 'shape', ()))}")
    x = x.detach().double().cpu()
    y = y.detach().double().cpu().reshape(len(x), -1)  # (n, n_out)
    n, N = x.shape
    Phi = features(x, vectorize=True)  # (n, D)
    D = Phi.shape[1]
    sol = torch.linalg.lstsq(Phi, y, driver="gelsd")
    A = smat(sol.solution.T)  # (n_out, N, N)
    loss = float((Phi @ sol.solution - y).square().mean())
    ranks = tuple(symmetric_rank(a, rtol=1e-9) for a in A)
    design_rank = int(sol.rank)
    how = (f"unique minimiser: design of rank {D} = N(N+1)/2" if design_rank == D else
           f"design rank {design_rank} < {D} unknowns: minimum-norm minimiser of a flat set")
    return LiftedSolution(A=A, loss=loss, ranks=ranks, eigenvalues=torch.linalg.eigvalsh(A),
                          min_width=min(sum(ranks), D), n_samples=n, n_unknowns=D,
                          design_rank=design_rank,
                          message=f"{how}; global minimum {loss:.6g}; rank(A) = {list(ranks)}")


def lifted_dimension(n_in: int, degree: int) -> int:
    """Dimension of homogeneous polynomials of ``degree`` in ``n_in`` variables,
    ``binom(n_in + degree - 1, degree)``: where layer k of a quadratic net lives (degree 2^k)."""
    if n_in < 1 or degree < 0:
        raise ValueError(f"need n_in >= 1 and degree >= 0, got {n_in}, {degree}")
    return math.comb(n_in + degree - 1, degree)


def width_bound(n_in: int, k: int) -> int:
    """The width ``3 N^(2^k)`` the proposition asks of hidden layer ``k`` (lecture 13)."""
    if n_in < 1 or k < 1:
        raise ValueError(f"need n_in >= 1 and layer k >= 1, got {n_in}, {k}")
    return 3 * n_in ** (2 ** k)
