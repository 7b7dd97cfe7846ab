"""Input checks and evaluation bookkeeping shared by every path algorithm.

Every algorithm in :mod:`lecture_lib.paths` sees the energy only through
:class:`CountedEnergy`, which checks what the energy returns (shape ``(B,)``, finite) and
counts the points it was asked about, so each result can report ``n_evaluations``.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

Energy = Callable[[Tensor], Tensor]  # Tensor[B, d] -> Tensor[B]


def check_point(theta: Tensor, name: str = "theta") -> Tensor:
    """A detached copy of one flat parameter vector ``(d,)``, after checking it."""
    if not isinstance(theta, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (d,), got {type(theta).__name__}")
    if theta.dim() != 1 or theta.numel() == 0:
        raise ValueError(f"{name} must be a flat parameter vector of shape (d,), got shape {tuple(theta.shape)}")
    if not theta.is_floating_point():
        raise TypeError(f"{name} must have a floating dtype, got {theta.dtype}")
    if not torch.isfinite(theta).all():
        bad = int((~torch.isfinite(theta)).sum())
        raise ValueError(f"{name} has {bad} non-finite entries (nan or inf)")
    return theta.detach().clone()


def check_endpoints(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Detached copies of two endpoints that share shape, device and dtype and differ."""
    a, b = check_point(a, "a"), check_point(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"endpoints have different shapes: a is {tuple(a.shape)}, b is {tuple(b.shape)}")
    if a.device != b.device:
        raise ValueError(f"endpoints are on different devices: a on {a.device}, b on {b.device}")
    if a.dtype != b.dtype:
        raise ValueError(f"endpoints have different dtypes: a is {a.dtype}, b is {b.dtype}")
    if torch.equal(a, b):
        raise ValueError("endpoints a and b are identical: a path between them has zero length")
    return a, b


class CountedEnergy:
    """Wrap an energy: check each answer and count the points evaluated.

    ``CountedEnergy(energy)(theta)`` returns ``energy(theta)`` for ``theta: (B, d)`` after
    checking that it is a finite tensor of shape ``(B,)``.
    """

    def __init__(self, energy: Energy):
        if isinstance(energy, CountedEnergy):
            energy = energy.energy
        if not callable(energy):
            raise TypeError(f"energy must be callable Tensor[B, d] -> Tensor[B], got {type(energy).__name__}")
        self.energy = energy
        self.n_evaluations = 0

    def __call__(self, theta: Tensor) -> Tensor:
        if theta.dim() != 2:
            raise ValueError(f"an energy takes a batch of shape (B, d), got {tuple(theta.shape)}")
        values = self.energy(theta)
        B = theta.shape[0]
        if not isinstance(values, Tensor) or values.shape != (B,):
            shape = tuple(values.shape) if isinstance(values, Tensor) else type(values).__name__
            raise ValueError(
                f"energy returned {shape} for a batch of shape {tuple(theta.shape)}; "
                f"an energy maps Tensor[B, d] to Tensor[B], so expected ({B},)")
        finite = torch.isfinite(values)
        if not bool(finite.all()):
            raise ValueError(
                f"energy returned non-finite values (nan or inf) at {int((~finite).sum())} of {B} points")
        self.n_evaluations += B
        return values

    def value_and_grad(self, theta: Tensor, *, needed_by: str | None = "this algorithm"
                       ) -> tuple[Tensor, Tensor | None]:
        """Energies ``(B,)`` and gradients ``(B, d)`` by autograd.

        When the energy gives no gradient (its values do not require grad, or do not depend
        on ``theta``) this raises a ``TypeError`` saying that ``needed_by`` needs gradients;
        with ``needed_by=None`` it returns ``(values, None)`` instead, for callers that can do
        without (:func:`lecture_lib.paths.profile` falls back to finite differences).
        """
        with torch.enable_grad():
            x = theta.detach().requires_grad_(True)
            values = self(x)
            grad = None
            if values.requires_grad:
                (grad,) = torch.autograd.grad(values.sum(), x, allow_unused=True)
        if grad is None and needed_by is not None:
            why = ("its values do not require grad (computed under torch.no_grad, detached, or "
                   "through numpy?)" if not values.requires_grad else
                   "its values do not depend on theta through autograd")
            raise TypeError(f"{needed_by} needs gradients, but the energy is not differentiable: {why}; "
                            f"an energy must be differentiable with autograd in theta (B, d)")
        return values.detach(), grad

    def at(self, theta: Tensor) -> float:
        """The energy of one point ``(d,)`` as a float."""
        with torch.no_grad():
            return float(self(theta.unsqueeze(0))[0])


def energy_scale(e_a: float, e_b: float, level: float | None = None) -> float:
    """A positive scale for relative tolerances that does not assume energies are positive.

    It is the largest gap among the endpoint energies and the level; ``max(1, |e|)`` when
    all of them coincide.
    """
    values = [e_a, e_b] + ([level] if level is not None else [])
    gap = max(values) - min(values)
    return gap if gap > 0 else max(1.0, abs(e_a))


def level_scale(level: float, e_a: float, e_b: float, floor: float | None = 0.0) -> float:
    """The scale of tolerances below a level: the distance from ``level`` down to a lower
    bound of the energy, ``level - min(floor, E(a), E(b))``.

    ``floor`` is a known lower bound of the energy (0 for the course's losses); ``None``
    uses the lower endpoint energy. A floor above an endpoint's energy is no lower bound, so
    the endpoints bound it from above (Mueller-Brown's energies are negative: there the
    scale is the level minus the lower minimum). Unlike :func:`energy_scale` it does not
    collapse when both endpoints sit just under the level (the protocol of Freeman & Bruna
    2017): at level 0.05 with endpoints at 0.0475 it is 0.05, not 0.0025. Falls back to
    :func:`energy_scale` when it is 0.

    >>> level_scale(0.05, 0.0475, 0.0475), round(level_scale(0.05, 0.0475, 0.0475, None), 6)
    (0.05, 0.0025)
    >>> round(level_scale(-39.66, -146.7, -108.2), 6)  # negative energies: the floor is the lower end
    107.04
    """
    lo = min(e_a, e_b) if floor is None else min(float(floor), e_a, e_b)
    gap = level - lo
    return gap if gap > 0 else energy_scale(e_a, e_b, level)


def check_level(level: float | None, e_a: float, e_b: float) -> float | None:
    """Check that a level admits both endpoints: ``E(a) <= level`` and ``E(b) <= level``."""
    if level is None:
        return None
    level = float(level)
    if not math.isfinite(level):
        raise ValueError(f"level must be a finite number, got {level}")
    for name, e in (("a", e_a), ("b", e_b)):
        if e > level:
            raise ValueError(
                f"level {level:.6g} is below the energy of endpoint {name} ({e:.6g}): "
                f"the endpoint lies outside the sublevel set {{E <= level}}")
    return level


def evaluate_endpoints(energy, a: Tensor, b: Tensor, level: float | None = None):
    """Wrap ``energy`` in a :class:`CountedEnergy`, evaluate both endpoints in one batched
    call and check the level against them (:func:`check_level`).

    Returns ``(E, e_ends, level)`` with ``e_ends = (E(a), E(b))`` a tensor ``(2,)``; the two
    evaluations are counted in ``E.n_evaluations``.
    """
    E = CountedEnergy(energy)
    with torch.no_grad():
        e_ends = E(torch.stack([a, b]))  # (2,)
    return E, e_ends, check_level(level, float(e_ends[0]), float(e_ends[1]))
