"""Parametric curves between two minima trained to low energy (Garipov et al., NeurIPS 2018).

A curve ``phi_theta: [0, 1] -> R^d`` with fixed ends ``phi(0) = a``, ``phi(1) = b`` and a
trainable control point ``theta`` (Garipov et al. 2018, Sec. 3):

- ``kind="bezier"``: the quadratic Bezier curve
  ``phi_theta(t) = (1 - t)^2 a + 2 t (1 - t) theta + t^2 b``;
- ``kind="polychain"``: the polygonal chain with one bend,
  ``phi_theta(t) = 2 (t theta + (1/2 - t) a)`` for ``t <= 1/2`` and
  ``2 ((t - 1/2) b + (1 - t) theta)`` for ``t >= 1/2``.

``theta`` minimises the energy averaged along the curve, ``ell(theta) = E_{t ~ U(0, 1)}
E(phi_theta(t))`` (their eq. 2 with the uniform distribution on t), by stochastic gradient
steps. Garipov et al. draw one t per minibatch; here each step draws ``n_t`` stratified
uniform values ``t_j = (j + u_j) / n_t`` (one in each of ``n_t`` equal bins, so each is
uniform on its bin and the estimate of ``ell`` is unbiased) and evaluates all points of the
curve in one batched call. Since ``phi`` is linear in ``theta`` with weight
``w(t) = d phi / d theta`` (``2 t (1 - t)``, or the tent ``2 min(t, 1 - t)``),
``grad ell = E_t [w(t) grad E(phi_theta(t))]``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from tqdm.auto import tqdm

from .. import arguments as args
from .polygon import Path
from .results import PathResult, make_result
from .validate import check_endpoints, check_point, evaluate_endpoints, level_scale

KINDS = ("bezier", "polychain")
OPTIMIZERS = ("adam", "sgd")


def _choice(name, value, options):
    if value not in options:
        raise ValueError(f"unknown {name} {value!r}; choose one of {options}")


def curve_points(kind: str, a: Tensor, b: Tensor, theta: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
    """Points ``phi_theta(t) (T, d)`` of the curve at ``t (T,)`` and the weights ``w(t) (T,)``
    of ``theta`` in them (module docstring).

    >>> a, b, th = torch.tensor([0., 0.]), torch.tensor([2., 0.]), torch.tensor([1., 1.])
    >>> curve_points("bezier", a, b, th, torch.tensor([0.5]))[0].tolist()
    [[1.0, 0.5]]
    """
    _choice("kind", kind, KINDS)
    t = t[:, None]  # (T, 1)
    if kind == "bezier":
        w = 2 * t * (1 - t)
        pts = (1 - t) ** 2 * a + w * theta + t ** 2 * b
    else:
        first = t <= 0.5
        w = torch.where(first, 2 * t, 2 * (1 - t))
        pts = torch.where(first, 2 * (t * theta + (0.5 - t) * a), 2 * ((t - 0.5) * b + (1 - t) * theta))
    return pts, w[:, 0]


def _stratified(n_t, generator, dtype, device):
    u = torch.rand(n_t, generator=generator, dtype=dtype, device=device)
    return (torch.arange(n_t, dtype=dtype, device=device) + u) / n_t  # (n_t,)


def bezier(energy, a: Tensor, b: Tensor, *, kind: str = "bezier", n_t: int = 16, steps: int = 300,
           lr: float | None = None, optimizer: str = "adam", seed: int | None = None,
           level: float | None = None, init: Tensor | None = None, n_points: int = 65,
           progress: bool = True) -> PathResult:
    """Train a quadratic Bezier curve or a one-bend polygonal chain from ``a`` to ``b``.

    ``theta`` starts at ``init`` (default the midpoint ``(a + b) / 2``, the straight line) and
    takes ``steps`` steps on ``n_t`` stratified uniform ``t`` each (module docstring), with
    the rate annealed by a cosine from ``lr`` to 0 (Garipov et al. also end with a small
    rate) so the last steps average out the noise of the sampled ``t``. Default ``lr``
    (scale-free, ``L = |b - a|``, ``d`` the dimension): Adam ``0.02 L / sqrt(d)`` (a step of
    about ``0.02 L``), SGD ``0.05 L / |grad ell(init)|``. ``seed`` fixes the ``t`` draws.

    With a ``level``: the mean is not the maximum, and a curve whose mean energy is low can
    still cross the level, typically near ends trained to just under it. If the curve's
    maximum on the ``n_points`` grid is above the level, up to ``steps`` more steps minimise
    the mean excess over ``target = level - 0.05 (level - min(0, E(a), E(b)))``
    (:func:`_under_level`), keeping the best control point.

    Returns a :class:`PathResult` whose ``path`` is the curve at ``n_points`` equally spaced
    ``t`` (a polygon, profiled by sampling: its maximum an estimate); ``info``: ``control`` (the trained
    ``theta``), ``kind``, ``steps``, ``loss`` (the last step's estimate of ``ell``),
    ``loss_history`` ``(steps,)``, ``lr``, ``level_phase`` (steps of the level phase, the
    grid maximum before and after; None without a level).

    >>> from lecture_lib.surfaces import get
    >>> bowl = get("bowl").energy
    >>> a, b = torch.tensor([-1., -.5], dtype=torch.float64), torch.tensor([1., .5], dtype=torch.float64)
    >>> r = bezier(bowl, a, b, init=torch.tensor([0., 1.], dtype=torch.float64), seed=0, progress=False)
    >>> bool(r.info["control"].norm() < 1e-2)  # back to the midpoint: the straight line
    True
    """
    args.choice("kind", kind, KINDS)
    args.choice("optimizer", optimizer, OPTIMIZERS)
    a, b = check_endpoints(a, b)
    n_t, steps = args.positive_int("n_t", n_t), args.positive_int("steps", steps)
    n_points, seed = args.integer("n_points", n_points, low=2), args.seed("seed", seed)
    lr = None if lr is None else args.positive_float("lr", lr)
    E, e_ends, level = evaluate_endpoints(energy, a, b, level)
    if init is None:
        theta = (a + b) / 2
    else:
        theta = check_point(init, "init")
        if theta.shape != a.shape:
            raise ValueError(f"init has shape {tuple(theta.shape)} but the endpoints have {tuple(a.shape)}")
        theta = theta.to(device=a.device, dtype=a.dtype)
    g = torch.Generator(device=a.device)
    g.manual_seed(0 if seed is None else seed)
    L, d = float(torch.linalg.vector_norm(b - a)), a.numel()

    def loss_and_grad(theta):  # one batched evaluation of the n_t points of the curve
        pts, w = curve_points(kind, a, b, theta, _stratified(int(n_t), g, a.dtype, a.device))
        values, grads = E.value_and_grad(pts, needed_by="bezier (its control point trains by gradient steps)")
        return values.mean(), (w[:, None] * grads).mean(0)  # ell estimate, (d,)

    p = theta.clone().requires_grad_(True)
    history = torch.empty(int(steps), dtype=a.dtype, device=a.device)
    loss, grad = loss_and_grad(theta)
    if lr is None:
        lr = 0.02 * L / math.sqrt(d) if optimizer == "adam" else 0.05 * L / max(float(grad.norm()), args.tiny(a.dtype))
    opt = (torch.optim.Adam if optimizer == "adam" else torch.optim.SGD)([p], lr=lr)
    for k in tqdm(range(int(steps)), desc=f"{kind} curve", disable=not progress):
        if k > 0:
            loss, grad = loss_and_grad(p.detach())
        history[k] = loss
        for group in opt.param_groups:
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * k / steps))  # cosine annealing
        p.grad = grad
        opt.step()
    control = p.detach().clone()
    t = torch.linspace(0, 1, int(n_points), dtype=a.dtype, device=a.device)
    message = (f"{kind} curve trained for {steps} steps of {n_t} points; mean energy along it "
               f"{float(history[-1]):.6g} (last step's estimate)")
    level_log = None
    if level is not None:
        target = level - 0.05 * level_scale(level, float(e_ends[0]), float(e_ends[1]), 0.0)
        control, level_log = _under_level(E, kind, a, b, control, t, level, target, lr=lr, steps=steps,
                                          n_t=n_t, generator=g, optimizer=optimizer)
        if level_log["steps"]:
            message += (f"; then {level_log['steps']} steps on the excess over the level's target "
                        f"(curve max on the grid {level_log['start']:.6g} -> {level_log['end']:.6g})")
    nodes, _ = curve_points(kind, a, b, control, t)
    nodes[0], nodes[-1] = a, b
    return make_result(energy, Path(nodes), level=level, n_evaluations=E.n_evaluations, message=message,
                       control=control, kind=kind, steps=int(steps), loss=float(history[-1]),
                       loss_history=history, lr=float(lr), level_phase=level_log)


def _grid_max(E, kind, a, b, control, t):
    with torch.no_grad():
        return float(E(curve_points(kind, a, b, control, t)[0][1:-1]).max())


def _under_level(E, kind, a, b, control, t, level, target, *, lr, steps, n_t, generator, optimizer,
                 check_every=20):
    """The level phase: while the curve's maximum on the grid ``t`` is above ``level``, up to
    ``steps`` more steps on ``E_t[(E(phi(t)) - target)_+]`` (gradient ``E_t[w(t) 1{E > target}
    grad E]``: only the points over the target pull the control point), at the rate the mean
    phase started with, keeping the control point whose grid maximum is lowest (checked
    every ``check_every`` steps). Returns it and a log (steps taken, grid max before/after)."""
    best, best_max = control, _grid_max(E, kind, a, b, control, t)
    log = {"steps": 0, "start": best_max, "end": best_max}
    if best_max <= level:
        return best, log
    p = control.clone().requires_grad_(True)
    opt = (torch.optim.Adam if optimizer == "adam" else torch.optim.SGD)([p], lr=lr)
    for k in range(1, int(steps) + 1):
        pts, w = curve_points(kind, a, b, p.detach(), _stratified(int(n_t), generator, a.dtype, a.device))
        values, grads = E.value_and_grad(pts, needed_by="bezier")
        over = (values > target).to(a.dtype)
        p.grad = ((w * over)[:, None] * grads).mean(0)
        opt.step()
        if k % check_every == 0 or k == steps:
            m = _grid_max(E, kind, a, b, p.detach(), t)
            if m < best_max:
                best, best_max = p.detach().clone(), m
            log.update(steps=k, end=best_max)
            if best_max <= target:
                break
    return best, log
