"""Dynamic string sampling (Freeman & Bruna, ICLR 2017, Sec. 4 and Appendix).

To decide whether two points ``a, b`` of the sublevel set ``Omega_u = {E <= u}`` are
joined inside it, start from the segment ``[a, b]`` and repeat on every segment
``[theta_1, theta_2]`` whose profiled maximum (:func:`lecture_lib.paths.profile`) exceeds
the accepted level ``u + accept_tol * scale``: place a bead ``theta_3`` on it, bring the
bead under the level, insert it and recurse on ``[theta_1, theta_3]`` and
``[theta_3, theta_2]``, at most ``max_depth`` rounds. Two ways to make the bead:

- ``method="greedy"``, as run in the paper's experiments (their Algorithm 1): the bead starts
  at the argmax of the segment's profile (``bead="argmax"``, the default; or at its midpoint) and is trained *without constraint* by
  gradient descent until ``E(theta_3) <= target``. Trained freely it may slide far, even to
  a minimum; that is what the paper does.
- ``method="constrained"``, as stated in the lecture: ``theta_3 = argmin ||theta - theta_m||``
  over ``theta`` in the hyperplane ``H = {theta : <theta - theta_m, theta_1 - theta_2> = 0}``
  through the midpoint ``theta_m`` with ``E(theta) <= target``. Solved in two phases, all
  beads of a round at once: (1) feasibility, descent of ``E`` with the gradient projected on
  ``H`` from ``theta_m`` until ``E <= target``; (2) pull-back, steps ``theta + eta (theta_m -
  theta)`` each followed by Newton corrections ``theta -= (E - target)_+ P grad E / |P grad
  E|^2`` (``P`` the projection on ``H``), kept only when feasible and closer to ``theta_m``.
  This finds a local solution; the first-order (KKT) condition says ``theta_m - theta`` is
  parallel to ``P grad E``, and each bead's cosine between them is in ``info["beads"]``
  (1 at an exact solution with an active constraint; on a 2-D annulus, where the answer is
  known, the bead lands within 1e-6 of it: tests/test_string_sampling.py). A bead that
  gets under the level but not under the target in ``max_steps`` steps is inserted where
  phase 1 stopped (cosine ``nan``); one that stays above the level fails its segment.

Tolerances use ``scale = level_scale(u, E(a), E(b), energy_floor)``
(:func:`lecture_lib.paths.validate.level_scale`): the distance from the level down to a
lower bound of the energy, ``u - min(energy_floor, E(a), E(b))``, with ``energy_floor = 0``
for the course's losses (cross-entropy, L1, MSE are >= 0) and the lower endpoint energy
when ``energy_floor=None``. The bead target is ``u - (1 - fraction) * scale`` and a segment
is accepted when the maximum of its profile is at most ``u + accept_tol * scale``. For a
nonnegative loss this is the paper's rule: beads train to ``fraction = 0.95`` of the level
and segments are accepted a hair above it. It stays meaningful under the paper's protocol
where both endpoints sit just under the level (a gap-based scale collapses there), and it
never takes a fraction of a negative level (Mueller-Brown's energies are negative: there the
floor is the lower endpoint's energy).

Bead training copes with non-smooth losses (L1, ReLU, plateaus of cross-entropy), where a
negative subgradient is often no descent step: the default optimizer is Adam (Kingma & Ba
2015), which accepts non-monotone progress, and every bead keeps its best point so far.
Budgets adapt: a bead trains until it reaches the target, or until it *stalls* (its best
energy closed less than 0.1% of its remaining gap to the target over the last ``patience``
steps), or until the cap ``max_steps``; a bead still descending is not cut off at a small
fixed count. A search that gives up reports ``connected=False`` and a message "no path
found" with the reason (a bead stalled, the step budget ran out, a segment stayed above the
level after ``max_depth`` rounds): that is a failure of the search, not a proof that no path
exists. All beads of one round train together, one batched energy call per step; the
profiles of the segments are computed one segment at a time (each with batched calls).
Whether the reported maximum is a bound or an estimate is the profile's business
(:func:`lecture_lib.paths.profile`: a bound only with a given ``lipschitz``); this algorithm
does not depend on it.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from tqdm.auto import tqdm

from .. import arguments as args
from .certify import profile
from .polygon import Path
from .results import PathResult, make_result
from .validate import check_endpoints, energy_scale, evaluate_endpoints, level_scale

METHODS = ("greedy", "constrained")
BEADS = ("midpoint", "argmax")
OPTIMIZERS = ("adam", "normalized", "sgd")
DEFAULT_LR = {"adam": 0.01, "normalized": 0.05, "sgd": 1e-3}


def _descend(E, theta, target, *, h, optimizer, lr, max_steps, patience, project=None):
    """Descend on each row of ``theta (S, d)`` until ``E <= target``; every row keeps its best
    point so far and stops at the target, when it stalls, or after ``max_steps`` steps.

    ``optimizer="adam"``: Adam (Kingma & Ba 2015) with per-coordinate rate
    ``lr * h / sqrt(d)`` (``h (S,)`` the segment lengths), so a step moves a bead by about
    ``lr * h`` whatever the scale of the parameters and of the energy; non-monotone steps are
    taken, the best point is kept. ``"normalized"``: steps ``s * g / |g|``, ``s`` from
    ``lr * h``, kept only when the energy decreases (then ``s *= 1.2``, capped at ``h``; else
    ``s /= 2``). ``"sgd"``: ``theta -= lr * g``. ``project`` maps gradients to the allowed
    directions (the hyperplane ``H``). A row *stalls* when its best energy closed less than
    0.1% of its gap to the target over the last ``patience`` steps. One batched call per step
    on the rows still training. Returns the best rows, their energies, the steps each took
    and why each stopped (``"target"``, ``"stalled"`` or ``"budget"``).
    """
    theta = theta.clone()
    values, grads = E.value_and_grad(theta, needed_by="string sampling (beads train by gradient descent)")
    S, d = theta.shape
    tiny = args.tiny(theta.dtype)
    x = theta.clone()  # the optimizer's iterate; ``theta`` holds the best point so far
    cur_v, cur_g = values.clone(), grads.clone()
    step = lr * h  # (S,) used by "normalized"
    rate = (lr * h / math.sqrt(d))[:, None]  # (S, 1) used by "adam"
    m, v = torch.zeros_like(theta), torch.zeros_like(theta)
    n_steps = torch.zeros(S, dtype=torch.long, device=theta.device)
    running = values > target
    why = ["target"] * S
    checkpoint = values.clone()
    for k in range(1, max_steps + 1):
        idx = running.nonzero().squeeze(1)
        if idx.numel() == 0:
            break
        g = cur_g[idx] if project is None else project(cur_g[idx], idx)  # (s, d)
        if optimizer == "normalized":
            dx = step[idx, None] * g / torch.linalg.vector_norm(g, dim=1, keepdim=True).clamp_min(tiny)
        elif optimizer == "sgd":
            dx = lr * g
        else:
            m[idx] = 0.9 * m[idx] + 0.1 * g
            v[idx] = 0.999 * v[idx] + 0.001 * g * g
            n = n_steps[idx, None] + 1
            dx = rate[idx] * (m[idx] / (1 - 0.9 ** n)) / ((v[idx] / (1 - 0.999 ** n)).sqrt() + tiny ** 0.5)
            dx = dx if project is None else project(dx, idx)
        cand = x[idx] - dx
        new_v, new_g = E.value_and_grad(cand)
        keep = new_v < cur_v[idx] if optimizer == "normalized" else torch.ones_like(new_v, dtype=torch.bool)
        if optimizer == "normalized":
            step[idx] = torch.where(keep, (step[idx] * 1.2).minimum(h[idx]), step[idx] * 0.5)
        x[idx] = torch.where(keep[:, None], cand, x[idx])
        cur_v[idx] = torch.where(keep, new_v, cur_v[idx])
        cur_g[idx] = torch.where(keep[:, None], new_g, cur_g[idx])
        better = new_v < values[idx]
        theta[idx] = torch.where(better[:, None], cand, theta[idx])
        values[idx] = torch.where(better, new_v, values[idx])
        n_steps[idx] += 1
        running &= values > target
        if k % patience == 0:  # adaptive budget: stop only the rows that no longer descend
            stalled = running & (checkpoint - values <= 1e-3 * (checkpoint - target))
            for i in stalled.nonzero().squeeze(1).tolist():
                why[i] = "stalled"
            running &= ~stalled
            checkpoint = values.clone()
    for i in running.nonzero().squeeze(1).tolist():
        why[i] = "budget"
    return theta, values, n_steps, why


def _pull_back(E, theta, theta_m, normal, target, *, rounds=30, newton=3):
    """Phase 2 of the constrained bead: move feasible rows of ``theta (S, d)`` toward
    ``theta_m`` while keeping ``E <= target`` and staying on ``H`` (module docstring)."""
    tiny = args.tiny(theta.dtype)

    def P(g):  # projection on H, normals (S, d) of unit length
        return g - (g * normal).sum(1, keepdim=True) * normal

    dist = torch.linalg.vector_norm(theta - theta_m, dim=1)  # (S,)
    eta = torch.full_like(dist, 0.5)
    for _ in range(rounds):
        cand = theta + eta[:, None] * (theta_m - theta)
        for _ in range(newton):
            val, g = E.value_and_grad(cand)
            pg = P(g)
            excess = (val - target).clamp_min(0)
            cand = cand - (excess / (pg * pg).sum(1).clamp_min(tiny))[:, None] * pg
        val = E(cand).detach()
        new_dist = torch.linalg.vector_norm(cand - theta_m, dim=1)
        ok = (val <= target) & (new_dist < dist)
        theta = torch.where(ok[:, None], cand, theta)
        dist = torch.where(ok, new_dist, dist)
        eta = torch.where(ok, (eta * 1.5).clamp_max(1.0), eta * 0.5)
    _, g = E.value_and_grad(theta)
    pg, r = P(g), theta_m - theta
    cos = (pg * r).sum(1) / (torch.linalg.vector_norm(pg, dim=1) * dist).clamp_min(tiny)
    return theta, torch.where(dist > 0, cos, torch.ones_like(cos)), dist


def _make_beads(E, seg, profiles, target, *, method, bead, noise, gen, **train):
    """Beads for the segments ``seg`` (list of ``(theta_1, theta_2)``), trained together;
    ``train``: the options of :func:`_descend`."""
    p = torch.stack([s[0] for s in seg])  # (S, d)
    q = torch.stack([s[1] for s in seg])  # (S, d)
    h = torch.linalg.vector_norm(q - p, dim=1)  # (S,)
    mid = (p + q) / 2
    if method == "greedy" and bead == "argmax":
        mid = torch.stack([pr.theta_max for pr in profiles])
    normal = (p - q) / h[:, None]
    kick = torch.randn(p.shape, generator=gen, device=p.device, dtype=p.dtype)
    if method == "constrained":
        kick = kick - (kick * normal).sum(1, keepdim=True) * normal
    start = mid + noise * h[:, None] * kick / math.sqrt(p.shape[1])
    if method == "greedy":
        theta, values, n_steps, why = _descend(E, start, target, h=h, **train)
        return theta, values, n_steps, why, [{} for _ in seg]
    proj = lambda g, idx: g - (g * normal[idx]).sum(1, keepdim=True) * normal[idx]
    at_mid = E(mid).detach() <= target  # the midpoint itself is feasible: it is the argmin
    start = torch.where(at_mid[:, None], mid, start)
    theta, values, n_steps, why = _descend(E, start, target, h=h, project=proj, **train)
    feasible = values <= target  # a bead under the level but not the target stays where phase 1 left it
    cos = torch.full_like(values, float("nan"))
    if bool(feasible.any()):
        f = feasible.nonzero().squeeze(1)
        theta[f], cos[f], _ = _pull_back(E, theta[f], mid[f], normal[f], target)
        values[f] = E(theta[f]).detach()
    dist = torch.linalg.vector_norm(theta - mid, dim=1)
    extra = [{"distance": float(dist[i]), "kkt_cosine": float(cos[i])} for i in range(len(seg))]
    return theta, values, n_steps, why, extra


def _check_options(o):
    """Check the options of :func:`string_sampling` (a dict of them); returns them converted."""
    args.choice("method", o["method"], METHODS)
    if o["bead"] is None:
        o["bead"] = "argmax" if o["method"] == "greedy" else "midpoint"
    args.choice("bead", o["bead"], BEADS)
    args.choice("optimizer", o["optimizer"], OPTIMIZERS)
    if o["method"] == "constrained" and o["bead"] != "midpoint":
        raise ValueError("bead='argmax' applies to method='greedy' only: the constrained bead "
                         "lies on the hyperplane through the midpoint")
    o["fraction"] = args.real("fraction", o["fraction"], low=0, high=1, low_open=True)
    o["accept_tol"] = args.nonnegative_float("accept_tol", o["accept_tol"])
    o["noise"] = args.nonnegative_float("noise", o["noise"])
    o["max_depth"] = args.nonnegative_int("max_depth", o["max_depth"])
    o["max_steps"] = args.nonnegative_int("max_steps", o["max_steps"])
    o["patience"] = args.positive_int("patience", o["patience"])
    o["seed"] = args.seed("seed", o["seed"])
    o["lr"] = DEFAULT_LR[o["optimizer"]] if o["lr"] is None else args.positive_float("lr", o["lr"])
    if o["energy_floor"] is not None:
        o["energy_floor"] = args.real("energy_floor", o["energy_floor"])
    return o


def string_sampling(energy, a, b, level, *, method: str = "greedy", bead: str | None = None,
                    fraction: float = 0.95, accept_tol: float = 1e-3, energy_floor: float | None = 0.0,
                    max_depth: int = 10, lr: float | None = None, max_steps: int = 5000,
                    patience: int = 250, optimizer: str = "adam", noise: float = 1e-3,
                    seed: int | None = 0, progress: bool = True,
                    profile_kwargs: dict | None = None) -> PathResult:
    """Join ``a`` and ``b`` inside ``{E <= level}`` by dynamic string sampling (module docstring).

    ``energy``: ``Tensor[B, d] -> Tensor[B]``, differentiable; ``a, b``: ``(d,)``, both in the
    sublevel set (else ``ValueError``). ``method`` in ``METHODS``; ``bead``: start at the
    ``"argmax"`` of the segment's profile (greedy only; its default) or at the ``"midpoint"``
    (the constrained method's, and its default).
    ``energy_floor``: a lower bound of the energy (0 for nonnegative losses; ``None``: the
    lower endpoint energy), which sets ``scale = level - min(energy_floor, E(a), E(b))``.
    ``fraction``: beads train until ``E <= level - (1 - fraction) * scale``; ``accept_tol``:
    a segment is accepted when its profile's max is at most ``level + accept_tol * scale``
    (also the tolerance of ``connected``). ``max_depth``: rounds of bead insertion.
    ``optimizer`` in ``OPTIMIZERS`` with ``lr`` (``"adam"``, the default, and
    ``"normalized"``: a fraction of the segment's length a step moves the bead, default 0.01
    and 0.05; ``"sgd"``: the plain rate, default 1e-3); each bead trains until it reaches
    the target, stalls for ``patience`` steps, or has taken ``max_steps``. ``noise``: each
    bead starts displaced by ``noise * h`` (``h`` the segment's length) in a random direction
    drawn from ``seed`` (``None``: a fresh seed; breaks symmetry at critical midpoints).
    ``profile_kwargs`` go to :func:`lecture_lib.paths.profile`.

    Returns a :class:`PathResult`; when the search gives up, ``connected=False`` and a message
    "no path found" naming the segments that failed, their maxima and why. ``info``:
    ``method``, ``scale``, ``target``, ``accept_level``, ``n_beads``, ``depth``, ``history``
    (per round: segments tried, their maxima), ``beads`` (per bead: round, final energy,
    steps, why it stopped, the max of its segment, whether it was inserted; for the
    constrained method its distance to the midpoint and the KKT cosine), ``failures``
    (final segment index, why).

    >>> bowl = lambda th: (th ** 2).sum(1)
    >>> r = string_sampling(bowl, torch.tensor([-1., 0.]), torch.tensor([1., 0.]), 1.5, progress=False)
    >>> r.connected, r.normalized_length
    (True, 1.0)
    """
    o = _check_options(dict(method=method, bead=bead, optimizer=optimizer, fraction=fraction,
                            accept_tol=accept_tol, noise=noise, max_depth=max_depth,
                            max_steps=max_steps, patience=patience, seed=seed, lr=lr,
                            energy_floor=energy_floor))
    a, b = check_endpoints(a, b)
    if level is None:
        raise ValueError("string sampling needs a level: the sublevel set {E <= level} to stay in")
    E, e_ends, level = evaluate_endpoints(energy, a, b, level)
    e_a, e_b = float(e_ends[0]), float(e_ends[1])
    scale = level_scale(level, e_a, e_b, o["energy_floor"])
    target, accept = level - (1 - o["fraction"]) * scale, level + o["accept_tol"] * scale
    gen = torch.Generator(device=a.device)
    gen.manual_seed(o["seed"]) if o["seed"] is not None else gen.seed()
    pkw = dict(profile_kwargs or {})
    train = dict(optimizer=o["optimizer"], lr=o["lr"], max_steps=o["max_steps"], patience=o["patience"])
    # status[k] of segment k (nodes k, k + 1): None to check, "ok", or why it failed
    nodes, status = [a, b], [None]
    history, beads, n_prof, depth = [], [], 0, 0
    for depth in tqdm(range(o["max_depth"] + 1), desc="string sampling", disable=not progress):
        seg_idx = [k for k, s in enumerate(status) if s is None]
        if not seg_idx:
            break
        profs = [profile(E, Path(torch.stack(nodes[k:k + 2])), **pkw) for k in seg_idx]
        n_prof += sum(p.n_evaluations for p in profs)
        bad = [(k, p) for k, p in zip(seg_idx, profs) if not p.max_energy <= accept]
        history.append({"depth": depth, "n_segments": len(seg_idx), "n_rejected": len(bad),
                        "max_energies": [p.max_energy for p in profs]})
        for k, p in zip(seg_idx, profs):
            status[k] = "ok" if p.max_energy <= accept else (
                f"a segment stayed above the level (max {p.max_energy:.6g} > {accept:.6g}) "
                f"after max_depth={o['max_depth']} rounds")
        if not bad or depth == o["max_depth"]:
            break
        theta, values, n_steps, why, extra = _make_beads(
            E, [(nodes[k], nodes[k + 1]) for k, _ in bad], [p for _, p in bad], target,
            method=o["method"], bead=o["bead"], noise=o["noise"], gen=gen, **train)
        new = []
        for i, (k, p) in reversed(list(enumerate(bad))):  # insert from the end: indices stay valid
            ok = bool(values[i] <= level)
            new.append({"depth": depth, "energy": float(values[i]), "steps": int(n_steps[i]),
                        "stopped": why[i], "segment_max": p.max_energy, "inserted": ok, **extra[i]})
            if ok:
                nodes.insert(k + 1, theta[i].detach())
                status[k:k + 1] = [None, None]
            else:
                reason = ("the bead stalled" if why[i] == "stalled" else
                          f"the step budget ran out (max_steps={o['max_steps']})")
                status[k] = (f"max {p.max_energy:.6g} > {accept:.6g} and {reason} above the level "
                             f"(best {float(values[i]):.6g} after {int(n_steps[i])} steps)")
        beads += new[::-1]
    failures = [(k, s) for k, s in enumerate(status) if s not in ("ok", None)]
    path = Path(torch.stack(nodes))
    gap = energy_scale(float(e_ends[0]), float(e_ends[1]), level)  # make_result's scale of level_rtol
    result = make_result(E.energy, path, level=level, n_evaluations=E.n_evaluations + n_prof,
                         level_rtol=o["accept_tol"] * scale / gap, profile_kwargs=pkw,
                         method=o["method"], scale=scale, target=target, accept_level=accept,
                         n_beads=len(nodes) - 2, depth=depth, history=history, beads=beads,
                         failures=failures)
    return dataclasses.replace(result, message=_message(result, failures, o["method"]))


def _message(result: PathResult, failures, method) -> str:
    certified = bool(getattr(result, "certified", result.profile.certified))
    kind = "a certified bound" if certified else "an estimate (no Lipschitz bound given)"
    if result.connected:
        where = (f"below level {result.level:.6g}" if result.max_energy <= result.level else
                 f"at level {result.level:.6g} within accept_tol (not strictly below it: accepted up "
                 f"to {result.info['accept_level']:.6g})")
        return (f"path found {where} by {method} string sampling with {result.path.n_nodes - 2} "
                f"beads; max energy along it {result.max_energy:.6g}, {kind}")
    if not failures:
        return (f"no path found: the assembled path's max energy {result.max_energy:.6g} ({kind}) "
                f"exceeds the level {result.level:.6g}")
    parts = "; ".join(f"segment {k} of {result.path.n_nodes - 1}: {why}" for k, why in failures)
    return (f"no path found below level {result.level:.6g} by {method} string sampling "
            f"(the search gave up; this does not show that none exists): {parts}")
