"""ResNets versus linear predictors (Shamir 2018): the mathematics of chapter 6.

Shamir's residual predictor is ``Phi(x) = w^T (x + V F_theta(x))`` with
``F_theta(x) = relu(A x + b)`` (:class:`lecture_lib.models.ResNetShamir`), and its risk
``L(w, V, theta) = E[ell(Phi(x), y)]``. On the slice ``V = 0`` it is the linear predictor,
``L(w, 0, theta) = E[ell(w^T x, y)]`` for every ``theta``. Here:

- :class:`ShamirNet`: that model with the library's batched-parameter forward (flat
  ``theta = (w, V, A, b)``, one batched matmul per layer), and ``skip=False``, the plain
  network ``w^T V F_theta(x)`` with the same parameters and no identity branch;
- :func:`best_linear`: the best linear predictor of the square loss in closed form;
- :func:`train_many`: many seeds trained at once on the batched energy, with the loss and the
  norms ``||w||``, ``||V||`` of every run recorded at chosen steps;
- :func:`inactive_point`: a local minimum with arbitrarily large ``||V||`` whose loss is the
  linear baseline (every unit of ``F_theta`` is off on the data), and :func:`stationarity`:
  gradient norm and Hessian spectrum (``torch.func.hessian`` on the flat parameters);
- :func:`barrier_from_linear`: the energy barrier from the linear slice to a trained minimum
  with the nudged elastic band (:func:`lecture_lib.paths.neb`).

Losses are ``F.mse_loss`` (``mean (Phi(x) - y)^2``) on the training set: the theorem is a
statement about the objective being minimised, here the empirical risk.

>>> task = regression_task(n=64, seed=0)
>>> lin = best_linear(task.x_train, task.y_train)
>>> net = ShamirNet(5, 4, zero_residual=True).double()
>>> theta = embed_linear(net, lin.w)             # (w*, V = 0, theta at its init)
>>> abs(float(task_energy(net, task)(theta[None])[0]) - lin.loss) < 1e-12
True
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.func import hessian

from lecture_lib import paths
from lecture_lib.arguments import positive_float, positive_int, real
from lecture_lib.data import Dataset, digits, teacher_student
from lecture_lib.energy import flatten, model_energy
from lecture_lib.models import BatchedForward, ResNetShamir, _layer
from lecture_lib.runtime import one_thread


class ShamirNet(BatchedForward, ResNetShamir):
    """``Phi(x) = w^T (x + V relu(A x + b))`` (``skip=True``, Shamir 2018) or the plain
    ``w^T V relu(A x + b)`` (``skip=False``), with a batched-parameter forward.

    Parameters in ``ResNetShamir`` order ``w (n,), V (n, k), A (k, n), b (k,)``; a flat
    ``theta`` has ``d = n + 2 n k + k`` entries. ``forward_stacked(params, x)`` evaluates B
    parameter sets at once, ``(B, N, 1)``.

    >>> net = ShamirNet(3, 2)
    >>> theta = flatten(net)[None]
    >>> torch.allclose(net.forward_batched(theta, torch.ones(4, 3))[0], net(torch.ones(4, 3)))
    True
    """

    def __init__(self, n_in, width, zero_residual=False, skip=True):
        super().__init__(n_in, width, zero_residual=zero_residual)
        self.width, self.skip = int(width), bool(skip)
        self.widths = [self.n_in, self.width, self.n_in, 1]

    def forward(self, x):
        if self.skip:
            return super().forward(x)
        return (torch.relu(F.linear(x, self.A, self.b)) @ self.V.T @ self.w)[:, None]  # (N, 1)

    def forward_stacked(self, params, x):
        """``[w (B, n), V (B, n, k), A (B, k, n), b (B, k)]``, ``x (N, n)`` -> ``(B, N, 1)``."""
        self._check_stacked(params, x)
        w, V, A, b = params
        h = _layer(torch.relu(_layer(x, A, b)), V)  # (B, N, n): V relu(A x + b)
        h = h + x if self.skip else h
        return torch.bmm(h, w[:, :, None])  # (B, N, 1)


def split(net: ShamirNet, theta: torch.Tensor) -> dict:
    """Views ``{"w", "V", "A", "b"}`` of flat parameters ``theta (B, d)``, each ``(B, *shape)``."""
    return dict(zip(("w", "V", "A", "b"), net.split_theta(theta)))


def embed_linear(net: ShamirNet, w: torch.Tensor, theta: torch.Tensor | None = None) -> torch.Tensor:
    """The point ``(w, V = 0, A, b)`` of the linear slice, flat ``(d,)``: ``A, b`` from
    ``theta (d,)`` (default: the network's own), ``theta`` itself is not changed."""
    theta = flatten(net) if theta is None else theta.detach().clone()
    parts = split(net, theta[None])
    parts["w"][0] = torch.as_tensor(w, dtype=theta.dtype).reshape(-1)
    parts["V"][0] = 0.0
    return theta


def square_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``mean (prediction - target)^2``, the value of ``F.mse_loss`` written with plain ops
    so that ``torch.func.hessian`` (forward over reverse) applies to it."""
    return (prediction - target).square().mean()


def task_energy(net: ShamirNet, task: Dataset, train: bool = True):
    """The square loss ``theta (B, d) -> (B,)`` of ``net`` on the task's train (or test) set."""
    x, y = (task.x_train, task.y_train) if train else (task.x_test, task.y_test)
    return model_energy(net.to(x.device, x.dtype), square_loss, x, y, method="forward_batched")


@dataclass(frozen=True)
class LinearFit:
    """The best linear predictor ``w* = argmin_w mean (w^T x_i - y_i)^2``: ``w (n,)``,
    its ``loss``, and ``message``."""

    w: torch.Tensor
    loss: float
    message: str


def best_linear(x: torch.Tensor, y: torch.Tensor) -> LinearFit:
    """``w* = (X^T X)^+ X^T y`` (least squares, no intercept: ``Phi`` has none), float64.

    >>> fit = best_linear(torch.eye(2), torch.tensor([[1.0], [2.0]]))
    >>> fit.w.tolist(), fit.loss
    ([1.0, 2.0], 0.0)
    """
    X, Y = x.detach().double().cpu(), y.detach().double().cpu().reshape(len(x), -1)
    if X.dim() != 2 or Y.shape[1] != 1:
        raise ValueError(f"x must be (N, n) and y (N,) or (N, 1), got {tuple(x.shape)}, {tuple(y.shape)}")
    w = torch.linalg.lstsq(X, Y, driver="gelsd").solution[:, 0]  # (n,)
    loss = float((X @ w - Y[:, 0]).square().mean())
    return LinearFit(w.to(device=x.device, dtype=x.dtype), loss, f"best linear predictor: train loss {loss:.6g}")


def regression_task(n: int = 256, n_in: int = 5, seed: int = 0, noise: float = 0.1,
                    dtype=torch.float64) -> Dataset:
    """A nonlinear regression task: ``y = Phi*(x) + noise * N(0, 1)``, ``x ~ N(0, I_n)``,
    with ``Phi*`` a random Shamir ResNet of width 8 (through :func:`lecture_lib.data.teacher_student`)."""
    return teacher_student(lambda: ShamirNet(positive_int("n_in", n_in), 8), positive_int("n", n),
                           seed, real("noise", noise, low=0.0), dtype=dtype)


@functools.lru_cache(maxsize=4)
def _digits_task(seed, dtype):
    ds = digits(seed, dtype=dtype)
    mean = ds.x_train.mean(0)
    sign = lambda labels: (2.0 * (labels % 2) - 1.0).to(dtype)[:, None]  # noqa: E731  odd +1, even -1
    return Dataset(ds.x_train - mean, sign(ds.y_train), ds.x_test - mean, sign(ds.y_test),
                   "sklearn digits (1,797 real 8x8 images), parity as a +-1 regression target, "
                   "inputs centred", "mse")


def digits_task(seed: int = 0, dtype=torch.float64) -> Dataset:
    """scikit-learn's digits as a regression: ``y = +1`` for odd digits, ``-1`` for even ones,
    pixels centred by the training mean; square loss (convex, as Shamir's theorem asks)."""
    return _digits_task(int(seed), dtype)


@dataclass(frozen=True)
class EnsembleRun:
    """Many seeds trained at once (:func:`train_many`).

    ``steps (S,)``: the recorded step counts; ``losses (S, M)``, ``norm_w (S, M)`` (Euclidean)
    and ``norm_V (S, M)`` (spectral norm, as in Shamir's ``max(||w||, ||V||) <= b``) of the M
    runs at those steps; ``thetas (M, d)`` at the last step; ``linear_loss``; ``width``,
    ``init_scale``, ``skip``; ``message``.
    """

    steps: tuple
    losses: torch.Tensor
    norm_w: torch.Tensor
    norm_V: torch.Tensor
    thetas: torch.Tensor
    linear_loss: float
    width: int
    init_scale: float
    skip: bool
    message: str

    def beats_linear(self, step: int = -1, rtol: float = 1e-9) -> torch.Tensor:
        """Boolean ``(M,)``: the loss at recorded step index ``step`` is at most the linear baseline."""
        return self.losses[step] <= self.linear_loss * (1 + rtol)


def _norms(net, theta):
    p = split(net, theta)
    return p["w"].norm(dim=1), torch.linalg.matrix_norm(p["V"], ord=2)


def train_many(task: Dataset, width: int, *, n_seeds: int = 16, steps=(300,), lr: float = 0.01,
               init_scale: float = 1.0, skip: bool = True, seed: int = 0) -> EnsembleRun:
    """Train ``n_seeds`` networks ``ShamirNet(n, width, skip=skip)`` at once by full-batch Adam.

    Run ``i`` starts at ``init_scale`` times the default initialisation built under
    ``torch.manual_seed(1000 * seed + i)``. The energy is the batched loss
    ``theta (M, d) -> (M,)``; Adam on its sum moves each row by its own gradient, so each run
    is an independent training. Loss and norms are recorded at every count in ``steps``
    (increasing; the last is the training length).
    """
    width, n_seeds = positive_int("width", width), positive_int("n_seeds", n_seeds)
    lr, init_scale = positive_float("lr", lr), positive_float("init_scale", init_scale)
    steps = tuple(positive_int("steps", s) for s in steps)
    if not steps or list(steps) != sorted(set(steps)):
        raise ValueError(f"steps must be increasing positive integers, got {steps!r}")
    with one_thread():
        return _train(task, width, n_seeds, steps, lr, init_scale, skip, seed)


def _train(task, width, n_seeds, steps, lr, init_scale, skip, seed):
    dtype = task.x_train.dtype
    nets = []
    for i in range(n_seeds):
        torch.manual_seed(1000 * seed + i)
        nets.append(ShamirNet(task.x_train.shape[1], width, skip=skip).to(task.x_train.device, dtype))
    energy = task_energy(nets[0], task)
    theta = (init_scale * torch.stack([flatten(n) for n in nets])).requires_grad_(True)  # (M, d)
    opt = torch.optim.Adam([theta], lr=lr)
    rec = {"losses": [], "norm_w": [], "norm_V": []}
    for t in range(1, steps[-1] + 1):
        opt.zero_grad(set_to_none=True)
        energy(theta).sum().backward()
        opt.step()
        if t in steps:
            with torch.no_grad():
                for key, value in zip(rec, (energy(theta), *_norms(nets[0], theta))):
                    rec[key].append(value.detach().clone())
    rec = {k: torch.stack(v) for k, v in rec.items()}
    lin = best_linear(task.x_train, task.y_train).loss
    beat = float((rec["losses"][-1] <= lin * (1 + 1e-9)).double().mean())
    return EnsembleRun(steps, rec["losses"], rec["norm_w"], rec["norm_V"], theta.detach(), lin, width,
                       init_scale, skip, f"{n_seeds} {'ResNets' if skip else 'plain nets'} of width "
                       f"{width}, init x{init_scale:g}, {steps[-1]} Adam steps: median loss "
                       f"{rec['losses'][-1].median():.4g} vs linear {lin:.4g}; {beat:.0%} at or below it")


def inactive_point(net: ShamirNet, x: torch.Tensor, w: torch.Tensor, V_norm: float, *,
                   margin: float = 1.0, seed: int = 0) -> torch.Tensor:
    """A flat point ``(w, V, A, b)`` at which every unit of ``F_theta`` is off on all of ``x``.

    ``A`` and the direction of ``V`` are random (``seed``), ``||V||_2 = V_norm``, and
    ``b_j = -max_i (A x_i)_j - margin``, so ``A x_i + b <= -margin`` and ``F_theta(x_i) = 0``.
    A perturbation of ``(A, b)`` smaller than ``margin / max(1, max_i ||x_i||)`` keeps the units
    off, so near this point ``Phi(x) = w^T x`` (ResNet) or ``0`` (plain net): with ``w = w*``
    the ResNet sits at a local minimum whose loss is exactly the linear baseline.
    """
    g = torch.Generator().manual_seed(int(seed))
    n, k = net.n_in, net.width
    A = torch.randn(k, n, generator=g, dtype=torch.float64).to(x) / n ** 0.5
    b = -(x @ A.T).amax(0) - positive_float("margin", margin)
    V = torch.randn(n, k, generator=g, dtype=torch.float64).to(x)
    V = V * (positive_float("V_norm", V_norm) / torch.linalg.matrix_norm(V, ord=2))
    return torch.cat([torch.as_tensor(w).to(x).reshape(-1), V.reshape(-1), A.reshape(-1), b])


@dataclass(frozen=True)
class Stationarity:
    """First and second order at one point: ``loss``, ``grad_norm``, the Hessian's
    ``eigenvalues`` (increasing), ``lambda_min``, and ``epsilon`` = the smallest epsilon for
    which the point is an epsilon-second-order stationary point (``||grad|| <= epsilon`` and
    ``lambda_min >= -sqrt(epsilon)``); ``message``."""

    loss: float
    grad_norm: float
    eigenvalues: torch.Tensor
    lambda_min: float
    epsilon: float
    message: str


def stationarity(energy, theta: torch.Tensor) -> Stationarity:
    """Gradient and full Hessian of ``energy`` at ``theta (d,)`` (``torch.func.hessian``)."""
    with one_thread():
        return _stationarity(energy, theta.detach().reshape(-1))


def _stationarity(energy, theta):
    f = lambda t: energy(t[None])[0]  # noqa: E731  (d,) -> ()
    t = theta.clone().requires_grad_(True)
    loss = f(t)
    (grad,) = torch.autograd.grad(loss, t)
    loss = loss.detach()
    H = hessian(f)(theta)
    eig = torch.linalg.eigvalsh((H + H.T) / 2)
    g, lam = float(grad.norm()), float(eig[0])
    eps = max(g, max(-lam, 0.0) ** 2)
    return Stationarity(float(loss), g, eig, lam, eps, f"loss {float(loss):.6g}, ||grad|| {g:.2e}, "
                        f"lambda_min {lam:.2e}: an epsilon-SOSP for epsilon >= {eps:.2e}")


@dataclass(frozen=True)
class Barrier:
    """Barrier from a starting point to a trained minimum: ``start_loss``, ``end_loss``,
    ``gain = start_loss - end_loss``, ``climb = max - start_loss`` along the NEB path
    (``path``, a :class:`~lecture_lib.paths.PathResult`) and ``straight_climb`` along the
    segment; ``message``. Both maxima are sampled estimates: :func:`lecture_lib.paths.profile`
    is called without ``lipschitz=``, so its profiles are refined but not certified."""

    start_loss: float
    end_loss: float
    gain: float
    climb: float
    straight_climb: float
    path: paths.PathResult
    message: str


def barrier(energy, start: torch.Tensor, theta_min: torch.Tensor, *, n_images: int = 7,
            max_iter: int = 300) -> Barrier:
    """The climb from ``start (d,)`` to ``theta_min (d,)``: along the segment and along the
    nudged elastic band (Jonsson et al. 1998; improved tangent, climbing image of Henkelman et
    al. 2000; FIRE), as Draxler et al. 2018 use it between trained networks. The band is a path,
    so the maximum along it bounds the lowest barrier from above (up to the sampling of its
    profile, which is not certified: no Lipschitz constant is given)."""
    with one_thread():
        return _barrier(energy, start, theta_min, positive_int("n_images", n_images),
                        positive_int("max_iter", max_iter))


def _barrier(energy, start, theta_min, n_images, max_iter):
    r = paths.neb(energy, start, theta_min, n_images=n_images, method="improved",
                  climbing=True, optimizer="fire", max_iter=max_iter, progress=False)
    seg = paths.profile(energy, paths.linear(start, theta_min), n_points=33)
    e0, e1 = float(r.profile.energies[0]), float(r.profile.energies[-1])
    climb, straight = r.max_energy - e0, seg.max_energy - e0
    return Barrier(e0, e1, e0 - e1, climb, straight, r,
                   f"start {e0:.4g} -> minimum {e1:.4g}: climb {climb:.3g} along NEB, "
                   f"{straight:.3g} along the segment")


def barrier_from_linear(energy, net: ShamirNet, theta_min: torch.Tensor, w_star: torch.Tensor,
                        **kwargs) -> Barrier:
    """:func:`barrier` from the best linear predictor embedded on the linear slice,
    ``(w*, V = 0, A, b)`` with the ``A, b`` of the minimum ``theta_min (d,)``."""
    return barrier(energy, embed_linear(net, w_star, theta_min), theta_min, **kwargs)

