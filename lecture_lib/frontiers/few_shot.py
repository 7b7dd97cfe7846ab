"""Few-shot learning: model-agnostic meta-learning (MAML) on sinusoid regression (Finn,
Abbeel & Levine 2017, their regression experiment), against pretraining on all tasks and training from scratch.

A task is ``y = A sin(x - phi)`` with amplitude ``A ~ U[0.1, 5]`` and phase ``phi ~ U[0, pi]``,
inputs ``x ~ U[-5, 5]``; the learner sees ``K`` labelled points of a new task (the support
set) and is scored by the mean squared error on fresh points of the same task (the query
set). Every method adapts in the same way at test time: ``n_inner`` plain gradient steps of
size ``alpha`` on the support MSE, from its own initialisation ``theta_0``:

- ``maml``: ``theta_0`` minimises ``E_tasks[ L_query(theta_0 - alpha grad L_support(theta_0)) ]``
  (``first_order=True`` drops the second derivatives, "FOMAML");
- ``pretrained``: ``theta_0`` minimises the MSE on all tasks pooled (their "pretrained" baseline);
- ``scratch``: ``theta_0`` is a random initialisation.

The network is the paper's ``1-40-40-1`` ReLU MLP (:class:`lecture_lib.models.MLP`). Tasks are
batched with ``torch.func``: ``vmap`` over tasks of ``grad`` through ``functional_call``.

>>> tasks = sample_tasks(3, 5, seed=0)
>>> tasks.x_support.shape, tasks.y_query.shape
(torch.Size([3, 5, 1]), torch.Size([3, 50, 1]))
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.func import functional_call, grad, vmap

from lecture_lib.arguments import positive_float, positive_int, nonnegative_int
from lecture_lib.runtime import full_scale
from lecture_lib.models import MLP
from lecture_lib.train import make_optimizer

FULL = full_scale()
AMPLITUDE, PHASE, X_RANGE = (0.1, 5.0), (0.0, math.pi), (-5.0, 5.0)


@dataclass(frozen=True)
class Tasks:
    """A batch of sinusoid tasks: support ``(T, K, 1)``, query ``(T, Q, 1)``, ``amplitude``, ``phase (T,)``."""

    x_support: torch.Tensor
    y_support: torch.Tensor
    x_query: torch.Tensor
    y_query: torch.Tensor
    amplitude: torch.Tensor
    phase: torch.Tensor


def sample_tasks(n_tasks: int, k_shot: int, n_query: int = 50, *, seed: int = 0, dtype=torch.float32) -> Tasks:
    """``n_tasks`` tasks of the module docstring, ``k_shot`` support and ``n_query`` query points each."""
    T, K, Q = positive_int("n_tasks", n_tasks), positive_int("k_shot", k_shot), positive_int("n_query", n_query)
    g = torch.Generator().manual_seed(int(seed))
    amp = AMPLITUDE[0] + (AMPLITUDE[1] - AMPLITUDE[0]) * torch.rand(T, generator=g, dtype=torch.float64)
    phase = PHASE[0] + (PHASE[1] - PHASE[0]) * torch.rand(T, generator=g, dtype=torch.float64)
    x = X_RANGE[0] + (X_RANGE[1] - X_RANGE[0]) * torch.rand(T, K + Q, 1, generator=g, dtype=torch.float64)
    y = amp[:, None, None] * torch.sin(x - phase[:, None, None])
    x, y = x.to(dtype), y.to(dtype)
    return Tasks(x[:, :K], y[:, :K], x[:, K:], y[:, K:], amp, phase)


def make_net(seed: int = 0) -> MLP:
    """The paper's regressor, ``MLP([1, 40, 40, 1])``, initialised under ``torch.manual_seed(seed)``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MLP([1, 40, 40, 1])


def _loss(net, params, x, y):
    return (functional_call(net, params, (x,)) - y).square().mean()


def adapt(net, params: dict, x, y, *, alpha: float, n_inner: int, first_order: bool = False) -> dict:
    """``n_inner`` steps ``theta <- theta - alpha grad L(theta; x, y)`` for one task (pure; no mutation)."""
    for _ in range(n_inner):
        g = grad(lambda p: _loss(net, p, x, y))(params)
        if first_order:
            g = {k: v.detach() for k, v in g.items()}
        params = {k: params[k] - alpha * g[k] for k in params}
    return params


def post_adaptation_mse(net, params: dict, tasks: Tasks, *, alpha: float, n_inner: int) -> torch.Tensor:
    """Query MSE after adapting on each task's support set: ``(T,)``, batched over tasks with ``vmap``."""
    def one(xs, ys, xq, yq):
        return _loss(net, adapt(net, params, xs, ys, alpha=alpha, n_inner=n_inner), xq, yq)
    return vmap(one)(tasks.x_support, tasks.y_support, tasks.x_query, tasks.y_query)


def _params(net):
    return {k: v.detach().clone().requires_grad_() for k, v in net.named_parameters()}


def meta_train(k_shot: int = 10, *, iterations: int | None = None, meta_batch: int = 25, alpha: float = 0.01,
               n_inner: int = 1, lr: float = 1e-3, first_order: bool = False, seed: int = 0) -> dict:
    """MAML: Adam on the mean post-adaptation query loss of ``meta_batch`` fresh tasks per iteration."""
    iterations = positive_int("iterations", iterations if iterations is not None else (20000 if FULL else 1500))
    net = make_net(seed)
    params = _params(net)
    opt = make_optimizer("adam", params.values(), positive_float("lr", lr))
    for it in range(iterations):
        tasks = sample_tasks(meta_batch, k_shot, k_shot, seed=10_000 * (seed + 1) + it)

        def one(xs, ys, xq, yq):
            adapted = adapt(net, params, xs, ys, alpha=alpha, n_inner=n_inner, first_order=first_order)
            return _loss(net, adapted, xq, yq)
        loss = vmap(one)(tasks.x_support, tasks.y_support, tasks.x_query, tasks.y_query).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return {k: v.detach() for k, v in params.items()}


def pretrain(*, iterations: int | None = None, meta_batch: int = 25, n_points: int = 10, lr: float = 1e-3,
             seed: int = 0) -> dict:
    """The pretrained baseline: Adam on the pooled MSE of all tasks (no adaptation in training)."""
    iterations = positive_int("iterations", iterations if iterations is not None else (20000 if FULL else 1500))
    net = make_net(seed)
    params = _params(net)
    opt = make_optimizer("adam", params.values(), positive_float("lr", lr))
    for it in range(iterations):
        tasks = sample_tasks(meta_batch, n_points, 1, seed=20_000 * (seed + 1) + it)
        loss = _loss(net, params, tasks.x_support.reshape(-1, 1), tasks.y_support.reshape(-1, 1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return {k: v.detach() for k, v in params.items()}


@dataclass(frozen=True)
class FewShotResult:
    """``mse[method]``: mean query MSE after adaptation, one per ``k_shots`` entry, over
    ``n_test_tasks`` unseen tasks; ``sem[method]`` its standard error; ``maml_wins`` (per K):
    MAML below both baselines."""

    k_shots: tuple
    mse: dict
    sem: dict
    maml_wins: tuple
    n_inner: int
    alpha: float
    message: str


METHODS = ("maml", "pretrained", "scratch")


def experiment(k_shots=(2, 5, 10, 20), *, train_k: int = 10, n_test_tasks: int = 100, alpha: float = 0.01,
               n_inner: int = 10, iterations: int | None = None, first_order: bool | None = None,
               seed: int = 0) -> FewShotResult:
    """Meta-train MAML at ``train_k`` shots (one inner step, as in the paper), pretrain the
    baseline, then adapt all three with ``n_inner`` steps on unseen tasks for each ``K``.

    By default first-order MAML for 1,500 iterations (a few seconds on a CPU); with
    ``LECTURE_FULL=1`` second-order MAML for the paper's 20,000 iterations.
    """
    first_order = (not FULL) if first_order is None else bool(first_order)
    n_inner = nonnegative_int("n_inner", n_inner)
    net = make_net(seed)
    inits = {"maml": meta_train(train_k, iterations=iterations, alpha=alpha, first_order=first_order, seed=seed),
             "pretrained": pretrain(iterations=iterations, seed=seed),
             "scratch": {k: v.detach() for k, v in make_net(seed + 1).named_parameters()}}
    mse, sem = {m: [] for m in METHODS}, {m: [] for m in METHODS}
    for K in k_shots:
        tasks = sample_tasks(n_test_tasks, int(K), 100, seed=999_000 + int(K))
        for m in METHODS:
            errors = post_adaptation_mse(net, inits[m], tasks, alpha=alpha, n_inner=n_inner).detach()
            mse[m].append(float(errors.mean()))
            sem[m].append(float(errors.std() / math.sqrt(len(errors))))
    wins = tuple(mse["maml"][i] < min(mse["pretrained"][i], mse["scratch"][i]) for i in range(len(k_shots)))
    table = ", ".join(f"K={K}: " + "/".join(f"{mse[m][i]:.2f}" for m in METHODS) for i, K in enumerate(k_shots))
    return FewShotResult(tuple(int(k) for k in k_shots), mse, sem, wins, n_inner, alpha,
                         f"query MSE after {n_inner} steps (maml/pretrained/scratch): {table}")
