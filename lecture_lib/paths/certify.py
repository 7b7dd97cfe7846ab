"""Energy profiles along a path with a certified maximum, and the two barrier definitions.

The maximum of a function known only at samples can hide between them. :func:`profile`
bounds it: on a segment of length ``h`` (in parameter space) whose ends have energies
``f_0, f_1``, any energy whose derivative along the path is bounded by ``L`` satisfies

    max E <= (f_0 + f_1 + L h) / 2                      (Piyavskii 1972; Shubert 1972)

Segments whose bound exceeds the largest sampled energy by more than the tolerance are
bisected, all new points of a round evaluated in one batched call, until no segment can
hide a higher value. ``L`` is the caller's ``lipschitz`` when given (then the maximum is
certified for every energy with that bound) or ``safety`` times the largest directional
derivative ``|grad E . tau|`` sampled so far (``tau`` the unit tangent of the segment),
re-estimated every round.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .. import arguments as arg
from .polygon import Path
from .validate import CountedEnergy

BARRIER_KINDS = ("mean", "linear")


@dataclass(frozen=True)
class Profile:
    """Energies along a path at arc-length fractions ``t``.

    Fields: ``t (T,)`` sorted in [0, 1]; ``energies (T,)``; ``max_energy`` and where it
    is (``t_max``, ``theta_max``); ``max_excess``, the largest ``E(t) - ((1-t) E(0) + t E(1))``;
    ``bound``, an upper bound on the true maximum given ``lipschitz``; ``certified``: the
    bound is within ``tol`` of ``max_energy``; ``n_evaluations``; ``message``.
    """

    t: Tensor
    energies: Tensor
    max_energy: float
    t_max: float
    theta_max: Tensor
    max_excess: float
    bound: float
    lipschitz: float
    tol: float
    certified: bool
    n_evaluations: int
    message: str
    converged: bool = False
    lipschitz_given: bool = False

    def __repr__(self):
        return (f"Profile(max_energy={self.max_energy:.6g} at t={self.t_max:.4f}, "
                f"n_points={len(self.t)}, converged={self.converged}, certified={self.certified}, "
                f"message={self.message!r})")


def _tangents(path: Path) -> Tensor:
    """Unit tangents of the segments, ``(K - 1, d)``; zero for zero-length segments."""
    diff = path.nodes[1:] - path.nodes[:-1]
    norm = torch.linalg.vector_norm(diff, dim=1, keepdim=True)
    return diff / norm.clamp_min(arg.tiny(diff.dtype))


def _evaluate(energy: CountedEnergy, path: Path, t: Tensor, batch_size: int):
    """Energies and directional derivatives at arc fractions ``t``, chunk by chunk.

    Returns ``values (T,)`` and ``slopes (T, 2)``: the derivative along the segment on the
    left and on the right of each point (equal inside a segment, different at a node), or
    ``None`` when the energy is not differentiable.
    """
    arc, tau = path.arc(), _tangents(path)
    K = path.n_nodes
    right = torch.searchsorted(arc, t, right=True).clamp(1, K - 1) - 1  # segment to the right
    left = (torch.searchsorted(arc, t, right=False) - 1).clamp(0, K - 2)  # segment to the left
    values, slopes = [], []
    for i in range(0, len(t), batch_size):
        x = path.at(t[i:i + batch_size])  # (b, d)
        v, g = energy.value_and_grad(x, needed_by=None)
        values.append(v)
        if g is not None:
            sl = torch.stack([(g * tau[left[i:i + batch_size]]).sum(1),
                              (g * tau[right[i:i + batch_size]]).sum(1)], dim=1)
            slopes.append(sl.detach())
    return torch.cat(values), (torch.cat(slopes) if slopes else None)


def _check_profile_options(n_points, atol, rtol, lipschitz, safety, max_evaluations, batch_size):
    """The options of :func:`profile`, converted; a clear error for each bad one."""
    return dict(n_points=arg.integer("n_points", n_points, low=2),
                atol=arg.optional(arg.nonnegative_float, "atol", atol),
                rtol=arg.nonnegative_float("rtol", rtol),
                lipschitz=arg.optional(arg.nonnegative_float, "lipschitz", lipschitz),
                safety=arg.real("safety", safety, low=1.0),
                max_evaluations=arg.positive_int("max_evaluations", max_evaluations),
                batch_size=arg.positive_int("batch_size", batch_size))


def _message(converged, certified, tol, L, given, safety, budget, n_left, upper):
    how = (f"lipschitz={L:.3g} (given)" if given else
           f"lipschitz={L:.3g} (estimated: safety {safety:g} x the largest sampled slope)")
    if certified:
        return f"maximum certified to within {tol:.3g}: a bound for every energy with {how}"
    if converged:
        return (f"maximum is an estimate, not certified: no segment can hide more than {tol:.3g} "
                f"above it under {how}, but a narrower wall can; pass lipschitz= for a bound")
    left = (f"max_evaluations={budget} spent with {n_left} segments left to refine"
            if n_left else "segments too short to bisect in this dtype still hide more than tol")
    bound = "a bound" if given else "an estimate"
    return f"maximum not certified: {left}; at most {upper:.6g} under {how} ({bound})"


def profile(energy, path, *, n_points: int = 33, atol: float | None = None, rtol: float = 1e-3,
            lipschitz: float | None = None, safety: float = 2.0, max_evaluations: int = 4096,
            batch_size: int = 64) -> Profile:
    """Energies along ``path``, refined until no segment can hide a higher maximum.

    ``path`` is a :class:`Path` or nodes ``(K, d)``. Sampling starts with ``n_points``
    equally spaced fractions plus every node, then bisects each segment whose Piyavskii
    bound (module docstring) exceeds ``max_energy + tol``, and likewise for the excess
    over the linear mix of endpoint energies, until none does (``converged``) or
    ``max_evaluations`` is spent. ``tol = atol`` if given, else ``rtol`` times the spread of
    the sampled energies (never a fraction of the energy itself, which may be negative or
    zero). ``lipschitz``: a Lipschitz constant of the energy (then a converged profile is
    ``certified``); without it the constant is ``safety`` (``>= 1``) times the largest
    sampled slope and the maximum is an estimate (``certified=False``).

    >>> from lecture_lib.paths import linear
    >>> bowl = lambda th: (th ** 2).sum(1)  # 2-Lipschitz on the segment, |grad| = 2 |theta| <= 2
    >>> seg = linear(torch.tensor([-1., 0.]), torch.tensor([1., 0.]))
    >>> p = profile(bowl, seg)
    >>> round(p.max_energy, 6), p.converged, p.certified
    (1.0, True, False)
    >>> profile(bowl, seg, lipschitz=2.0).certified
    True
    """
    o = _check_profile_options(n_points, atol, rtol, lipschitz, safety, max_evaluations, batch_size)
    path = path if isinstance(path, Path) else Path(path)
    E = CountedEnergy(energy)
    dt, dev = path.nodes.dtype, path.nodes.device
    t = torch.unique(torch.cat([torch.linspace(0, 1, o["n_points"], dtype=dt, device=dev), path.arc()]))
    values, slopes = _evaluate(E, path, t, o["batch_size"])
    total = path.length()
    given, safety = o["lipschitz"] is not None, o["safety"]
    # Bisecting below this length resolves neither t (spacing eps * total near t = 1) nor the
    # points themselves (spacing eps * |theta|): such segments stay unresolved (not converged).
    shortest = 4 * torch.finfo(dt).eps * max(total, float(path.nodes.abs().max()))
    while True:
        e0, e1 = float(values[0]), float(values[-1])
        spread = float(values.max() - values.min())
        tol = o["atol"] if o["atol"] is not None else o["rtol"] * (spread if spread > 0 else max(1.0, abs(e0)))
        if given:
            L = o["lipschitz"]
        elif slopes is not None:
            L = safety * float(slopes.abs().max())
        else:  # not differentiable: estimate from finite differences of the samples
            L = safety * float(((values[1:] - values[:-1]).abs() / ((t[1:] - t[:-1]) * total)).max())
        h = (t[1:] - t[:-1]) * total  # (T-1,) segment lengths in parameter space
        bound = (values[1:] + values[:-1] + L * h) / 2
        lin = (1 - t) * e0 + t * e1
        excess = values - lin
        L_ex = L + abs(e1 - e0) / max(total, arg.tiny(dt))
        bound_ex = (excess[1:] + excess[:-1] + L_ex * h) / 2
        hiding = (bound > values.max() + tol) | (bound_ex > excess.max() + tol)
        refine = hiding & (h > shortest)
        n_new = int(refine.sum())
        if not torch.isfinite(values).all():  # nothing to bound: report it, do not refine
            hiding = torch.ones_like(hiding)
            break
        if n_new == 0 or E.n_evaluations + n_new > o["max_evaluations"]:
            break
        t_new = (t[:-1][refine] + t[1:][refine]) / 2
        v_new, s_new = _evaluate(E, path, t_new, o["batch_size"])
        t, order = torch.sort(torch.cat([t, t_new]))
        values = torch.cat([values, v_new])[order]
        slopes = torch.cat([slopes, s_new])[order] if slopes is not None else None
    i = int(values.argmax())
    upper = max(float(values.max()), float(bound.max()))
    converged = not bool(hiding.any())
    certified = converged and given
    message = _message(converged, certified, tol, L, given, safety, o["max_evaluations"], n_new, upper)
    if not torch.isfinite(values).all():
        k = int((~torch.isfinite(values)).nonzero()[0])
        message = f"maximum not certified: the energy is not finite on the path ({float(values[k])} at t={float(t[k]):.4g})"
    return Profile(t=t, energies=values, max_energy=float(values[i]), t_max=float(t[i]),
                   theta_max=path.at(t[i:i + 1])[0], max_excess=float(excess.max()), bound=upper,
                   lipschitz=L, tol=tol, certified=certified, n_evaluations=E.n_evaluations,
                   message=message, converged=converged, lipschitz_given=given)


def barrier(profile_or_energies, kind: str = "mean", t: Tensor | None = None) -> float:
    """The energy barrier along a path, by either definition found in the literature.

    - ``kind="mean"``: ``max_t E(t) - (E(0) + E(1)) / 2``, the maximum over the mean of the
      endpoint energies (Frankle et al. 2020; Garipov et al. 2018 report the maximum).
    - ``kind="linear"``: ``max_t [E(t) - ((1 - t) E(0) + t E(1))]``, the largest excess over
      the linear mix of the endpoint energies (Entezari et al. 2022).

    Takes a :class:`Profile` (whose maximum is a bound when ``certified``) or energies ``(T,)`` at
    fractions ``t`` (uniform in [0, 1] when ``t`` is None).
    """
    kind = arg.choice("barrier kind", kind, BARRIER_KINDS)
    if isinstance(profile_or_energies, Profile):
        p = profile_or_energies
        e0, e1 = float(p.energies[0]), float(p.energies[-1])
        return p.max_energy - (e0 + e1) / 2 if kind == "mean" else p.max_excess
    e = torch.as_tensor(profile_or_energies).reshape(-1)
    if len(e) < 2:
        raise ValueError(f"need the energies at two or more points of the path, got {len(e)}")
    if t is None:
        t = torch.linspace(0, 1, len(e), dtype=e.dtype, device=e.device)
    t = torch.as_tensor(t, dtype=e.dtype, device=e.device).reshape(-1)
    if t.shape != e.shape:
        raise ValueError(f"t has shape {tuple(t.shape)} but energies have shape {tuple(e.shape)}")
    if kind == "mean":
        return float(e.max() - (e[0] + e[-1]) / 2)
    return float((e - ((1 - t) * e[0] + t * e[-1])).max())
