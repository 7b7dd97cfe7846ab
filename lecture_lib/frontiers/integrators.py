"""Deep learning in numerical methods: a learned correction to a coarse integrator of a
Hamiltonian system, against classical and symplectic integrators, over long times.

A Hamiltonian is an *energy* ``H: Tensor[B, 2n] -> Tensor[B]`` of the state ``z = (q, p)``;
Hamilton's equations ``q' = dH/dp``, ``p' = -dH/dq`` are taken from it with autograd
(:func:`vector_field`), so every integrator below works for any ``H``. The steps, of size ``h``:

- ``euler``: ``z + h X(z)`` (explicit, first order; it gains energy on every orbit);
- ``rk4``: the classical fourth-order Runge-Kutta method (not symplectic);
- ``leapfrog``: Stormer-Verlet, ``p_{1/2} = p - h/2 dH/dq(q)``, ``q' = q + h dH/dp(p_{1/2})``,
  ``p' = p_{1/2} - h/2 dH/dq(q')``; symplectic for separable ``H = T(p) + V(q)`` (the derivatives
  are taken at the full state, which is exact only in the separable case), hence its energy
  error stays bounded, ``O(h^2)``, over exponentially long times (Hairer, Lubich & Wanner 2006,
  theorem IX.8.1);
- ``learned``: ``euler(z) + h^2 f_theta(z)``, with a small network ``f_theta`` trained so that
  the step matches the exact flow map (:func:`train_correction`) on states drawn from a box.

The learned step carries no certificate: nothing bounds its error outside the box it was
trained on, and it is not symplectic, so its energy error can grow along a long trajectory.

>>> z = torch.tensor([[0.5, 0.0]], dtype=torch.float64)
>>> float(vector_field(pendulum, z)[0, 1]) == -math.sin(0.5)
True
"""

from __future__ import annotations

import math  # noqa: F401 (the doctest uses it)
from dataclasses import dataclass

import torch

from lecture_lib.arguments import choice, positive_float, positive_int
from lecture_lib.runtime import full_scale
from lecture_lib.models import MLP
from lecture_lib.train import make_optimizer

FULL = full_scale()
METHODS = ("euler", "rk4", "leapfrog", "learned")


def pendulum(z: torch.Tensor) -> torch.Tensor:
    """``H(q, p) = p^2 / 2 - cos q``: ``(B, 2) -> (B,)``; orbits with ``H < 1`` oscillate, ``H > 1`` rotate."""
    return 0.5 * z[:, 1] ** 2 - torch.cos(z[:, 0])


def vector_field(H, z: torch.Tensor) -> torch.Tensor:
    """``X(z) = (dH/dp, -dH/dq)`` for ``z (B, 2n)`` by autograd: ``(B, 2n)`` (no graph kept)."""
    with torch.enable_grad():
        zz = z.detach().requires_grad_(True)
        g, = torch.autograd.grad(H(zz).sum(), zz)
    n = z.shape[1] // 2
    return torch.cat([g[:, n:], -g[:, :n]], 1)


def euler(H, z, h):
    return z + h * vector_field(H, z)


def rk4(H, z, h):
    k1 = vector_field(H, z)
    k2 = vector_field(H, z + h / 2 * k1)
    k3 = vector_field(H, z + h / 2 * k2)
    k4 = vector_field(H, z + h * k3)
    return z + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def _grad(H, z):
    with torch.enable_grad():
        zz = z.detach().requires_grad_(True)
        return torch.autograd.grad(H(zz).sum(), zz)[0]


def leapfrog(H, z, h):
    n = z.shape[1] // 2
    q, p = z[:, :n], z[:, n:]
    p = p - h / 2 * _grad(H, torch.cat([q, p], 1))[:, :n]
    q = q + h * _grad(H, torch.cat([q, p], 1))[:, n:]
    p = p - h / 2 * _grad(H, torch.cat([q, p], 1))[:, :n]
    return torch.cat([q, p], 1)


def flow_map(H, z, h, substeps: int = 5):
    """The exact flow over time ``h``, to rounding: ``substeps`` RK4 steps of ``h / substeps``."""
    for _ in range(positive_int("substeps", substeps)):
        z = rk4(H, z, h / substeps)
    return z


@dataclass(frozen=True)
class Correction:
    """A trained ``f_theta``: ``net``, step ``h``, training ``box`` ``((q_lo, q_hi), (p_lo, p_hi))``,
    final training loss (mean squared one-step error over ``h^4``), ``message``."""

    net: torch.nn.Module
    h: float
    box: tuple
    loss: float
    message: str

    def step(self, H, z):
        with torch.no_grad():
            return euler(H, z, self.h) + self.h**2 * self.net(z.to(torch.float32)).to(z.dtype)


def train_correction(H=pendulum, h: float = 0.2, *, box=((-1.5, 1.5), (-1.0, 1.0)), n_points: int = 512,
                     steps: int | None = None, lr: float = 3e-3, seed: int = 0) -> Correction:
    """Fit ``f_theta`` (``MLP([2, 64, 64, 2], tanh)``) to ``(flow_map(z) - euler(z)) / h^2`` on
    ``n_points`` states uniform in ``box`` (Adam with a cosine learning-rate decay, full batch,
    a one-degree-of-freedom ``H``)."""
    h, n_points = positive_float("h", h), positive_int("n_points", n_points)
    steps = positive_int("steps", steps if steps is not None else (10000 if FULL else 1500))
    g = torch.Generator().manual_seed(int(seed))
    lo = torch.tensor([box[0][0], box[1][0]], dtype=torch.float64)
    hi = torch.tensor([box[0][1], box[1][1]], dtype=torch.float64)
    z = lo + (hi - lo) * torch.rand(n_points, 2, generator=g, dtype=torch.float64)
    target = ((flow_map(H, z, h) - euler(H, z, h)) / h**2).float()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = MLP([2, 64, 64, 2], activation="tanh")
    opt = make_optimizer("adam", net.parameters(), positive_float("lr", lr))
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)  # settles Adam's last steps
    zf = z.float()
    for _ in range(steps):
        loss = (net(zf) - target).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
    net.requires_grad_(False)
    final = float((net(zf) - target).square().mean())
    return Correction(net, h, tuple(map(tuple, box)), final,
                      f"learned correction at h={h:g}: training MSE of the correction {final:.2e} "
                      f"after {steps} steps")


@dataclass(frozen=True)
class Comparison:
    """Trajectories from the starts ``z0 (S, 2)`` for ``n_steps`` of size ``h``: ``times (T + 1,)``;
    ``paths[m] (T + 1, S, 2)``; ``error[m] (T + 1, S)`` distance to the reference trajectory;
    ``energy_error[m] (T + 1, S)`` ``|H(z_t) - H(z_0)|``; ``inside_box`` (per start): ``z0`` in the
    training box of the correction."""

    z0: torch.Tensor
    h: float
    times: torch.Tensor
    paths: dict
    error: dict
    energy_error: dict
    inside_box: tuple
    message: str


def compare(correction: Correction, z0, *, H=pendulum, n_steps: int = 400, methods=METHODS) -> Comparison:
    """Run every method from each start in ``z0`` ((2,) or (S, 2)), all starts batched, and measure
    against the reference flow (:func:`flow_map`: RK4 with step ``h / 5``)."""
    n_steps = positive_int("n_steps", n_steps)
    for m in methods:
        choice("method", m, METHODS)
    h = correction.h
    z0 = torch.as_tensor(z0, dtype=torch.float64).reshape(-1, 2).clone()
    steppers = {"euler": lambda z: euler(H, z, h), "rk4": lambda z: rk4(H, z, h),
                "leapfrog": lambda z: leapfrog(H, z, h), "learned": lambda z: correction.step(H, z),
                "reference": lambda z: flow_map(H, z, h)}
    paths = {}
    for m in (*methods, "reference"):
        z, out = z0, [z0]
        for _ in range(n_steps):
            z = steppers[m](z)
            out.append(z)
        paths[m] = torch.stack(out)  # (T + 1, S, 2)
    ref, e0 = paths.pop("reference"), H(z0)  # (S,)
    error = {m: (paths[m] - ref).norm(dim=-1) for m in methods}
    energy_error = {m: (H(paths[m].reshape(-1, 2)).reshape(n_steps + 1, -1) - e0).abs() for m in methods}
    (q0, q1), (p0, p1) = correction.box
    inside = tuple(bool(q0 <= q <= q1 and p0 <= p <= p1) for q, p in z0.tolist())
    lines = [f"z0={tuple(round(v, 3) for v in z0[i].tolist())} ({'inside' if inside[i] else 'outside'} the box): "
             + ", ".join(f"{m} {float(error[m][-1, i]):.2g}/{float(energy_error[m][-1, i]):.2g}" for m in methods)
             for i in range(len(z0))]
    return Comparison(z0, h, h * torch.arange(n_steps + 1, dtype=torch.float64), paths, error, energy_error,
                      inside, f"t={n_steps * h:g}, final trajectory error / energy error; " + "; ".join(lines))
