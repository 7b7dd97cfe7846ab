"""Energy barriers: ``beta(M, N)`` for the quadratic activation, and Yun, Sra & Jadbabaie's
poor local minimum of one-hidden-layer piecewise-linear networks.

**beta(M, N)** (Freeman & Bruna 2017, section 2.3, as the lecture states it). For a
homogeneous activation with ``rho(<w, x>) = <A_w, psi(x)>`` and ``dim psi(x) = f(N)``, a
network of width ``M`` on data projected onto a subspace ``S`` of dimension
``q = f^{-1}(M)`` is a linear model over ``psi(P_S x)``, over-parametrized; ``beta(M, N)``
is the best loss after projecting the data on the best such subspace. For ``rho(z) = z^2``,
``psi(x) = x x^T``, ``f(N) = N (N + 1) / 2``, and ``<A, psi(P_S x)> = x^T P_S A P_S x``: the
models are the symmetric matrices ``B`` of rank at most ``q``, so

    beta(M, N) = min_{B = B^T, rank B <= q} (1/n) sum_i (y_i - x_i^T B x_i)^2,   q = f^{-1}(M).

It decreases in ``M`` (more ranks allowed) and ``beta(f(N), N) = min E``, the least-squares
loss over all symmetric ``B``, a convex problem solved exactly. For ``q < N`` the rank
constraint makes it non-convex: :func:`beta` returns an *upper bound* (the best of the
truncated eigendecomposition of the exact solution and its refinement by descent) together
with the exact lower bound ``min E``.

**Yun, Sra & Jadbabaie (ICLR 2019), Theorem 1.** For ``f(x) = W_2 h(W_1 x + b_1) + b_2``
with ``h(z) = s_+ z`` (``z >= 0``), ``s_- z`` (``z < 0``), ``s_+ != s_-``, squared loss, distinct
samples that no affine map fits, and hidden width at least 2, there is a local minimum
whose risk equals that of the best affine fit, and it is not global.
:func:`linear_fit_minimum` builds it explicitly; :func:`local_min_radius` gives a ball in
which the activation pattern is fixed, so the risk there is at least the affine one.

>>> f(3), f_inverse(6), f_inverse(5)
(6, 3, 2)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .. import models
from ..arguments import positive_int


def f(n: int) -> int:
    """``dim psi(x) = n (n + 1) / 2`` for the quadratic activation (symmetric ``n x n``)."""
    n = positive_int("n", n)
    return n * (n + 1) // 2


def f_inverse(m: int) -> int:
    """The largest ``q`` with ``f(q) <= m`` (``f_inverse(f(q)) = q``)."""
    m = positive_int("m", m)
    return int((math.isqrt(8 * m + 1) - 1) // 2)


def quadratic_forms(x: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """``x_i^T B x_i`` for ``x (n, N)``, ``B (N, N)`` or a batch ``(K, N, N)`` -> ``(n,)``/``(K, n)``."""
    return torch.einsum("ni,...ij,nj->...n", x, B, x)


@dataclass(frozen=True)
class BetaResult:
    """``beta(M, N)`` for the quadratic activation: ``upper`` >= beta >= ``lower`` = min E;
    ``exact`` when ``q = N`` (then both equal beta). ``B`` attains ``upper``."""

    M: int
    N: int
    q: int
    upper: float
    lower: float
    exact: bool
    B: torch.Tensor
    message: str


def _features(x):
    """``x (n, N) -> (n, N^2)``: the rows ``vec(x_i x_i^T)``, so ``x_i^T B x_i = feats @ vec(B)``."""
    return torch.einsum("ni,nj->nij", x, x).reshape(x.shape[0], -1)


def least_squares_quadratic(x, y):
    """The symmetric ``B`` minimising ``mean (y - x^T B x)^2`` and that minimum (``min E``)."""
    n, N = x.shape
    feats = _features(x.double())
    sol = torch.linalg.lstsq(feats, y.reshape(n, 1).double(), driver="gelsd").solution
    B = sol.reshape(N, N)
    B = (B + B.T) / 2  # x^T B x only sees the symmetric part
    return B, float(((quadratic_forms(x.double(), B) - y.reshape(n).double()) ** 2).mean())


def beta(x, y, M: int, *, steps: int = 300, lr: float = 0.02) -> BetaResult:
    """``beta(M, N)`` on data ``x (n, N)``, ``y (n,)`` or ``(n, 1)`` (module docstring).

    >>> x = torch.randn(200, 3, generator=torch.Generator().manual_seed(0))
    >>> y = (x ** 2).sum(1)                    # x^T I x: needs rank 3 = N
    >>> r = beta(x, y, 6); r.exact, r.upper < 1e-10
    (True, True)
    """
    N = x.shape[1]
    q = min(f_inverse(M), N)
    x, y = x.double(), y.reshape(-1).double()
    B_full, lower = least_squares_quadratic(x, y)
    if q == N:
        return BetaResult(M, N, q, lower, lower, True, B_full,
                          f"beta({M}, {N}) = min E = {lower:.6g} (q = N = {N}: exact)")
    evals, evecs = torch.linalg.eigh(B_full)
    top = evals.abs().argsort(descending=True)[:q]
    U = (evecs[:, top] * evals[top].abs().sqrt()).clone().requires_grad_(True)  # (N, q)
    s = evals[top].sign()  # B = U diag(s) U^T, rank <= q
    risk = lambda U: ((quadratic_forms(x, U * s @ U.T) - y) ** 2).mean()
    best_B, best = (U * s @ U.T).detach(), float(risk(U).detach())
    opt = torch.optim.Adam([U], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        value = risk(U)
        value.backward()
        opt.step()
    final = float(risk(U).detach())
    if final < best:
        best_B, best = (U * s @ U.T).detach(), final
    return BetaResult(M, N, q, best, lower, False, best_B,
                      f"beta({M}, {N}) over rank <= {q}: between {lower:.6g} (min E) and {best:.6g} "
                      f"(best rank-{q} fit found)")


@dataclass(frozen=True)
class PsdFit:
    """The best positive semidefinite quadratic model: ``B`` attains ``loss`` over
    ``{B = B^T, B >= 0}``; ``rank`` its numerical rank; ``kkt`` the optimality residual
    ``max(-lambda_min(G), |<G, B>|)`` of the gradient ``G`` there (0 at the exact optimum)."""

    B: torch.Tensor
    loss: float
    rank: int
    kkt: float
    message: str


def best_psd_fit(x, y, *, steps: int = 5000) -> PsdFit:
    """``min_{B >= 0} (1/n) sum_i (y_i - x_i^T B x_i)^2``, a convex problem, by accelerated
    projected gradient (FISTA, step ``1 / L`` with ``L`` the gradient's Lipschitz constant;
    the projection clips the eigenvalues at 0).

    For the quadratic network ``sum_j u_j (w_j . x)^2``, every point with all ``u_j > 0`` has a
    positive semidefinite ``B = W^T diag(u) W``, and so has every point near it: a point with
    all ``u_j > 0`` whose ``B`` is this fit is a local minimum of loss ``loss``, at every width
    ``M >= rank`` (chapter 5a).

    >>> x = torch.randn(300, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> fit = best_psd_fit(x, -(x ** 2).sum(1))     # a negative definite target: B = 0 is best
    >>> fit.rank, round(fit.loss / float(((x ** 2).sum(1) ** 2).mean()), 6)
    (0, 1.0)
    """
    steps = positive_int("steps", steps)
    n, N = x.shape
    x, y = x.double(), y.reshape(-1).double()
    feats = _features(x)
    L = 2 / n * float(torch.linalg.matrix_norm(feats, 2)) ** 2
    grad = lambda B: (2 / n * feats.T @ (feats @ B.reshape(-1) - y)).reshape(N, N)

    def project(B):
        evals, evecs = torch.linalg.eigh((B + B.T) / 2)
        return (evecs * evals.clamp_min(0)) @ evecs.T

    B = Z = torch.zeros(N, N, dtype=torch.float64)
    t = 1.0
    for _ in range(steps):
        B_next = project(Z - grad(Z) / L)
        t_next = (1 + math.sqrt(1 + 4 * t * t)) / 2
        Z, B, t = B_next + (t - 1) / t_next * (B_next - B), B_next, t_next
    G = grad(B)
    G = (G + G.T) / 2
    kkt = max(-float(torch.linalg.eigvalsh(G)[0]), abs(float((G * B).sum())))
    loss = float(((feats @ B.reshape(-1) - y) ** 2).mean())
    evals = torch.linalg.eigvalsh(B)  # ascending, all >= 0 after the projection
    rank = int((evals > 1e-8 * float(evals[-1])).sum())  # 0 when B = 0
    return PsdFit(B, loss, rank, kkt, f"best positive semidefinite fit: loss {loss:.6g}, rank {rank} "
                                      f"(KKT residual {kkt:.2g})")


@dataclass(frozen=True)
class LinearFitMinimum:
    """The point of :func:`linear_fit_minimum`: ``theta`` for ``model`` (a
    :class:`lecture_lib.models.TwoLayer` with biases), its ``risk`` (the MSE) and the
    ``linear_risk`` of the best affine fit (equal), and ``radius``, within which it is
    proven a local minimum (:func:`local_min_radius`)."""

    model: torch.nn.Module
    theta: torch.Tensor
    risk: float
    linear_risk: float
    radius: float
    message: str


def linear_fit_minimum(x, y, width: int = 2, slopes=(1.0, 0.1)) -> LinearFitMinimum:
    """Yun, Sra & Jadbabaie's construction: the network reproduces the best affine fit.

    With ``(w, c)`` the least-squares affine fit and ``z_i = w . x_i + c``, unit 1 carries
    ``z + delta`` with ``delta = 1 - min_i z_i`` (pre-activation at least 1 on every sample,
    so ``h`` is linear there), units 2.. have zero weights and bias -1 (pre-activation -1),
    the output is ``h(z + delta) / s_+ - delta = z``. ``x (n, n_in)``, ``y (n, 1)``.
    """
    width = positive_int("width", width)
    if width < 2:
        raise ValueError(f"width must be at least 2 (the theorem needs m > 1), got {width}")
    s_plus, s_minus = (float(v) for v in slopes)
    if s_plus <= 0:
        raise ValueError(f"slopes[0] = s_+ must be positive for this construction, got {s_plus}")
    n, n_in = x.shape
    X1 = torch.cat([x, torch.ones(n, 1, dtype=x.dtype)], 1).double()
    sol = torch.linalg.lstsq(X1, y.reshape(n, 1).double(), driver="gelsd").solution  # (n_in + 1, 1)
    w, c = sol[:-1, 0], float(sol[-1, 0])
    z = x.double() @ w + c
    delta = 1.0 - float(z.min())
    net = models.TwoLayer(n_in, width, 1, activation="leaky", slopes=(s_plus, s_minus), bias=True).to(x.dtype)
    with torch.no_grad():
        net.W1.zero_(); net.b1.fill_(-1.0); net.W2.zero_()
        net.W1[0] = w.to(x.dtype); net.b1[0] = c + delta
        net.W2[0, 0] = 1.0 / s_plus; net.b2.fill_(-delta)
    theta = torch.nn.utils.parameters_to_vector(net.parameters()).detach().clone()
    with torch.no_grad():
        risk = float(torch.nn.functional.mse_loss(net(x), y.reshape(n, 1)))
    linear = float(((z - y.reshape(n).double()) ** 2).mean())
    r = local_min_radius(x, margin=1.0)
    return LinearFitMinimum(net, theta, risk, linear, r,
                            f"affine-fit point: risk {risk:.6g} = best affine risk {linear:.6g}; "
                            f"a local minimum in the ball of radius {r:.3g}")


def local_min_radius(x, margin: float = 1.0) -> float:
    """Radius of a parameter ball around the construction in which no pre-activation
    changes sign: a perturbation ``(dW_1, db_1)`` moves unit j's pre-activation on sample i by
    at most ``|(dW_1, db_1)_j| |(x_i, 1)|``, so ``|delta theta| < margin / max_i |(x_i, 1)|``
    keeps every pattern; there the network is affine in ``x`` and its risk at least the
    best affine one. (A sufficient radius, not the largest.)"""
    return float(margin / torch.sqrt((x.double() ** 2).sum(1) + 1).max())


def probe_minimum(energy, theta, radii, directions) -> torch.Tensor:
    """``E(theta + r d) - E(theta)`` for unit rows ``d`` of ``directions (K, d)`` and each
    radius: ``(len(radii), K)``, all points in one batched call. No negative entry at
    small radii is what a local minimum shows numerically (a test, not a proof)."""
    d = directions / torch.linalg.vector_norm(directions, dim=1, keepdim=True)
    r = torch.as_tensor(radii, dtype=theta.dtype)
    pts = theta + r[:, None, None] * d[None]  # (R, K, d)
    with torch.no_grad():
        e0 = energy(theta[None])[0]
        return (energy(pts.reshape(-1, theta.shape[0])).reshape(len(r), -1) - e0)


def kink_coefficients(x, y, slopes, a, b, v) -> tuple[float, float]:
    """One-sided second-order coefficients at a unit sitting *at the kink*.

    Add to the affine-fit point a unit with weights ``t a``, bias ``t b``, output ``t v``
    (zero at ``t = 0``, so the function is unchanged there). ``h`` is positively homogeneous,
    so the output moves by ``t^2 v h(z)`` for ``t > 0`` and ``-t^2 v h(-z)`` for ``t < 0``
    (``z = a . x + b``) and, with the residuals ``r = y - (affine fit)``,
    ``E(t) - E(0) = c_pm t^2 + O(t^4)``, ``c_+ = -(2/n) v sum_i r_i h(z_i)``,
    ``c_- = (2/n) v sum_i r_i h(-z_i)``. The residuals are orthogonal to affine functions,
    so both equal ``-/+ (2/n) v (s_+ - s_-) sum_i r_i relu(z_i)``: opposite signs, and zero
    only for a linear activation (``s_+ = s_-``). Returns ``(c_+, c_-)``.
    """
    s_plus, s_minus = (float(s) for s in slopes)
    h = lambda z: s_plus * torch.relu(z) - s_minus * torch.relu(-z)
    n = x.shape[0]
    X1 = torch.cat([x, torch.ones(n, 1, dtype=x.dtype)], 1).double()
    yy = y.reshape(n, 1).double()
    r = (yy - X1 @ torch.linalg.lstsq(X1, yy, driver="gelsd").solution)[:, 0]
    z = x.double() @ torch.as_tensor(a, dtype=torch.float64) + float(b)
    return (float(-2.0 / n * v * (r * h(z)).sum()), float(2.0 / n * v * (r * h(-z)).sum()))


def kink_direction(point: LinearFitMinimum, unit: int, a, b: float, v: float):
    """Move hidden ``unit`` (>= 1) of the affine-fit point to the kink: ``(theta_k, d)`` where
    ``theta_k`` has that unit's weights, bias and output weight all zero (the same function
    and risk as ``point``) and ``d`` sets them to ``(a, b, v)``, so ``theta_k + t d`` is the
    perturbation of :func:`kink_coefficients`."""
    net = point.model
    width, n_in = net.W1.shape
    if not 1 <= int(unit) < width:
        raise ValueError(f"unit must be a hidden unit other than the first, in 1..{width - 1}, got {unit}")
    sizes = [p.numel() for p in net.parameters()]  # W1, b1, W2, b2
    w1 = lambda j, i: j * n_in + i
    b1 = lambda j: sizes[0] + j
    w2 = lambda j: sizes[0] + sizes[1] + j
    theta_k, d = point.theta.clone(), torch.zeros_like(point.theta)
    for i in range(n_in):
        theta_k[w1(unit, i)], d[w1(unit, i)] = 0.0, float(a[i])
    theta_k[b1(unit)], d[b1(unit)] = 0.0, float(b)
    theta_k[w2(unit)], d[w2(unit)] = 0.0, float(v)
    return theta_k, d


def train_quadratic_nets(x, y, M: int, n_models: int = 8, *, steps: int = 800, lr: float = 0.01,
                         seed: int = 0) -> torch.Tensor:
    """Final losses ``(n_models,)`` of quadratic networks ``f(x) = sum_j u_j (w_j . x)^2`` of width
    ``M`` trained by full-batch Adam from independent random starts (``models.QuadraticNet``'s
    initialization, ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``), all at once: ``W (K, M, N)``, ``u (K, M)``.
    """
    M, n_models = positive_int("M", M), positive_int("n_models", n_models)
    g = torch.Generator().manual_seed(int(seed))
    N = x.shape[1]
    W = ((torch.rand(n_models, M, N, generator=g, dtype=x.dtype) * 2 - 1) / math.sqrt(N)).requires_grad_(True)
    u = ((torch.rand(n_models, M, generator=g, dtype=x.dtype) * 2 - 1) / math.sqrt(M)).requires_grad_(True)
    y = y.reshape(1, -1)
    loss = lambda: ((torch.einsum("km,knm->kn", u, torch.einsum("kmi,ni->knm", W, x) ** 2) - y) ** 2).mean(1)
    opt = torch.optim.Adam([W, u], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss().sum().backward()
        opt.step()
    with torch.no_grad():
        return loss()
