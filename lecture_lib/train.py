"""Training: one network (:func:`fit`), many seeds at once (:func:`fit_ensemble`), and
descent on a batched energy down to a level (:func:`train_to_level`).

``fit_ensemble`` stacks the members' parameters with ``torch.func.stack_module_state``
and evaluates all members in one call: the model's ``forward_stacked`` (one ``baddbmm``
per layer, see ``lecture_lib.models``) where it has one, else ``vmap(functional_call)``;
one optimizer moves the stacked tensors. The loss minimised is ``sum_i L_i(theta_i)``,
whose gradient in ``theta_i`` is member i's own gradient, and Adam/SGD act elementwise, so
member i follows the trajectory that ``fit`` gives it from the same seed (initialisation
under ``torch.manual_seed(seed)``, minibatch order from ``torch.Generator().manual_seed(seed)``)
up to rounding.

The objective of both is ``loss_fn(model(x_batch), y_batch)``, plus ``model.penalty()``
for a model that defines a ridge term (``DeepLinear(widths, ridge)``: the lecture's
``lambda sum_k ||W_k||_F^2``).

>>> from lecture_lib.models import DeepLinear
>>> x = torch.randn(32, 2); y = x @ torch.tensor([[1.0], [-2.0]])
>>> fit(DeepLinear([2, 1]), torch.nn.functional.mse_loss, x, y, steps=300, lr=0.05,
...     seed=0, progress=False).final_loss < 1e-4
True
"""

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state, vmap
from torch.nn.utils import parameters_to_vector, vector_to_parameters
from tqdm.auto import trange

from . import arguments as arg

OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}


def make_optimizer(name, params, lr):
    """``torch.optim`` optimizer ``name`` (``adam`` or ``sgd``) over ``params``.

    The fused kernel (one pass over memory per step) is used whenever the parameters are
    floating point on CPU or CUDA: on the stacked parameters of an ensemble it is about
    ten times faster than the per-operation update, and ``fit`` uses it too, so a member
    and its one-by-one twin follow the same arithmetic.
    """
    name = arg.choice("optimizer", name, sorted(OPTIMIZERS))
    lr = arg.positive_float("lr", lr)
    params = list(params)
    fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    return OPTIMIZERS[name](params, lr=lr, fused=fused or None)


@dataclass(frozen=True)
class TrainResult:
    """Result of :func:`fit`. ``model`` is a trained copy; the caller's model is untouched.

    ``history[t]``: minibatch objective at step t (before its update); ``final_loss``: the
    objective on all of ``(x, y)`` after training; ``theta``: the trained flat parameters ``(d,)``.
    """

    model: torch.nn.Module
    theta: torch.Tensor
    final_loss: float
    steps: int
    history: torch.Tensor
    message: str


@dataclass(frozen=True)
class EnsembleResult:
    """Result of :func:`fit_ensemble`: ``thetas (n_models, d)`` in ``parameters()`` order,
    ``final_losses (n_models,)`` on all of ``(x, y)``, ``history (steps, n_models)``."""

    thetas: torch.Tensor
    final_losses: torch.Tensor
    history: torch.Tensor
    seeds: tuple
    steps: int
    message: str
    template: torch.nn.Module
    buffers: dict

    def model(self, i):
        """Member ``i`` as a new module (a copy of the template with its parameters)."""
        if not -len(self.seeds) <= i < len(self.seeds):
            raise IndexError(f"member {i} out of range for {len(self.seeds)} models")
        member = copy.deepcopy(self.template)
        vector_to_parameters(self.thetas[i].detach().clone(), member.parameters())
        for name, value in self.buffers.items():
            member.get_buffer(name).copy_(value[i])
        return member


def _check_training(x, y, steps, lr, batch_size, seed=None):
    """``(steps, lr, batch_size, seed)`` converted (numpy and 0-d tensor scalars accepted)."""
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor) or x.dim() == 0 \
            or y.dim() == 0 or len(x) != len(y):
        raise ValueError(f"x and y must be tensors with the same first dimension, got "
                         f"{tuple(getattr(x, 'shape', ()))} and {tuple(getattr(y, 'shape', ()))}")
    return (arg.positive_int("steps", steps), arg.positive_float("lr", lr),
            None if batch_size is None else arg.positive_int("batch_size", batch_size),
            arg.seed("seed", seed))


def minibatches(n, batch_size, steps, seed):
    """Index tensors ``(batch_size,)``, one per step: fresh ``randperm(n)`` each epoch from
    ``torch.Generator().manual_seed(seed)``, cut into full batches (the remainder is
    dropped). ``batch_size=None`` or ``>= n``: ``None`` (the full batch) every step.
    ``seed=None``: a fresh, unrepeatable order."""
    if batch_size is None or batch_size >= n:
        for _ in range(steps):
            yield None
        return
    g, t = torch.Generator(), 0
    if seed is None:
        g.seed()
    else:
        g.manual_seed(seed)
    while True:
        perm = torch.randperm(n, generator=g)
        for start in range(0, n - batch_size + 1, batch_size):
            if t == steps:
                return
            yield perm[start:start + batch_size]
            t += 1


def _penalty(model):
    return model.penalty() if getattr(model, "ridge", 0.0) and hasattr(model, "penalty") else 0.0


def fit(model, loss_fn, x, y, *, steps, lr, optimizer="adam", batch_size=None, seed, progress=True):
    """Minimise ``loss_fn(model(x_batch), y_batch)`` for ``steps`` steps on a deep copy of
    ``model`` (moved to ``x.device``); the caller's model is never modified.

    ``seed`` fixes the minibatch order (see :func:`minibatches`; ``None``: unrepeatable).
    ``steps``, ``lr`` (finite, ``> 0``), ``batch_size`` are checked (numpy integers are
    fine). Returns a :class:`TrainResult` with the trained copy.
    """
    steps, lr, batch_size, seed = _check_training(x, y, steps, lr, batch_size, seed)
    model = copy.deepcopy(model).to(x.device)
    opt = make_optimizer(optimizer, model.parameters(), lr)
    history = torch.empty(steps, dtype=torch.float64, device=x.device)  # no host sync per step
    batches = minibatches(len(x), batch_size, steps, seed)
    for t in trange(steps, disable=not progress, desc="fit", leave=False):
        idx = next(batches)
        xb, yb = (x, y) if idx is None else (x.index_select(0, idx), y.index_select(0, idx))
        loss = loss_fn(model(xb), yb) + _penalty(model)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history[t] = loss.detach()
    with torch.no_grad():
        final = float(loss_fn(model(x), y) + _penalty(model))
    theta = parameters_to_vector(model.parameters()).detach().clone()
    history = history.cpu()
    message = f"{optimizer} for {steps} steps: loss {history[0]:.3g} -> {final:.3g}"
    if not math.isfinite(final):  # never silently: say where it went wrong and what to try
        bad = int((~torch.isfinite(history)).nonzero()[0]) if not torch.isfinite(history).all() else steps
        message += f"; DIVERGED (non-finite loss from step {bad}): lower lr={lr:g}"
    return TrainResult(model, theta, final, steps, history, message)


def _build_members(make_model, seeds, device):
    members = []
    for s in seeds:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(s)
            members.append(make_model().to(device))
    if len({tuple((n, p.shape) for n, p in m.named_parameters()) for m in members}) != 1:
        raise ValueError("make_model must build models with the same parameter names and shapes")
    return members


ENSEMBLE_METHODS = ("auto", "forward_batched", "functional_call")


def _per_member_loss(loss_fn, out, y, shared):
    """``loss_fn(out[m], y[m])`` for every member: ``out (M, n, C)`` -> ``(M,)``.

    For ``F.cross_entropy`` with class labels this is ``mean_i logsumexp(out_i) -
    out_i[y_i]`` in one pass (the same quantity; measured three times faster than
    ``vmap(F.cross_entropy)``, whose log-softmax is slow for few classes); otherwise
    ``vmap(loss_fn)``.
    """
    if (loss_fn is F.cross_entropy and not y.is_floating_point() and y.dim() == out.dim() - 1 - shared
            and bool((y >= 0).all())):  # negative labels (ignore_index) take the general path
        y = y.expand(out.shape[:-1]) if shared else y  # (M, n)
        picked = out.gather(-1, y.unsqueeze(-1)).squeeze(-1)  # (M, n)
        return (torch.logsumexp(out, -1) - picked).mean(-1)
    return vmap(loss_fn, in_dims=(0, None if shared else 0))(out, y)


def _stacked(members, loss_fn, method):
    """The members as stacked leaves and a function ``(xb, yb, shared) -> losses (M,)``.

    The leaves are ``stack_module_state``'s ``(M, *shape)`` tensors. ``forward_batched``:
    the model's batched forward (one ``baddbmm`` per layer) on their concatenation
    ``theta (M, d)``; ``functional_call``: ``vmap(functional_call)``, for any module.
    ``shared``: one batch for all members.
    """
    model, M = members[0], len(members)
    has_batched = hasattr(model, "forward_batched") and not list(model.buffers())
    method = arg.choice("method", method, ENSEMBLE_METHODS)
    if method == "forward_batched" and not has_batched:
        raise ValueError(f"{type(model).__name__} has no buffer-free forward_batched; use 'functional_call'")
    params, buffers = stack_module_state(members)  # name -> (M, *shape), leaves

    def thetas():  # (M, d)
        return torch.cat([p.reshape(M, -1) for p in params.values()], 1)

    ridge = getattr(model, "ridge", 0.0) and hasattr(model, "penalty")
    if ridge and not hasattr(model, "penalty_batched"):
        raise ValueError(f"{type(model).__name__} has a penalty but no penalty_batched for an ensemble")
    if method == "forward_batched" or (method == "auto" and has_batched):
        def losses(xb, yb, shared):
            if hasattr(model, "forward_stacked"):  # the leaves as they are: no slicing
                out = model.forward_stacked(list(params.values()), xb)  # (M, n, n_out)
            else:
                out = model.forward_batched(thetas(), xb)  # (M, n, n_out)
            value = _per_member_loss(loss_fn, out, yb, shared)  # (M,)
            return value + model.penalty_batched(thetas()) if ridge else value
        return "forward_batched", list(params.values()), losses, thetas, buffers
    base = copy.deepcopy(model).to("meta")

    def member_loss(p, b, xb, yb):
        return loss_fn(functional_call(base, (p, b), (xb,)), yb)

    def losses(xb, yb, shared):
        value = vmap(member_loss, in_dims=(0, 0, None, None) if shared else 0)(params, buffers, xb, yb)
        return value + model.penalty_batched(thetas()) if ridge else value
    return "functional_call", list(params.values()), losses, thetas, buffers


def fit_ensemble(make_model, n_models, loss_fn, x, y, *, steps, lr, seeds=None, batch_size=None,
                 optimizer="adam", progress=True, method="auto"):
    """Train ``n_models`` networks at once; member i is ``make_model()`` built under
    ``torch.manual_seed(seeds[i])`` (default ``seeds = range(n_models)``) and sees the
    minibatches of ``fit(..., seed=seeds[i])``. Returns an :class:`EnsembleResult`.

    ``method``: ``"forward_batched"`` (the model's batched forward on one ``(M, d)``
    tensor), ``"functional_call"`` (``stack_module_state`` + ``vmap``, any module), or
    ``"auto"``: the first when the model has ``forward_batched`` and no buffers.
    """
    steps, lr, batch_size, _ = _check_training(x, y, steps, lr, batch_size)
    n_models = arg.positive_int("n_models", n_models)
    seeds = (tuple(range(n_models)) if seeds is None else
             tuple(arg.integer(f"seeds[{i}]", s, low=0) for i, s in enumerate(seeds)))
    if len(seeds) != n_models:
        raise ValueError(f"need n_models >= 1 and len(seeds) == n_models, got {n_models} and {len(seeds)}")
    members = _build_members(make_model, seeds, x.device)
    method, leaves, losses, thetas, buffers = _stacked(members, loss_fn, method)
    opt = make_optimizer(optimizer, leaves, lr)
    history = torch.empty(steps, n_models, dtype=torch.float64, device=x.device)
    streams = [minibatches(len(x), batch_size, steps, s) for s in seeds]
    for t in trange(steps, disable=not progress, desc=f"fit_ensemble x{n_models}", leave=False):
        idx = [next(stream) for stream in streams]
        if idx[0] is None:
            value = losses(x, y, True)  # (M,)
        else:
            idx = torch.stack(idx).to(x.device).view(-1)  # (M * batch_size,)
            xb = x.index_select(0, idx).view(n_models, -1, *x.shape[1:])  # (M, batch_size, ...)
            yb = y.index_select(0, idx).view(n_models, -1, *y.shape[1:])
            value = losses(xb, yb, False)  # (M,)
        opt.zero_grad(set_to_none=True)
        value.sum().backward()
        opt.step()
        history[t] = value.detach()
    with torch.no_grad():
        final = losses(x, y, True).detach()
    buffers = {k: v.detach().clone() for k, v in buffers.items()}
    message = (f"{n_models} models ({method}), {optimizer} for {steps} steps: median loss "
               f"{final.median():.3g} (min {final.min():.3g}, max {final.max():.3g})")
    n_bad = int((~torch.isfinite(final)).sum())
    if n_bad:
        message += f"; {n_bad} DIVERGED (non-finite loss): lower lr={lr:g}"
    return EnsembleResult(thetas().detach(), final, history.cpu(), seeds, steps, message,
                          copy.deepcopy(members[0]), buffers)


@dataclass(frozen=True)
class LevelResult:
    """Result of :func:`train_to_level`: ``theta`` has the shape of ``theta0``."""

    theta: torch.Tensor
    energy: float
    level: float
    target: float
    success: bool
    steps: int
    n_evaluations: int
    history: torch.Tensor
    message: str


def level_target(level, fraction=0.95, scale=1.0):
    """``level - (1 - fraction) * max(|level|, scale)``: strictly below ``level`` for every
    sign of ``level`` (for ``level > scale`` it is ``fraction * level``, as in Freeman &
    Bruna's dynamic string sampling, where beads train to 0.95-0.98 of the level)."""
    level = arg.real("level", level)
    fraction = arg.real("fraction", fraction, low=0.0, high=1.0, low_open=True, high_open=True)
    scale = arg.positive_float("scale", scale)
    return level - (1.0 - fraction) * max(abs(level), scale)


def train_to_level(energy, theta0, level, *, fraction=0.95, scale=1.0, max_steps=1000, lr=1e-2,
                   optimizer="adam"):
    """Descend on ``energy`` from ``theta0`` until ``energy(theta) <= level_target(level)``.

    ``energy`` maps ``(B, d) -> (B,)`` and is called with ``theta`` of shape ``(1, d)``;
    ``theta0`` is ``(d,)`` or ``(1, d)`` and is not modified. At most ``max_steps`` updates;
    not reaching the target gives ``success=False`` and a message, not an exception.
    """
    if not isinstance(theta0, torch.Tensor) or theta0.dim() not in (1, 2) or (
            theta0.dim() == 2 and theta0.shape[0] != 1):
        raise ValueError(f"theta0 must have shape (d,) or (1, d), got {tuple(getattr(theta0, 'shape', ()))}")
    max_steps = arg.nonnegative_int("max_steps", max_steps)
    level = arg.real("level", level)  # NaN would never be reached: refuse it now
    target = level_target(level, fraction, scale)
    theta = theta0.detach().reshape(1, -1).clone().requires_grad_(True)  # (1, d)
    opt = make_optimizer(optimizer, [theta], lr)
    history, step = [], 0
    while True:
        value = energy(theta)
        if value.shape != (1,):
            raise ValueError(f"energy must map (1, d) to (1,), got shape {tuple(value.shape)}")
        history.append(float(value.detach()))
        if not torch.isfinite(value).all() or history[-1] <= target or step == max_steps:
            break
        opt.zero_grad(set_to_none=True)
        value.sum().backward()
        opt.step()
        step += 1
    e, success = history[-1], history[-1] <= target
    message = (f"reached {e:.4g} <= target {target:.4g} in {step} steps" if success else
               f"energy {e:.4g} is not finite after {step} steps" if e != e or abs(e) == float("inf")
               else f"did not reach target {target:.4g} in {max_steps} steps: energy {e:.4g}")
    return LevelResult(theta.detach().reshape(theta0.shape), e, float(level), target, success, step,
                       len(history), torch.tensor(history, dtype=torch.float64), message)
