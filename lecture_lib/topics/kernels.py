"""Chapter 4: kernels are back, and the functional view of the landscape.

A two-layer network ``Phi(x; theta) = sum_k u_k sigma(<w_k, x>)`` is linear in its output
weights and in the *canonical parameter*: if the functions ``sigma(<w, .>)`` span a space
``V`` of finite dimension ``q`` with basis ``Psi = (psi_1, ..., psi_q)``, then
``sigma(<w, x>) = <Psi(x), a(w)>`` and ``Phi(x; theta) = <Psi(x), A(theta)>`` with
``A(theta) = sum_k u_k a(w_k)`` (Venturi, Bandeira & Bruna 2019). Their theorem: for a loss
convex in ``Phi``, ``M >= q`` neurons leave no spurious valley. Two cases where ``q`` is finite:

- **polynomial activations** ``sigma(z) = sum_j c_j z^j``: ``V`` is the sum of the spaces of
  homogeneous polynomials of the degrees ``j`` with ``c_j != 0`` (powers of linear forms span
  each), so ``q = sum_{j : c_j != 0} C(N + j - 1, j)`` (:func:`functional_dimension`), and the
  global minimum over all widths ``M >= q`` is a least-squares problem on the monomials
  (:func:`monomial_features`);
- **empirical risk**: only the values at the ``n`` samples matter, so ``V`` is a subspace of
  ``R^n`` and ``q <= n`` for *any* activation (:func:`numerical_dimension` measures it).

:func:`success_sweep` trains many seeds per width with :func:`lecture_lib.train.fit_ensemble`
and counts the runs that reach the global minimum. The last part is the functional view:
the loss in function space is ``||phi - g||^2``, whose sublevel sets in ``F`` are the balls
around the target ``g`` intersected with ``F``; :func:`ball_pieces` counts the pieces of such
an intersection for a curve ``F`` (a connected set that is not *ball-connected*).

>>> functional_dimension(2, (0, 1, 0.5, 1 / 6))  # z + z^2/2 + z^3/6 on R^2: 2 + 3 + 4
9
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lecture_lib.arguments import positive_float, positive_int
from lecture_lib.models import MLP, BatchedForward, TwoLayer, _check_x, _layer, _uniform
from lecture_lib.data import teacher_student
from lecture_lib.train import fit_ensemble
from lecture_lib.runtime import one_thread

TAYLOR3 = (0.0, 1.0, 0.5, 1.0 / 6.0)  # sigma(z) = z + z^2/2 + z^3/6, the cubic Taylor polynomial of e^z - 1


def _coefficients(coeffs) -> tuple:
    c = tuple(float(v) for v in coeffs)
    if not c or not all(math.isfinite(v) for v in c) or not any(c):
        raise ValueError(f"coeffs must be finite polynomial coefficients (c_0, c_1, ...), not all 0, got {coeffs!r}")
    return c


def polynomial(z: torch.Tensor, coeffs) -> torch.Tensor:
    """``sigma(z) = sum_j c_j z^j`` entrywise (Horner's rule)."""
    out = torch.zeros_like(z)
    for c in reversed(coeffs):
        out = out * z + c
    return out


class PolyActivationNet(BatchedForward, nn.Module):
    """``f(x) = sum_k u_k sigma(<w_k, x>)``, ``sigma(z) = sum_j c_j z^j``; parameters ``W:
    (width, n_in)`` then ``U: (1, width)``, initialised like ``nn.Linear``; with the batched
    forward of :mod:`lecture_lib.models` (``forward_batched(theta (B, d), x) -> (B, N, 1)``).

    >>> net = PolyActivationNet(2, 3, (0, 0, 1))  # a quadratic network U (W x)^2
    >>> net(torch.zeros(4, 2)).shape
    torch.Size([4, 1])
    """

    def __init__(self, n_in: int, width: int, coeffs=TAYLOR3):
        super().__init__()
        self.widths = [positive_int("n_in", n_in), positive_int("width", width), 1]
        self.coeffs = _coefficients(coeffs)
        self.W = _uniform((width, n_in), n_in)
        self.U = _uniform((1, width), width)

    def forward(self, x):
        _check_x(x, self.widths[0], "PolyActivationNet")
        return polynomial(x @ self.W.T, self.coeffs) @ self.U.T  # (N, 1)

    def forward_stacked(self, params, x):
        """``[W (B, width, n_in), U (B, 1, width)]``, ``x: (N, n_in)`` -> ``(B, N, 1)``."""
        self._check_stacked(params, x)
        W, U = params
        return _layer(polynomial(_layer(x, W), self.coeffs), U)


def functional_dimension(n_in: int, coeffs) -> int:
    """``q = dim span {sigma(<w, .>) : w in R^N} = sum_{j : c_j != 0} C(N + j - 1, j)``."""
    n_in, c = positive_int("n_in", n_in), _coefficients(coeffs)
    return sum(math.comb(n_in + j - 1, j) for j, cj in enumerate(c) if cj != 0)


def monomial_features(x: torch.Tensor, coeffs) -> torch.Tensor:
    """``(n, N) -> (n, q)``: every monomial ``x^alpha`` with ``|alpha| = j`` for each degree ``j``
    with ``c_j != 0``, a basis ``Psi`` of ``V`` (module docstring)."""
    c = _coefficients(coeffs)
    cols = []
    for j, cj in enumerate(c):
        if cj == 0:
            continue
        for idx in itertools.combinations_with_replacement(range(x.shape[1]), j):
            cols.append(x[:, list(idx)].prod(1) if idx else torch.ones_like(x[:, 0]))
    return torch.stack(cols, 1)


def least_squares_optimum(features: torch.Tensor, y: torch.Tensor) -> float:
    """``min_a mean_i (<features_i, a> - y_i)^2``, exactly (``torch.linalg.lstsq``, float64)."""
    Phi, t = features.double(), y.double().reshape(len(y), -1)
    a = torch.linalg.lstsq(Phi, t, driver="gelsd").solution
    return float((Phi @ a - t).square().mean())


def numerical_dimension(activation, x: torch.Tensor, n_neurons: int = 400, seed: int = 0,
                        rtol: float = 1e-9) -> int:
    """The rank of ``[sigma(<w_j, x_i>)]_{i, j}`` for ``n_neurons`` Gaussian ``w_j``: the dimension
    of ``V`` restricted to the samples ``x (n, N)``, so at most ``n`` (singular values above
    ``rtol`` times the largest count)."""
    g = torch.Generator().manual_seed(int(seed))
    w = torch.randn(x.shape[1], positive_int("n_neurons", n_neurons), generator=g, dtype=torch.float64)
    s = torch.linalg.svdvals(activation(x.double() @ w))
    return int((s > rtol * s[0]).sum())


@dataclass(frozen=True)
class SuccessSweep:
    """Many seeds per width: ``widths``, ``q``, ``ratios`` (``M / q``), ``gaps`` (per width a
    tensor ``(n_seeds,)`` of ``(E - E*) / scale``), ``fractions`` (runs with gap ``<= tol``),
    ``optimum`` ``E*``, ``scale`` (``mean y^2 - E*``), ``n_params`` per width, ``message``."""

    name: str
    widths: tuple
    q: int
    ratios: tuple
    gaps: tuple
    fractions: tuple
    optimum: float
    scale: float
    tol: float
    n_seeds: int
    steps: int
    n_params: tuple
    message: str


def success_sweep(name, make_model, widths, x, y, optimum, q, *, n_seeds=16, steps=1500, lr=1e-2,
                  tol=1e-3, seed=0) -> SuccessSweep:
    """Train ``n_seeds`` networks ``make_model(M)`` per width ``M`` (:func:`fit_ensemble`, Adam,
    full batch) and compare the final square losses with the global minimum ``optimum``."""
    widths = tuple(positive_int("width", m) for m in widths)
    n_seeds, steps = positive_int("n_seeds", n_seeds), positive_int("steps", steps)
    lr, tol = positive_float("lr", lr), positive_float("tol", tol)
    scale = float(y.double().square().mean()) - float(optimum)
    gaps, fracs, n_params = [], [], []
    for m in widths:
        seeds = [1000 * int(seed) + 100 * m + i for i in range(n_seeds)]
        with one_thread():
            fit = fit_ensemble(lambda: make_model(m), n_seeds, F.mse_loss, x, y, steps=steps, lr=lr,
                               seeds=seeds, progress=False)
        gap = (fit.final_losses.detach().double() - optimum) / scale
        gaps.append(gap)
        fracs.append(float((gap <= tol).double().mean()))
        n_params.append(int(fit.thetas.shape[1]))
    text = ", ".join(f"M={m}: {f:.0%}" for m, f in zip(widths, fracs))
    return SuccessSweep(name, widths, int(q), tuple(m / q for m in widths), tuple(gaps), tuple(fracs),
                        float(optimum), scale, tol, n_seeds, steps, tuple(n_params),
                        f"{name}: q = {q}; runs at the global minimum (gap <= {tol:g}): {text}")


@functools.lru_cache(maxsize=4)
def polynomial_experiment(n_in=2, coeffs=TAYLOR3, widths=(1, 2, 3, 4, 5, 6, 8, 9, 12), n_samples=200,
                          n_seeds=16, steps=1500, seed=0) -> SuccessSweep:
    """``PolyActivationNet(N, M, coeffs)`` on teacher-student data from a ReLU teacher
    ``TwoLayer(N, 8, 1)`` (not in ``V``, so ``E* > 0``), targets scaled to mean square 1;
    ``E*`` from :func:`least_squares_optimum` on :func:`monomial_features`, which is the
    global minimum of every width ``M >= q``."""
    data = teacher_student(lambda: TwoLayer(n_in, 8, 1), n_samples, seed=seed, dtype=torch.float64)
    x, y = data.x_train, data.y_train / data.y_train.square().mean().sqrt()
    optimum = least_squares_optimum(monomial_features(x, coeffs), y)
    q = functional_dimension(n_in, coeffs)
    make = lambda m: PolyActivationNet(n_in, m, coeffs).double()  # noqa: E731
    name = "sigma = z + z^2/2 + z^3/6" if tuple(coeffs) == TAYLOR3 else (
        "sigma = " + " + ".join(f"{c:g} z^{j}" for j, c in enumerate(coeffs) if c))
    return success_sweep(name, make, widths, x, y, optimum, q,
                         n_seeds=n_seeds, steps=steps, seed=seed)


def erm_problem(n_in=4, n_samples=16, seed=0):
    """``x (n, N) ~ N(0, I)`` and random targets ``y (n, 1) ~ N(0, 1)`` scaled to mean square 1."""
    g = torch.Generator().manual_seed(int(seed))
    x = torch.randn(n_samples, n_in, generator=g, dtype=torch.float64)
    y = torch.randn(n_samples, 1, generator=g, dtype=torch.float64)
    return x, y / y.square().mean().sqrt()


@functools.lru_cache(maxsize=4)
def erm_experiment(n_in=4, n_samples=16, widths=(2, 3, 4, 6, 8, 12, 16, 20), n_seeds=16, steps=1500,
                   seed=0) -> SuccessSweep:
    """Empirical risk of ``sum_k u_k tanh(<w_k, x>)`` (``MLP([N, M, 1], "tanh", bias=False)``)
    on :func:`erm_problem`: ``q`` is :func:`numerical_dimension` (``= n`` for these samples), and
    for ``M >= q`` the global minimum is 0 (interpolation)."""
    x, y = erm_problem(n_in, n_samples, seed)
    q = numerical_dimension(torch.tanh, x)
    make = lambda m: MLP([n_in, m, 1], activation="tanh", bias=False).double()  # noqa: E731
    return success_sweep("sigma = tanh, empirical risk", make, widths, x, y, 0.0, q,
                         n_seeds=n_seeds, steps=steps, seed=seed)


# ----------------------------------------------------------------------------- functional view

def parabola(t: np.ndarray) -> np.ndarray:
    """The curve ``F = {(t, t^2)}``, ``(T,) -> (T, 2)``: connected, not ball-connected."""
    t = np.asarray(t, dtype=float)
    return np.stack([t, t * t], -1)


def ball_pieces(points: np.ndarray, center, radius: float) -> int:
    """Pieces of a sampled curve inside the closed ball ``B(center, radius)``.

    ``points (T, 2)`` are consecutive samples of an open curve; the answer is the number of
    maximal runs of samples with ``|p - center| <= radius`` (exact for the sampled curve; it
    converges as the sampling is refined).
    """
    p = np.asarray(points, dtype=float)
    inside = np.linalg.norm(p - np.asarray(center, dtype=float), axis=-1) <= positive_float("radius", radius)
    return int(inside[0]) + int(np.count_nonzero(inside[1:] & ~inside[:-1]))
