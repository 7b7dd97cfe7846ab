"""The loss of a network as an *energy* over flat parameter vectors.

An energy maps ``theta: Tensor[B, d] -> Tensor[B]``. For a module ``f`` with parameters
``theta`` (flattened in the order of ``model.parameters()``, as
``torch.nn.utils.parameters_to_vector`` does), data ``(X, Y)`` and a loss ``ell``,

    E(theta) = ell(f_theta(X), Y),

evaluated for B parameter vectors at once, never by copying weights into the module.
Two ways, chosen automatically (``method="auto"``):

- ``"forward_batched"``: the library's own models (:mod:`lecture_lib.models`) stack the B
  weight sets along a leading axis and run each layer as one batched matmul,
  ``forward_batched(theta, X) -> (B, N, n_out)``; the loss is ``vmap``-ed over the B axis.
- ``"functional_call"``: any ``nn.Module``, through ``torch.func.functional_call`` with the
  parameters unflattened from each row of ``theta``, ``vmap``-ed over the rows.

Both run over ``theta`` in chunks of ``chunk_size`` rows so the hidden activations of a
chunk, ``chunk_size * N * width`` numbers, stay in the L2 cache: measured on this course's
CPUs, the batched forward of the digits MLP (64-128-10) on all 1,797 samples fell from
about 100 to 35-50 GFLOP/s when all 64 points of a path were run unchunked (DESIGN.md;
the chunk sweep of benchmarks/bench_paths.py measures it again).

Buffers (BatchNorm running statistics) and mode: the energy is the loss of the module in
**evaluation mode** (``model.eval()``: BatchNorm normalises with its running statistics,
dropout is off) with its buffers **frozen at their values when** :func:`model_energy`
**was called**. So the energy is a deterministic, pure function of ``theta`` whatever mode
the module is in. The module itself is never changed: a private copy (sharing the
parameter tensors, owning copies of the buffers) is put in eval mode instead.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from . import arguments as arg

METHODS = ("auto", "forward_batched", "functional_call")

# Chunks are sized so one chunk's largest activation takes about this many bytes (the
# L2 of the development machine's two cores together is 4 MiB a core). Since the first
# layer of the library's models runs as one matmul over the whole chunk (models._layer),
# the chunk sweep of benchmarks/RESULTS.md (digits MLP, 64 points) peaks at 8-16 points
# for N = 1797 (about 7-14 MiB of hidden activations) and is flat from 32 points up at
# N = 128; 8 MiB gives 9 and 128 (one chunk) points there.
CHUNK_BYTES = 2 ** 23


def _named_params(model: nn.Module):
    return list(model.named_parameters())


def flatten(model: nn.Module) -> Tensor:
    """The parameters of ``model`` as one flat vector ``(d,)``, a detached copy.

    Order and layout are those of ``torch.nn.utils.parameters_to_vector(model.parameters())``.

    >>> flatten(nn.Linear(3, 2)).shape
    torch.Size([8])
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    params = list(model.parameters())
    if not params:
        raise ValueError(f"{type(model).__name__} has no parameters to flatten")
    return torch.nn.utils.parameters_to_vector(params).detach().clone()


def unflatten(theta: Tensor, model: nn.Module) -> dict[str, Tensor]:
    """Views of ``theta: (d,)`` shaped like the parameters of ``model``, keyed by name.

    The inverse of :func:`flatten`; the views share memory with ``theta`` (and keep its
    autograd history), ready for ``torch.func.functional_call(model, unflatten(theta, model), x)``.

    >>> net = nn.Linear(3, 2)
    >>> {k: tuple(v.shape) for k, v in unflatten(flatten(net), net).items()}
    {'weight': (2, 3), 'bias': (2,)}
    """
    named = _named_params(model)
    d = sum(p.numel() for _, p in named)
    if not isinstance(theta, Tensor):
        raise TypeError(f"theta must be a torch.Tensor of shape ({d},), got {type(theta).__name__}")
    if theta.dim() != 1 or theta.numel() != d:
        raise ValueError(f"theta must be a flat vector of length {d} (the number of parameters of "
                         f"{type(model).__name__}), got shape {tuple(theta.shape)}")
    out, start = {}, 0
    for name, p in named:
        out[name] = theta[start:start + p.numel()].view(p.shape)
        start += p.numel()
    return out


def _activation_numel(module: nn.Module, inputs: Tensor) -> int:
    """Largest number of entries among the outputs of the submodules in one forward."""
    if hasattr(module, "widths"):  # the library's models: N * widest layer
        return inputs.shape[0] * max(int(w) for w in module.widths)
    sizes = [inputs.numel()]

    def hook(_m, _i, out):
        if isinstance(out, Tensor):
            sizes.append(out.numel())

    handles = [m.register_forward_hook(hook) for m in module.modules()]
    try:
        with torch.no_grad():
            module(inputs)
    finally:
        for h in handles:
            h.remove()
    return max(sizes)


def _is_plain_cross_entropy(loss_fn) -> bool:
    """``F.cross_entropy`` or an ``nn.CrossEntropyLoss`` with its default settings."""
    if loss_fn is torch.nn.functional.cross_entropy:
        return True
    return (type(loss_fn) is nn.CrossEntropyLoss and loss_fn.weight is None
            and loss_fn.reduction == "mean" and loss_fn.ignore_index == -100
            and loss_fn.label_smoothing == 0.0)


def _cross_entropy_batched(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy per point: ``logits (B, N, C)``, class indices ``targets (N,)`` -> ``(B,)``.

    ``mean_n [logsumexp_c z_nc - z_{n, y_n}]``, exactly ``F.cross_entropy`` for each row
    Used only when every target is a class index ``>= 0`` (so ``ignore_index`` never applies).
    Why not ``vmap(F.cross_entropy)``: PyTorch's CPU ``log_softmax`` over a last axis of 10
    classes ran about 10x slower (9.7 ms for 64 x 1,797 x 10 logits) than this max-shifted
    ``exp``-``sum`` (about 1 ms on the same machine), more than the whole first layer's matmul.
    """
    m = logits.amax(-1, keepdim=True).detach()  # (B, N, 1); any shift is exact, detached is cheaper
    lse = (logits - m).exp().sum(-1).log() + m.squeeze(-1)  # (B, N)
    picked = logits.gather(-1, targets.expand(logits.shape[0], -1).unsqueeze(-1)).squeeze(-1)  # (B, N)
    return (lse - picked).mean(-1)


class ModelEnergy:
    """``E(theta) = loss_fn(model_theta(inputs), targets)`` for ``theta: (B, d) -> (B,)``.

    Built by :func:`model_energy`. Attributes: ``model`` (the caller's module, unchanged),
    ``loss_fn``, ``inputs``, ``targets`` (private copies on the model's device: changing the
    caller's tensors afterwards does not change the energy), ``dim`` (``d``), ``method``
    (``"forward_batched"`` or ``"functional_call"``), ``chunk_size``, ``device``, ``dtype``,
    ``names`` and ``shapes`` of the parameters. ``theta0()`` is the module's own point.
    """

    def __init__(self, model, loss_fn, inputs, targets, chunk_size, method):
        named = _named_params(model)
        p0 = named[0][1]
        self.model, self.loss_fn, self.method = model, loss_fn, method
        self.device, self.dtype = p0.device, p0.dtype
        self.names = tuple(n for n, _ in named)
        self.shapes = tuple(tuple(p.shape) for _, p in named)
        self.dim = sum(p.numel() for _, p in named)
        # Own copies: a caller who later scales X in place must not change this energy.
        self.inputs = inputs.detach().to(self.device, copy=True)
        self.targets = targets.detach().to(self.device, copy=True)
        # The private module: same parameter tensors (memo), own buffer copies, eval mode.
        self._module = copy.deepcopy(model, memo={id(p): p for _, p in named}).eval()
        self._buffers = {k: b.detach() for k, b in self._module.named_buffers()}
        if chunk_size is None:
            per_point = _activation_numel(self._module, self.inputs) * p0.element_size()
            chunk_size = max(1, CHUNK_BYTES // max(per_point, 1))
        self.chunk_size = int(chunk_size)
        self._fast_ce = (method == "forward_batched" and _is_plain_cross_entropy(loss_fn)
                         and self.targets.dim() == 1 and not self.targets.is_floating_point()
                         and bool((self.targets >= 0).all()))

    def theta0(self) -> Tensor:
        """The module's current parameters as a flat vector ``(d,)``."""
        return flatten(self.model)

    def _loss_per_point(self, out: Tensor) -> Tensor:  # (b, N, n_out) -> (b,)
        if self._fast_ce:
            return _cross_entropy_batched(out, self.targets)
        return vmap(lambda o: self.loss_fn(o, self.targets))(out)

    def _functional(self, theta: Tensor) -> Tensor:  # (b, d) -> (b,)
        def one(row):  # (d,) -> ()
            out = functional_call(self._module, (unflatten(row, self._module), self._buffers),
                                  (self.inputs,))
            return self.loss_fn(out, self.targets)
        return vmap(one)(theta)

    def _chunk(self, theta: Tensor) -> Tensor:  # (b, d) -> (b,)
        if self.method == "forward_batched":
            return self._loss_per_point(self._module.forward_batched(theta, self.inputs))
        return self._functional(theta)

    def __call__(self, theta: Tensor) -> Tensor:
        if not isinstance(theta, Tensor):
            raise TypeError(f"theta must be a torch.Tensor of shape (B, {self.dim}), got {type(theta).__name__}")
        if theta.dim() != 2 or theta.shape[1] != self.dim:
            hint = " (one point? pass theta[None])" if theta.dim() == 1 and theta.numel() == self.dim else ""
            raise ValueError(f"theta must have shape (B, {self.dim}), got {tuple(theta.shape)}{hint}")
        if theta.device != self.device or theta.dtype != self.dtype:
            raise ValueError(f"theta is {theta.dtype} on {theta.device} but the model is {self.dtype} "
                             f"on {self.device}; move theta (or the model) first")
        c = self.chunk_size
        values = [self._chunk(theta[i:i + c]) for i in range(0, theta.shape[0], c)]
        return torch.cat(values) if values else theta.new_zeros(0)  # (B,)

    def __repr__(self):
        return (f"ModelEnergy({type(self.model).__name__}, dim={self.dim}, N={self.inputs.shape[0]}, "
                f"method={self.method!r}, chunk_size={self.chunk_size}, device={self.device})")


def model_energy(model: nn.Module, loss_fn, inputs: Tensor, targets: Tensor, *,
                 chunk_size: int | None = None, method: str = "auto") -> ModelEnergy:
    """The loss of ``model`` on ``(inputs, targets)`` as a batched energy ``(B, d) -> (B,)``.

    ``E(theta_b) = loss_fn(f_{theta_b}(inputs), targets)`` for each row ``theta_b`` of
    ``theta``, where ``f_theta`` is ``model`` with its parameters replaced by the views of
    :func:`unflatten` (in evaluation mode, buffers frozen: see the module docstring).
    ``loss_fn(outputs, targets) -> scalar``, e.g. ``torch.nn.functional.mse_loss`` or
    ``cross_entropy``; it must be ``vmap``-able (no ``.item()``, no Python ``if`` on values).
    Differentiable w.r.t. ``theta``; computed on the model's device and dtype (``theta`` must
    be there too). Energies are real numbers, not necessarily nonnegative.

    ``method``: ``"auto"`` takes ``"forward_batched"`` when the model has
    ``forward_batched(theta, x) -> (B, N, n_out)`` and no buffers, else
    ``"functional_call"``. ``chunk_size``: rows per batched call; ``None`` picks
    ``max(1, CHUNK_BYTES // (N * widest layer * bytes per number))`` (for other modules
    the largest submodule output of one forward instead of ``N * widest layer``) so a
    chunk's widest activation is about 8 MiB: 64 points of a 64-128-10 MLP at N = 128 go in
    one chunk, at N = 1,797 in chunks of 9.

    >>> net = nn.Linear(2, 1)
    >>> E = model_energy(net, torch.nn.functional.mse_loss, torch.zeros(4, 2), torch.zeros(4, 1))
    >>> E(torch.zeros(3, E.dim))
    tensor([0., 0., 0.])
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not _named_params(model):
        raise ValueError(f"{type(model).__name__} has no parameters: it defines no energy")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable (outputs, targets) -> scalar, got {type(loss_fn).__name__}")
    for name, t in (("inputs", inputs), ("targets", targets)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dim() == 0:
            raise ValueError(f"{name} must have a leading sample axis, got a scalar")
    if inputs.shape[0] != targets.shape[0]:
        raise ValueError(f"inputs and targets disagree on the number of samples: "
                         f"{inputs.shape[0]} inputs, {targets.shape[0]} targets")
    method = arg.choice("method", method, METHODS)
    chunk_size = None if chunk_size is None else arg.positive_int("chunk_size", chunk_size)
    has_batched = hasattr(model, "forward_batched") and not list(model.buffers())
    if method == "forward_batched" and not has_batched:
        raise ValueError(f"{type(model).__name__} has no buffer-free forward_batched; "
                         f"use method='functional_call'")
    if method == "auto":
        method = "forward_batched" if has_batched else "functional_call"
    energy = ModelEnergy(model, loss_fn, inputs, targets, chunk_size, method)
    try:  # check once that the loss is a vmap-able scalar at the module's own point
        probe = energy(energy.theta0()[None])
    except Exception as err:  # noqa: BLE001 - re-raised with its real cause first
        cause = _plain_failure(energy)
        if cause is not None:
            raise ValueError(cause) from err
        raise ValueError(f"evaluating {method} on the module's parameters failed ({err}), although "
                         f"loss_fn(model(inputs), targets) works without vmap; loss_fn must be "
                         f"vmap-able: torch ops only, no .item() or Python if on values") from err
    if probe.is_complex():
        raise ValueError(f"loss_fn must return a real scalar per point, got the complex {probe!r}")
    if probe.shape != (1,) or not math.isfinite(float(probe[0])):
        raise ValueError(f"loss_fn must return a finite scalar per point, got {probe!r}")
    return energy


def _is_cross_entropy(loss_fn) -> bool:
    return loss_fn is torch.nn.functional.cross_entropy or isinstance(loss_fn, nn.CrossEntropyLoss)


def _plain_failure(energy: ModelEnergy) -> str | None:
    """Why ``loss_fn(model(inputs), targets)`` fails without ``vmap``, or None if it works.

    Run when the batched probe failed, so the error names the real cause (a label out of
    range, a shape mismatch) before blaming ``vmap``.
    """
    try:
        with torch.no_grad():
            out = energy._module(energy.inputs)
    except Exception as err:  # noqa: BLE001
        return f"the model's forward on inputs fails: {type(err).__name__}: {err}"
    y = energy.targets
    if (_is_cross_entropy(energy.loss_fn) and isinstance(out, Tensor) and out.dim() >= 1
            and not y.is_floating_point() and y.numel()):
        n_classes = out.shape[-1] if out.dim() == 1 else out.shape[1]
        ignore = getattr(energy.loss_fn, "ignore_index", -100)
        labels = y[y != ignore]
        bad = labels[(labels < 0) | (labels >= n_classes)]
        if bad.numel():
            return (f"targets hold the class label {int(bad[0])}, but the model has {n_classes} "
                    f"outputs: cross-entropy labels must lie in 0..{n_classes - 1}")
    try:
        with torch.no_grad():
            energy.loss_fn(out, y)
    except Exception as err:  # noqa: BLE001
        return f"loss_fn(model(inputs), targets) fails: {type(err).__name__}: {err}"
    return None
