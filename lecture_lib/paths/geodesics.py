"""Shortest paths inside a sublevel set ``Omega_u = {E <= u}`` (level-set geodesics).

The geodesic distance between ``a`` and ``b`` in ``Omega_u`` is the infimum of the lengths
of the paths joining them inside it; the ratio of the shortest path's length to
``||a - b||`` measures how far the level set forces a path to bend (Freeman & Bruna 2017,
Sec. 4, the "normalized geodesic length"). :func:`geodesic` shortens a connecting polygon
``theta_0 = a, ..., theta_{K-1} = b`` while keeping it inside ``Omega_u``, by a projected
Gauss-Seidel relaxation of the elastic band with only springs (the string is pulled
taut):

1. *Move*: half of the interior nodes at a time (odd, then even indices, so the
   neighbours of a moving node stay put) step towards the midpoint of their neighbours,
   ``c_k = theta_k + alpha_k ((theta_{k-1} + theta_{k+1}) / 2 - theta_k)``: the direction
   of steepest descent of the spring energy ``1/2 sum_k ||theta_{k+1} - theta_k||^2``,
   whose minimisers at fixed ``K`` are shortest paths at constant speed (Cauchy-Schwarz:
   ``sum ||Delta_k||^2 >= L^2 / (K - 1)``).
2. *Project*: a candidate above ``u - margin`` takes Newton steps on ``E``,
   ``c -= (E(c) - u + margin) grad E / |grad E|^2``, so a node blocked by the level set
   slides along it (computed as ``(excess / |g|) (g / |g|)``, no step where ``g = 0``, so
   float32 neither underflows ``|g|^2`` nor divides 0 by 0).
3. *Accept per node*: ``c_k`` replaces ``theta_k`` only if it does not lengthen
   ``||theta_{k-1} - theta_k|| + ||theta_k - theta_{k+1}||`` and both chords, sampled at
   ``chord_points`` points each, stay at or below ``u - margin``; ``alpha_k`` then grows by
   1.5 (over-relaxation up to 1.9), else it halves (down to 1/64). All candidates of a half
   sweep go to the energy in one batched call per Newton step and one for the chords.
   Spacing needs no separate step: the spring energy keeps free nodes equally spaced.
4. *Check*: every ``check_every`` sweeps the whole path's profile is refined
   (:func:`lecture_lib.paths.profile`, with ``profile_kwargs``); if its maximum exceeds
   ``u`` (beyond ``1e-3 * scale``), the sweeps since the last accepted path are undone and
   the chord margin doubles. The maximum is a bound only when ``profile_kwargs`` gives a
   Lipschitz constant (then ``certified=True``); otherwise it is an estimate.

It stops when a sweep shortens the path by less than ``rtol`` of its length ``patience``
times in a row. The result is a locally shortest path in the homotopy class of the start.
"""

from __future__ import annotations

import dataclasses

import torch
from tqdm.auto import tqdm

from .. import arguments as arg
from .certify import profile
from .polygon import Path
from .results import PathResult, make_result
from .validate import check_endpoints, energy_scale, evaluate_endpoints

_NEEDS_GRAD = "geodesic (its projection onto the sublevel set takes Newton steps on E)"


def _initial_path(init, a, b) -> Path:
    """The caller's connecting path (a Path, nodes, or a PathResult), checked against the endpoints."""
    if isinstance(init, PathResult):
        init = init.path
    if isinstance(init, torch.Tensor):
        init = Path(init)
    if not isinstance(init, Path):
        raise TypeError(f"init must be a Path, nodes Tensor[K, d] or a PathResult, got {type(init).__name__}")
    if init.dim != a.numel() or init.nodes.dtype != a.dtype or init.nodes.device != a.device:
        raise ValueError(f"init has nodes of dimension {init.dim} ({init.nodes.dtype} on "
                         f"{init.nodes.device}); the endpoints have {a.numel()} ({a.dtype} on {a.device})")
    tol = 1e-6 * (1 + float(torch.linalg.vector_norm(b - a)))
    for name, node, end in (("first", init.nodes[0], a), ("last", init.nodes[-1], b)):
        if float(torch.linalg.vector_norm(node - end)) > tol:
            raise ValueError(f"the {name} node of init is not the endpoint {'a' if name == 'first' else 'b'}")
    return init


def _refine(path: Path, n_nodes: int) -> Path:
    """At least ``n_nodes`` nodes on the same polygon: its own nodes plus equally spaced points."""
    extra = max(n_nodes - path.n_nodes + 2, 2)
    t = torch.linspace(0, 1, extra, dtype=path.nodes.dtype, device=path.nodes.device)
    return Path(path.at(torch.unique(torch.cat([path.arc(), t]))))


def _project(E, c, node_level: float, n_steps: int):
    """Newton steps bringing the rows of ``c (n, d)`` down to ``E <= node_level``."""
    for _ in range(n_steps):
        values, grads = _value_and_grad(E, c)  # (n,), (n, d): one batched call
        excess = (values - node_level).clamp_min(0)
        norm = torch.linalg.vector_norm(grads, dim=1, keepdim=True)  # (n, 1)
        step = arg.divide_or_zero(excess[:, None], norm) * arg.divide_or_zero(grads, norm)
        c = c - torch.nan_to_num(step, nan=0.0, posinf=0.0, neginf=0.0)  # no finite step: stay
    return c


def _value_and_grad(E, x):
    """Energies and gradients, or a ``TypeError`` saying that geodesic needs gradients."""
    values, grads = E.value_and_grad(x, needed_by=_NEEDS_GRAD)
    if grads is None:  # in case the energy wrapper returns no gradient instead of raising
        raise TypeError(f"{_NEEDS_GRAD} needs gradients, but the energy is not differentiable")
    return values, grads


def _half_sweep(E, X, alpha, idx, limit: float, s, n_newton: int):
    """Move the nodes ``idx`` of ``X (K, d)`` (module docstring, steps 1-3), in place."""
    left, x, right = X[idx - 1], X[idx], X[idx + 1]  # (n, d) each
    c = x + alpha[idx, None] * ((left + right) / 2 - x)
    c = _project(E, c, limit, n_newton)
    norm = torch.linalg.vector_norm
    old = norm(x - left, dim=1) + norm(right - x, dim=1)
    new = norm(c - left, dim=1) + norm(right - c, dim=1)
    s = s[None, :, None]  # (1, m, 1) fractions in (0, 1]
    pts = torch.cat([left[:, None] + s * (c - left)[:, None], c[:, None] + s * (right - c)[:, None]], 1)
    with torch.no_grad():
        worst = E(pts.reshape(-1, X.shape[1])).reshape(len(idx), -1).amax(1)  # (n,)
    ok = (new <= old) & (worst <= limit)
    X[idx] = torch.where(ok[:, None], c, x)
    alpha[idx] = torch.where(ok, (alpha[idx] * 1.5).clamp_max(1.9), (alpha[idx] * 0.5).clamp_min(1 / 64))


def _relax(E, X, certify, level, margin, *, lr, steps, rtol, patience, chord_points,
           projection_steps, check_every, progress):
    """Sweeps of :func:`_half_sweep` with certification and roll-back (module docstring).

    Returns the last certified nodes, the length history, the number of sweeps and of
    roll-backs, and the final margin."""
    K = X.shape[0]
    alpha = torch.full((K,), lr, dtype=X.dtype, device=X.device)  # per-node relaxation factors
    s = torch.linspace(0, 1, chord_points + 1, dtype=X.dtype, device=X.device)[1:]
    odd, even = torch.arange(1, K - 1, 2, device=X.device), torch.arange(2, K - 1, 2, device=X.device)
    saved, length, n_rollbacks = X.clone(), Path(X).length(), 0
    history, calm, it = [length], 0, 0
    for it in tqdm(range(1, steps + 1), desc="geodesic", disable=not progress):
        for idx in (odd, even):
            if len(idx):
                _half_sweep(E, X, alpha, idx, level - margin, s, projection_steps)
        new_length = Path(X).length()
        calm = calm + 1 if length - new_length <= rtol * length else 0
        length = new_length
        history.append(length)
        if it % check_every == 0 or calm >= patience or it == steps:
            if not certify(X)[0]:  # a chord crossed the level between its samples: undo, be careful
                X, margin, n_rollbacks, calm = saved.clone(), 2 * margin, n_rollbacks + 1, 0
                length = Path(X).length()
                alpha.fill_(lr)
                continue
            saved = X.clone()
        if calm >= patience:
            break
    return saved, history, it, n_rollbacks, margin


def _check_options(n_nodes, steps, patience, chord_points, projection_steps, check_every, lr,
                   rtol, seed):
    """The options of :func:`geodesic`, converted (numpy and 0-d tensors accepted)."""
    return dict(n_nodes=arg.integer("n_nodes", n_nodes, low=3),
                steps=arg.nonnegative_int("steps", steps),
                patience=arg.positive_int("patience", patience),
                chord_points=arg.positive_int("chord_points", chord_points),
                projection_steps=arg.nonnegative_int("projection_steps", projection_steps),
                check_every=arg.positive_int("check_every", check_every),
                lr=arg.real("lr", lr, low=0.0, high=1.9, low_open=True),
                rtol=arg.nonnegative_float("rtol", rtol), seed=arg.seed("seed", seed))


def geodesic(energy, a, b, level, *, init=None, n_nodes: int = 33, steps: int = 500,
             lr: float = 1.0, rtol: float = 1e-5, patience: int = 5, chord_points: int = 8,
             projection_steps: int = 3, check_every: int = 25, seed: int = 0,
             progress: bool = True, string_kwargs: dict | None = None,
             profile_kwargs: dict | None = None) -> PathResult:
    """The shortest path from ``a`` to ``b`` found inside ``{E <= level}`` (module docstring).

    ``energy``: ``Tensor[B, d] -> Tensor[B]``, differentiable; ``a, b``: ``(d,)`` in the
    sublevel set (else ``ValueError``). ``init``: a connecting :class:`Path` (or nodes
    ``(K, d)``, or a :class:`PathResult`) from ``a`` to ``b``, e.g. from
    :func:`string_sampling` or :func:`neb`; by
    default :func:`string_sampling` (with ``seed`` and ``string_kwargs``) finds one.
    ``n_nodes``: nodes of the shortened path (at least those of ``init``, which are kept and
    completed by equally spaced points). ``steps``: sweeps at most; ``lr``: the initial
    relaxation factor ``alpha``; ``rtol``, ``patience``: stopping rule; ``chord_points``,
    ``projection_steps``, ``check_every``: steps 2-4 of the module docstring.
    ``profile_kwargs`` go to the final :func:`lecture_lib.paths.profile`.

    Returns a :class:`PathResult`; ``info``: ``initial_length``, ``history`` (length after
    each sweep), ``n_steps`` (sweeps), ``n_rollbacks``, ``margin``. If no connecting path is
    found or given, ``connected=False`` and the message says why.

    >>> bowl = lambda th: (th ** 2).sum(1)
    >>> bent = Path(torch.tensor([[-1., 0.], [0., 0.5], [1., 0.]]))
    >>> r = geodesic(bowl, bent.nodes[0], bent.nodes[-1], 1.5, init=bent, progress=False)
    >>> round(r.normalized_length, 4)
    1.0
    """
    o = _check_options(n_nodes, steps, patience, chord_points, projection_steps, check_every, lr,
                       rtol, seed)
    a, b = check_endpoints(a, b)
    if level is None:
        raise ValueError("geodesic needs a level: the sublevel set {E <= level} to stay in")
    level = arg.real("level", level)
    E, e_ends, level = evaluate_endpoints(energy, a, b, level)
    _value_and_grad(E, torch.stack([a, b]))  # fail now, clearly, if there is no gradient
    e_a, e_b = float(e_ends[0]), float(e_ends[1])
    level_tol = 1e-3 * energy_scale(e_a, e_b, level)  # the tolerance of PathResult.connected
    n_extra = 0
    if init is None:
        from .strings import string_sampling

        found = string_sampling(E.energy, a, b, level, seed=o["seed"], progress=False,
                                **(string_kwargs or {}))
        n_extra = found.n_evaluations
        if not found.connected:
            return dataclasses.replace(found, message="no geodesic: string sampling found no path "
                                       f"below the level ({found.message})",
                                       info={"initial_length": found.length, "history": [], "init": found})
        path = found.path
    else:
        path = _initial_path(init, a, b)

    pkw = {k: v for k, v in (profile_kwargs or {}).items() if k == "lipschitz"}

    def certify(X):  # is the profile max of the path through X at most level + level_tol?
        nonlocal n_extra
        prof = profile(E, Path(X), n_points=2, atol=level_tol / 2, **pkw)  # bound <= max + level_tol / 2
        n_extra += prof.n_evaluations
        return prof.converged and prof.max_energy <= level + level_tol / 2, prof

    X = _refine(path, o["n_nodes"]).nodes.clone()  # (K, d)
    ok, prof = certify(X)
    if not ok:
        kind = "certified" if prof.certified else "estimated"
        return make_result(E.energy, Path(X), level=level, n_evaluations=E.n_evaluations + n_extra,
                           success=False, initial_length=path.length(), history=[],
                           profile_kwargs=profile_kwargs,
                           message=f"no geodesic: the initial path leaves the sublevel set "
                                   f"({kind} max {prof.max_energy:.6g} > level {level:.6g})")
    X, history, it, n_rollbacks, margin = _relax(
        E, X, certify, level, 0.25 * level_tol, lr=o["lr"], steps=o["steps"], rtol=o["rtol"],
        patience=o["patience"], chord_points=o["chord_points"],
        projection_steps=o["projection_steps"], check_every=o["check_every"], progress=progress)
    msg = (f"geodesic inside level {level:.6g}: length {Path(X).length():.6g} from {history[0]:.6g} "
           f"after {it} sweeps ({n_rollbacks} rolled back)")
    res = make_result(E.energy, Path(X), level=level, n_evaluations=E.n_evaluations + n_extra,
                      message=msg, profile_kwargs=profile_kwargs, initial_length=history[0],
                      history=history, n_steps=it, n_rollbacks=n_rollbacks, margin=margin)
    kind = "a bound" if res.certified else "an estimate (profile_kwargs={'lipschitz': L} gives a bound)"
    return dataclasses.replace(res, message=f"{msg}; its profile max {res.max_energy:.6g} is {kind}")
