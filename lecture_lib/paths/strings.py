"""Dynamic string sampling (Freeman & Bruna, ICLR 2017, Sec. 4 and Appendix).

To decide whether two points ``a, b`` of the sublevel set ``Omega_u = {E <= u}`` are
joined inside it, start from the segment ``[a, b]`` and repeat on every segment
``[theta_1, theta_2]`` whose certified maximum (:func:`lecture_lib.paths.profile`) exceeds
the accepted level ``u + accept_tol * scale``: place a bead ``theta_3`` on it, bring the
bead under the level, insert it and recurse on ``[theta_1, theta_3]`` and
``[theta_3, theta_2]``, at most ``max_depth`` rounds. Two ways to make the bead:

- ``method="greedy"``, as run in the paper's experiments: the bead starts at the midpoint
  (or at the argmax of the segment's profile) and is trained *without constraint* by
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

Tolerances use ``scale = energy_scale(E(a), E(b), u)`` (the largest gap among the endpoint
energies and the level), never a fraction of a possibly negative level: the bead target is
``u - (1 - fraction) * scale`` and a segment is accepted when its certified maximum is at
most ``u + accept_tol * scale``. (The paper's "train below 0.95 of the level, accept below
1.02-1.1 of it" for positive losses with small endpoint losses is ``fraction = 0.95`` and
``accept_tol`` = 0.02-0.1.) All beads of one round train together, one batched energy call
per step; the profiles of the segments are certified one segment at a time (each with
batched calls).
"""

from __future__ import annotations

import dataclasses
import math

import torch
from tqdm.auto import tqdm

from .certify import profile
from .polygon import Path
from .results import PathResult, make_result
from .validate import check_endpoints, energy_scale, evaluate_endpoints

METHODS = ("greedy", "constrained")
BEADS = ("midpoint", "argmax")
OPTIMIZERS = ("normalized", "adam", "sgd")


def _choice(name, value, options):
    if value not in options:
        raise ValueError(f"unknown {name} {value!r}; choose one of {options}")


def _descend(E, theta, target, *, h, optimizer, lr, max_steps, project=None):
    """Gradient descent of each row of ``theta (S, d)`` until ``E <= target`` (rows stop there).

    ``optimizer="normalized"``: steps ``s * g / |g|`` with ``s`` starting at ``lr * h`` (``h``
    the segment lengths, ``(S,)``), kept only when the energy decreases (then ``s *= 1.2``,
    capped at ``h``; else ``s /= 2``): free of the energy's and the parameters' scale.
    ``"sgd"``: ``theta -= lr * g``; ``"adam"``: Adam (Kingma & Ba 2015) with rate ``lr``.
    ``project`` maps gradients to the allowed directions (the hyperplane ``H``).
    One batched call per step on the rows still above the target. Returns the rows,
    their energies and the number of steps each took.
    """
    theta = theta.clone()
    values, grads = E.value_and_grad(theta)  # (S,), (S, d)
    if grads is None:
        raise TypeError("string sampling trains beads by gradient descent: the energy must be differentiable")
    S = theta.shape[0]
    step = lr * h  # (S,) used by "normalized"
    m, v = torch.zeros_like(theta), torch.zeros_like(theta)  # Adam moments
    n_steps = torch.zeros(S, dtype=torch.long, device=theta.device)
    for k in range(1, max_steps + 1):
        active = values > target  # (S,)
        idx = active.nonzero().squeeze(1)
        if idx.numel() == 0:
            break
        g = grads[idx] if project is None else project(grads[idx], idx)  # (s, d)
        if optimizer == "normalized":
            d = step[idx, None] * g / torch.linalg.vector_norm(g, dim=1, keepdim=True).clamp_min(1e-300)
        elif optimizer == "sgd":
            d = lr * g
        else:
            m[idx] = 0.9 * m[idx] + 0.1 * g
            v[idx] = 0.999 * v[idx] + 0.001 * g * g
            d = lr * (m[idx] / (1 - 0.9 ** k)) / ((v[idx] / (1 - 0.999 ** k)).sqrt() + 1e-12)
            d = d if project is None else project(d, idx)
        cand = theta[idx] - d
        new_v, new_g = E.value_and_grad(cand)
        keep = new_v < values[idx] if optimizer == "normalized" else torch.ones_like(new_v, dtype=torch.bool)
        if optimizer == "normalized":
            step[idx] = torch.where(keep, (step[idx] * 1.2).minimum(h[idx]), step[idx] * 0.5)
        theta[idx] = torch.where(keep[:, None], cand, theta[idx])
        values[idx] = torch.where(keep, new_v, values[idx])
        grads[idx] = torch.where(keep[:, None], new_g, grads[idx])
        n_steps[idx] += 1
    return theta, values, n_steps


def _pull_back(E, theta, theta_m, normal, target, *, rounds=30, newton=3):
    """Phase 2 of the constrained bead: move feasible rows of ``theta (S, d)`` toward
    ``theta_m`` while keeping ``E <= target`` and staying on ``H`` (module docstring)."""

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
            cand = cand - (excess / (pg * pg).sum(1).clamp_min(1e-300))[:, None] * pg
        val = E(cand).detach()
        new_dist = torch.linalg.vector_norm(cand - theta_m, dim=1)
        ok = (val <= target) & (new_dist < dist)
        theta = torch.where(ok[:, None], cand, theta)
        dist = torch.where(ok, new_dist, dist)
        eta = torch.where(ok, (eta * 1.5).clamp_max(1.0), eta * 0.5)
    _, g = E.value_and_grad(theta)
    pg, r = P(g), theta_m - theta
    cos = (pg * r).sum(1) / (torch.linalg.vector_norm(pg, dim=1) * dist).clamp_min(1e-300)
    return theta, torch.where(dist > 0, cos, torch.ones_like(cos)), dist


def _make_beads(E, seg, profiles, target, *, method, bead, optimizer, lr, max_steps, noise, gen):
    """Beads for the segments ``seg`` (list of ``(theta_1, theta_2)``), trained together."""
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
        theta, values, n_steps = _descend(E, start, target, h=h, optimizer=optimizer, lr=lr,
                                          max_steps=max_steps)
        return theta, values, n_steps, [{} for _ in seg]
    proj = lambda g, idx: g - (g * normal[idx]).sum(1, keepdim=True) * normal[idx]
    at_mid = E(mid).detach() <= target  # the midpoint itself is feasible: it is the argmin
    start = torch.where(at_mid[:, None], mid, start)
    theta, values, n_steps = _descend(E, start, target, h=h, optimizer=optimizer, lr=lr,
                                      max_steps=max_steps, project=proj)
    feasible = values <= target  # a bead under the level but not the target stays where phase 1 left it
    cos = torch.full_like(values, float("nan"))
    if bool(feasible.any()):
        f = feasible.nonzero().squeeze(1)
        theta[f], cos[f], _ = _pull_back(E, theta[f], mid[f], normal[f], target)
        values[f] = E(theta[f]).detach()
    dist = torch.linalg.vector_norm(theta - mid, dim=1)
    extra = [{"distance": float(dist[i]), "kkt_cosine": float(cos[i])} for i in range(len(seg))]
    return theta, values, n_steps, extra


def _check_options(method, bead, optimizer, fraction, accept_tol, noise, max_depth, max_steps, lr):
    """Check the options of :func:`string_sampling`; returns the learning rate to use."""
    _choice("method", method, METHODS)
    _choice("bead", bead, BEADS)
    _choice("optimizer", optimizer, OPTIMIZERS)
    if method == "constrained" and bead != "midpoint":
        raise ValueError("bead='argmax' applies to method='greedy' only: the constrained bead "
                         "lies on the hyperplane through the midpoint")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
    if not accept_tol >= 0 or not noise >= 0:
        raise ValueError(f"accept_tol and noise must be >= 0, got {accept_tol} and {noise}")
    if int(max_depth) != max_depth or max_depth < 0 or int(max_steps) != max_steps or max_steps < 0:
        raise ValueError(f"max_depth and max_steps must be integers >= 0, got {max_depth} and {max_steps}")
    lr = {"normalized": 0.05, "sgd": 1e-3, "adam": 1e-2}[optimizer] if lr is None else float(lr)
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}")
    return lr


def string_sampling(energy, a, b, level, *, method: str = "greedy", bead: str = "midpoint",
                    fraction: float = 0.95, accept_tol: float = 1e-3, max_depth: int = 10,
                    lr: float | None = None, max_steps: int = 500, optimizer: str = "normalized",
                    noise: float = 1e-3, seed: int = 0, progress: bool = True,
                    profile_kwargs: dict | None = None) -> PathResult:
    """Join ``a`` and ``b`` inside ``{E <= level}`` by dynamic string sampling (module docstring).

    ``energy``: ``Tensor[B, d] -> Tensor[B]``, differentiable; ``a, b``: ``(d,)``, both in the
    sublevel set (else ``ValueError``). ``method`` in ``METHODS``; ``bead`` (greedy only):
    start at the ``"midpoint"`` or at the ``"argmax"`` of the segment's profile.
    ``fraction``: beads train until ``E <= level - (1 - fraction) * scale``; ``accept_tol``:
    a segment is accepted when its certified max is at most ``level + accept_tol * scale``
    (also the tolerance of ``connected``). ``max_depth``: rounds of bead insertion.
    ``optimizer`` in ``OPTIMIZERS`` with ``lr`` (default 0.05 for ``"normalized"``, where it is
    a fraction of the segment's length, 1e-3 for ``"sgd"``, 1e-2 for ``"adam"``) and
    ``max_steps`` steps per bead. ``noise``: each bead starts displaced by ``noise * h``
    (``h`` the segment's length) in a random direction drawn from ``seed`` (breaks symmetry at
    critical midpoints). ``profile_kwargs`` go to :func:`lecture_lib.paths.profile`.

    Returns a :class:`PathResult`; ``connected=False`` with a message naming the segments
    that failed and their maxima when a segment could not be accepted. ``info``: ``method``,
    ``target``, ``accept_level``, ``n_beads``, ``depth``, ``history`` (per round: segments
    tried, their maxima), ``beads`` (per bead: round, final energy, steps, the max of its
    segment, whether it was inserted; for the constrained method its distance to the
    midpoint and the KKT cosine), ``failures`` (final segment index, why).

    >>> bowl = lambda th: (th ** 2).sum(1)
    >>> r = string_sampling(bowl, torch.tensor([-1., 0.]), torch.tensor([1., 0.]), 1.5, progress=False)
    >>> r.connected, r.normalized_length
    (True, 1.0)
    """
    lr = _check_options(method, bead, optimizer, fraction, accept_tol, noise, max_depth, max_steps, lr)
    max_depth, max_steps = int(max_depth), int(max_steps)
    a, b = check_endpoints(a, b)
    if level is None:
        raise ValueError("string sampling needs a level: the sublevel set {E <= level} to stay in")
    E, e_ends, level = evaluate_endpoints(energy, a, b, level)
    e_a, e_b = float(e_ends[0]), float(e_ends[1])
    scale = energy_scale(e_a, e_b, level)
    target, accept = level - (1 - fraction) * scale, level + accept_tol * scale
    gen = torch.Generator(device=a.device).manual_seed(int(seed))
    pkw = dict(profile_kwargs or {})
    # status[k] of segment k (nodes k, k + 1): None to check, "ok", or why it failed
    nodes, status = [a, b], [None]
    history, beads, n_prof = [], [], 0
    depth = 0
    for depth in tqdm(range(max_depth + 1), desc="string sampling", disable=not progress):
        seg_idx = [k for k, s in enumerate(status) if s is None]
        if not seg_idx:
            break
        profs = [profile(E, Path(torch.stack(nodes[k:k + 2])), **pkw) for k in seg_idx]
        n_prof += sum(p.n_evaluations for p in profs)
        bad = [(k, p) for k, p in zip(seg_idx, profs) if not (p.certified and p.max_energy <= accept)]
        history.append({"depth": depth, "n_segments": len(seg_idx), "n_rejected": len(bad),
                        "max_energies": [p.max_energy for p in profs]})
        for k, p in zip(seg_idx, profs):
            status[k] = "ok" if p.certified and p.max_energy <= accept else (
                f"max {p.max_energy:.6g} > {accept:.6g} after max_depth={max_depth} rounds")
        if not bad or depth == max_depth:
            break
        theta, values, n_steps, extra = _make_beads(
            E, [(nodes[k], nodes[k + 1]) for k, _ in bad], [p for _, p in bad], target,
            method=method, bead=bead, optimizer=optimizer, lr=lr, max_steps=max_steps,
            noise=noise, gen=gen)
        new = []
        for i, (k, p) in reversed(list(enumerate(bad))):  # insert from the end: indices stay valid
            ok = bool(values[i] <= level)
            new.append({"depth": depth, "energy": float(values[i]), "steps": int(n_steps[i]),
                        "segment_max": p.max_energy, "inserted": ok, **extra[i]})
            if ok:
                nodes.insert(k + 1, theta[i].detach())
                status[k:k + 1] = [None, None]
            else:
                status[k] = (f"max {p.max_energy:.6g} > {accept:.6g} and no bead could be brought "
                             f"below the level (best {float(values[i]):.6g})")
        beads += new[::-1]
    failures = [(k, s) for k, s in enumerate(status) if s not in ("ok", None)]
    path = Path(torch.stack(nodes))
    result = make_result(E.energy, path, level=level, n_evaluations=E.n_evaluations + n_prof,
                         level_rtol=accept_tol, profile_kwargs=pkw, method=method, target=target,
                         accept_level=accept, n_beads=len(nodes) - 2, depth=depth,
                         history=history, beads=beads, failures=failures)
    return dataclasses.replace(result, message=_message(result, failures, method))


def _message(result: PathResult, failures, method) -> str:
    if result.connected:
        return (f"connected below level {result.level:.6g} by {method} string sampling with "
                f"{result.path.n_nodes - 2} beads; certified max {result.max_energy:.6g}")
    if not failures:
        return (f"not connected: the assembled path's certified max {result.max_energy:.6g} "
                f"exceeds the level {result.level:.6g}")
    parts = "; ".join(f"segment {k} of {result.path.n_nodes - 1}: {why}" for k, why in failures)
    return f"not connected below level {result.level:.6g} by {method} string sampling: {parts}"
