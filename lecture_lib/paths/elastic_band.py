"""Nudged elastic band (NEB), climbing image, and AutoNEB.

A band of images ``R_0 = a, R_1, ..., R_n, R_{n+1} = b`` relaxes to a minimum energy path
(MEP) under the *NEB force*: the true force perpendicular to the path plus a spring force
along it (Jonsson, Mills & Jacobsen 1998). With ``tau_i`` the unit tangent,

    F_i = -(grad E(R_i) - (grad E(R_i) . tau_i) tau_i) + F_i^s.

- ``method="improved"`` (Henkelman & Jonsson 2000, eqs. 8-12): the tangent points to the
  higher neighbour, ``tau_i = tau_i^+ = R_{i+1} - R_i`` if ``V_{i+1} > V_i > V_{i-1}``,
  ``tau_i^- = R_i - R_{i-1}`` if ``V_{i+1} < V_i < V_{i-1}``, and at an extremum the
  energy-weighted mix ``tau^+ dV_max + tau^- dV_min`` (if ``V_{i+1} > V_{i-1}``, else with
  the weights swapped), ``dV_max/min = max/min(|V_{i+1} - V_i|, |V_{i-1} - V_i|)``; springs
  ``F^s = k (|R_{i+1} - R_i| - |R_i - R_{i-1}|) tau_i``. This removes the kinks of the plain
  band where the energy changes fast along the path.
- ``method="plain"`` (Henkelman & Jonsson 2000, eqs. 2-3): bisecting tangent
  ``tau^+/|tau^+| + tau^-/|tau^-|``, springs ``k ((R_{i+1} - R_i) - (R_i - R_{i-1})) . tau tau``.
- ``respace=True`` replaces the springs by re-spacing the images at equal arc length after
  each step (Draxler et al. 2018, Sec. 3, as in the string method).
- Climbing image (Henkelman, Uberuaga & Jonsson 2000, eq. 5): the highest image feels no
  spring and the inverted parallel force, ``F_max = -grad E + 2 (grad E . tau) tau``, so it
  climbs to the saddle point along the band; switched on once the band has relaxed, and
  only while the highest image is above both ends (else there is no saddle to climb to).
- AutoNEB (Draxler et al. 2018, Alg. 1-2): start from few images (pivots); after each NEB
  run, evaluate the energy densely between consecutive pivots, and insert a pivot where it
  exceeds the chord between the pivots' energies the most; repeat.

As in ASE's ``neb.py`` the band's forces (:func:`neb_forces`) are separate from the
optimizer (FIRE, Bitzek et al. 2006; SGD; Adam), which only moves the interior images.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from .. import arguments as args
from . import pivots
from .polygon import Path, linear
from .results import PathResult, make_result
from .validate import CountedEnergy, check_endpoints, energy_scale, evaluate_endpoints, level_scale

METHODS = ("improved", "plain")
OPTIMIZERS = ("fire", "sgd", "adam")


def _choice(name, value, options):
    if value not in options:
        raise ValueError(f"unknown {name} {value!r}; choose one of {options}")


def _unit(v: Tensor) -> Tensor:  # rows to unit length; zero rows stay zero
    return v / torch.linalg.vector_norm(v, dim=-1, keepdim=True).clamp_min(torch.finfo(v.dtype).tiny)


@dataclass(frozen=True)
class BandForces:
    """The NEB forces on a band of ``K`` nodes: ``forces (K, d)`` (zero at the fixed ends),
    ``energies (K,)``, unit ``tangents (K, d)`` (zero at the ends), ``climbing`` (node index of
    the climbing image or None) and ``max_force`` (largest force norm among the interior images)."""

    forces: Tensor
    energies: Tensor
    tangents: Tensor
    climbing: int | None
    max_force: float


def tangents(nodes: Tensor, energies: Tensor, method: str = "improved") -> Tensor:
    """Unit tangents ``(K - 2, d)`` at the interior nodes of ``nodes (K, d)``, energies ``(K,)``."""
    _choice("method", method, METHODS)
    tp, tm = nodes[2:] - nodes[1:-1], nodes[1:-1] - nodes[:-2]  # tau^+, tau^- (n, d)
    # Every case is tau = c_p tau^+ + c_m tau^-: choose the (n, 1) coefficients, then make
    # one pass over the (n, d) band (several torch.where over (n, d) cost more than the
    # energy's own matmuls on a network's band).
    tiny = torch.finfo(nodes.dtype).tiny
    bp = 1 / torch.linalg.vector_norm(tp, dim=1, keepdim=True).clamp_min(tiny)  # bisection
    bm = 1 / torch.linalg.vector_norm(tm, dim=1, keepdim=True).clamp_min(tiny)
    if method == "plain":
        return _combine(tp, tm, bp, bm, bp, bm)
    vp, v0, vm = energies[2:, None], energies[1:-1, None], energies[:-2, None]  # (n, 1)
    dp, dm = (vp - v0).abs(), (vm - v0).abs()
    dmax, dmin = torch.maximum(dp, dm), torch.minimum(dp, dm)
    cp, cm = torch.where(vp > vm, dmax, dmin), torch.where(vp > vm, dmin, dmax)  # eqs. 10-11
    flat = dmax <= 0  # no energy to weight by: bisect
    cp, cm = torch.where(flat, bp, cp), torch.where(flat, bm, cm)
    up, down = (vp > v0) & (v0 > vm), (vp < v0) & (v0 < vm)  # eq. 8: the higher neighbour
    cp = torch.where(up, torch.ones_like(cp), torch.where(down, torch.zeros_like(cp), cp))
    cm = torch.where(up, torch.zeros_like(cm), torch.where(down, torch.ones_like(cm), cm))
    return _combine(tp, tm, cp, cm, bp, bm)


def _combine(tp, tm, cp, cm, bp, bm):
    """``unit(c_p tau^+ + c_m tau^-)``, zero where the two terms cancel to rounding (a band
    folding back on itself has no tangent); ``b = 1 / ||tau||`` of each side."""
    tau = cp * tp + cm * tm  # (n, d)
    norm = torch.linalg.vector_norm(tau, dim=1, keepdim=True)
    scale = cp.abs() / bp + cm.abs() / bm  # ||c_p tau^+|| + ||c_m tau^-||
    keep = norm > 64 * torch.finfo(tau.dtype).eps * scale
    return tau * (keep / norm.clamp_min(torch.finfo(tau.dtype).tiny))


def _band(E, nodes, e_ends, *, method, spring, climbing):
    """NEB forces with one batched evaluation of the interior images; ``e_ends (2,)``."""
    values, grads = E.value_and_grad(nodes[1:-1], needed_by="NEB (its forces are gradients)")  # (n,), (n, d)
    energies = torch.cat([e_ends[:1], values, e_ends[1:]])  # (K,)
    tau = tangents(nodes, energies, method)  # (n, d)
    g_par = (grads * tau).sum(1, keepdim=True)  # (n, 1)
    force = -(grads - g_par * tau)  # perpendicular true force
    if spring:
        tp, tm = nodes[2:] - nodes[1:-1], nodes[1:-1] - nodes[:-2]
        if method == "improved":  # eq. 12
            stretch = torch.linalg.vector_norm(tp, dim=1) - torch.linalg.vector_norm(tm, dim=1)
        else:  # eq. 3
            stretch = ((tp - tm) * tau).sum(1)
        force = force + spring * stretch[:, None] * tau
    top = None
    if climbing and bool(values.max() > e_ends.max()):  # climb only to an interior maximum
        top = int(values.argmax()) + 1  # node index
        force[top - 1] = -grads[top - 1] + 2 * g_par[top - 1] * tau[top - 1]  # eq. 5
    zero = nodes.new_zeros(1, nodes.shape[1])
    max_force = float(torch.linalg.vector_norm(force, dim=1).max())
    return BandForces(torch.cat([zero, force, zero]), energies, torch.cat([zero, tau, zero]), top, max_force)


def neb_forces(energy, nodes: Tensor, *, method: str = "improved", spring: float = 1.0,
               climbing: bool = False) -> BandForces:
    """The NEB forces (module docstring) on the band ``nodes (K, d)``, ends fixed.

    All nodes are evaluated in one batched call. ``spring=0`` gives the projected true force
    only (for a band re-spaced by the caller). Pure: ``nodes`` is not changed.

    >>> bowl = lambda th: (th ** 2).sum(1)
    >>> f = neb_forces(bowl, torch.tensor([[-1., 0.], [0., .5], [1., 0.]]))
    >>> f.forces[1].tolist()  # perpendicular pull back to the straight line
    [0.0, -1.0]
    """
    nodes = torch.as_tensor(nodes)
    if nodes.dim() != 2 or nodes.shape[0] < 3:
        raise ValueError(f"a band needs nodes of shape (K, d) with K >= 3, got {tuple(nodes.shape)}")
    E = CountedEnergy(energy)
    with torch.no_grad():
        e_ends = E(nodes[[0, -1]])
    return _band(E, nodes.detach(), e_ends, method=method, spring=float(spring), climbing=climbing)


class _Fire:
    """FIRE (Bitzek et al. 2006, PRL 97, 170201) on the whole band, as in ASE's ``fire.py``:
    MD with unit masses, velocity mixed towards the force while the power ``F.v`` is
    positive, reset and shorter time step when it is not; each image moves at most ``max_step``."""

    def __init__(self, x, dt, max_step, dt_max):
        self.v, self.dt, self.dtmax, self.a, self.n_pos = torch.zeros_like(x), dt, min(10 * dt, dt_max), 0.1, -1
        self.max_step = max_step

    def step(self, x, f):
        power = float((f * self.v).sum())
        if self.n_pos < 0:  # first step: start from rest, as ASE does
            self.n_pos = 0
        elif power > 0:
            fn = torch.linalg.vector_norm(f).clamp_min(torch.finfo(f.dtype).tiny)
            self.v = (1 - self.a) * self.v + self.a * f / fn * torch.linalg.vector_norm(self.v)
            if self.n_pos > 5:
                self.dt, self.a = min(self.dt * 1.1, self.dtmax), self.a * 0.99
            self.n_pos += 1
        else:
            self.v, self.a, self.dt, self.n_pos = torch.zeros_like(self.v), 0.1, self.dt * 0.5, 0
        self.v = self.v + self.dt * f
        return x + _cap(self.dt * self.v, self.max_step)


class _Sgd:
    def __init__(self, x, lr, max_step, dt_max):
        self.lr, self.max_step = lr, max_step

    def step(self, x, f):
        return x + _cap(self.lr * f, self.max_step)


class _Adam:
    def __init__(self, x, lr, max_step, dt_max):
        self.p = x.clone().requires_grad_(True)
        self.opt = torch.optim.Adam([self.p], lr=lr)

    def step(self, x, f):
        with torch.no_grad():
            self.p.copy_(x)
        self.p.grad = -f
        self.opt.step()
        return self.p.detach().clone()


def _cap(dx, max_step):  # each image's displacement at most max_step
    n = torch.linalg.vector_norm(dx, dim=1, keepdim=True)
    return dx * (max_step / n.clamp_min(max_step))


def _held(bf, fixed):
    """The band forces with the pivots ``fixed`` (node indices) held: no force on them."""
    if not fixed:
        return bf
    forces = bf.forces.clone()
    forces[fixed] = 0
    top = None if bf.climbing in fixed else bf.climbing
    return dataclasses.replace(bf, forces=forces, climbing=top,
                               max_force=float(torch.linalg.vector_norm(forces, dim=1).max()))


def _relax(E, nodes, e_ends, *, climbing, opts, desc, fixed=()):
    """Move the interior images of ``nodes (K, d)`` until the max NEB force is below
    tolerance; the nodes ``fixed`` (indices, pivots) do not move."""
    o, fixed = opts, [i for i in fixed if 0 < i < nodes.shape[0] - 1]
    make = {"fire": _Fire, "sgd": _Sgd, "adam": _Adam}[o["optimizer"]]
    opt = make(nodes[1:-1], o["lr"], o["max_step"], o["dt_max"])
    spring = 0.0 if o["respace"] else o["spring"]
    prev, converged, climb_from, bf = math.inf, False, None, None
    bar = tqdm(range(o["max_iter"]), desc=desc, disable=not o["progress"], leave=False)
    for it in bar:
        climb = climbing and (it >= o["climb_after"] or prev < 10 * o["force_tol"])
        climb_from = it if climb and climb_from is None else climb_from
        bf = _held(_band(E, nodes, e_ends, method=o["method"], spring=spring, climbing=climb), fixed)
        prev = bf.max_force
        if bf.max_force < o["force_tol"] and climb == climbing:
            converged = True
            break
        x = opt.step(nodes[1:-1], bf.forces[1:-1])  # (n, d)
        nodes = torch.cat([nodes[:1], x, nodes[-1:]])
        if o["respace"]:  # equal arc length between the fixed nodes, each side of a climbing image
            keep = sorted({0, *fixed, len(nodes) - 1} | ({bf.climbing} if bf.climbing is not None else set()))
            nodes = pivots.respace(nodes, keep, keep_counts=True)[0]
    else:
        it = o["max_iter"]
        bf = _held(_band(E, nodes, e_ends, method=o["method"], spring=spring, climbing=climbing), fixed)
    bar.close()
    return nodes, bf, it, converged, climb_from


def _insert_pivots(E, nodes, energies, *, n_dense, max_insert, rtol, floor):
    """AutoNEB insertion (Draxler et al. 2018, Alg. 2): dense energies on every segment, one
    batched call; a new pivot at the highest excess over the chord of each of the (at most
    ``max_insert``) segments where that excess tops ``rtol`` times the spread of the energies
    along the band (at least ``rtol * floor``). Returns the new nodes (or None) and a log."""
    s = torch.arange(1, n_dense + 1, dtype=nodes.dtype, device=nodes.device) / (n_dense + 1)  # (m,)
    pts = (1 - s[None, :, None]) * nodes[:-1, None] + s[None, :, None] * nodes[1:, None]  # (K-1, m, d)
    with torch.no_grad():
        dense = E(pts.reshape(-1, nodes.shape[1])).reshape(len(nodes) - 1, n_dense)  # (K-1, m)
    chord = (1 - s) * energies[:-1, None] + s * energies[1:, None]  # (K-1, m)
    excess, j = (dense - chord).max(1)  # (K-1,)
    spread = float(torch.maximum(dense.max(), energies.max()) - torch.minimum(dense.min(), energies.min()))
    threshold = rtol * max(spread, floor)
    order = torch.argsort(excess, descending=True)[:max_insert]
    order = order[excess[order] > threshold]
    if len(order) == 0:
        return None, {"segments": [], "excess": [], "inserted": nodes.new_zeros(0, nodes.shape[1])}
    order = torch.sort(order).values
    new = pts[order, j[order]]  # (r, d)
    parts, start = [], 0
    for k, p in zip(order.tolist(), new):
        parts += [nodes[start:k + 1], p[None]]
        start = k + 1
    parts.append(nodes[start:])
    return torch.cat(parts), {"segments": order.tolist(), "excess": excess[order].tolist(), "inserted": new}


def _initial_band(a, b, n_images, init, jitter, seed):
    K = n_images + 2
    if init is None:
        nodes = linear(a, b, K).nodes
    else:
        path = init if isinstance(init, Path) else Path(torch.as_tensor(init))
        if path.dim != a.numel() or not (torch.allclose(path.nodes[0], a) and torch.allclose(path.nodes[-1], b)):
            raise ValueError("init must be a path of the same dimension from a to b")
        nodes = path.to(a.device, a.dtype).resample(K).nodes
        nodes[0], nodes[-1] = a, b
    if jitter > 0:
        g = torch.Generator(device=a.device)
        g.manual_seed(0 if seed is None else int(seed))
        h = float(torch.linalg.vector_norm(b - a)) / (K - 1)
        noise = torch.randn(K - 2, a.numel(), generator=g, dtype=a.dtype, device=a.device)
        nodes[1:-1] += jitter * h * noise / math.sqrt(a.numel())
    return nodes


def _energy_unit(E, nodes, e_ends) -> float:
    """The unit the band works in: the spread of the energies of the ends and the initial
    band (their largest absolute value if they coincide, 1 if all are 0). NEB relaxes
    ``E / unit``, whose values and forces are of order 1, so the defaults are scale-free (the
    same band for ``E`` and ``1e-10 E``) and squares of float32 forces cannot overflow."""
    with torch.no_grad():
        band = E(nodes[1:-1]).double()
    values = torch.cat([e_ends.double(), band])
    gap = float(values.max() - values.min())
    big = float(values.abs().max())
    return gap if gap > 0 else (big if big > 0 else 1.0)


def _options(E, nodes, e_ends, given):
    """The settings, with the defaults derived from the band ``nodes`` (see :func:`neb`);
    ``E`` is the energy in the band's unit (:func:`_energy_unit`)."""
    o = dict(given)
    band = _band(E, nodes, e_ends, method=o["method"], spring=0.0, climbing=False)
    e_a, e_b = float(e_ends[0]), float(e_ends[1])
    n, L = nodes.shape[0] - 2, float(torch.linalg.vector_norm(nodes[-1] - nodes[0]))
    h = L / (n + 1)
    # The scale of energies: the gap among the ends and the band's maximum, never below
    # 1e-3 max(1, |E(a)|, |E(b)|) (ends of equal energy on a flat start need one too); in the
    # band's unit it is about 1.
    s = max(energy_scale(e_a, e_b, float(band.energies.max())), 1e-3 * max(1.0, abs(e_a), abs(e_b)))
    f0 = max(band.max_force, 1e-3 * s / L)
    # Relative to the problem, and never below what rounding allows: sqrt(eps) times the
    # problem's gradient scale (the initial forces, the ends' gradients across the chord:
    # trained networks are not exact minima), 3e-4 of it in float32.
    _, g_ends = E.value_and_grad(nodes[[0, -1]], needed_by="NEB")
    chord = (nodes[-1] - nodes[0]) / L
    g_perp = g_ends - (g_ends @ chord)[:, None] * chord  # the part NEB would relax at an image
    g_end = float(torch.linalg.vector_norm(g_perp, dim=1).max())
    eps = torch.finfo(nodes.dtype).eps
    tol = max(1e-3 * s / L, math.sqrt(eps) * max(f0, g_end))
    k = o["spring"] if o["spring"] is not None else s * (n + 1) / L ** 2
    k_eff = 0.0 if o["respace"] else k
    # Explicit steps are stable on springs of stiffness k when 4 k dt^2 < 2 (FIRE, ``dt^2``
    # per unit force) or 4 k lr < 2 (SGD): the largest eigenvalue of the band's spring
    # Laplacian is 4 k. The automatic steps stay below half of that.
    dt_max = math.inf if k_eff == 0 else 0.5 / math.sqrt(k_eff)
    auto = {"fire": min(math.sqrt(0.1 * h / f0), dt_max / 10), "sgd": min(0.1 * h / f0, dt_max ** 2),
            "adam": 0.01 * h}[o["optimizer"]]
    o.update(scale=s, spring=float(k), lr=float(o["lr"] or auto), max_step=float(o["max_step"] or h / 4),
             force_tol=float(o["force_tol"] or tol), end_force=g_end, dt_max=dt_max)
    return o


# How each setting converts from the caller's units to the band's (energy divided by ``unit``).
_TO_BAND = {"spring": lambda v, u, opt: v / u, "force_tol": lambda v, u, opt: v / u,
            "end_force": lambda v, u, opt: v / u, "scale": lambda v, u, opt: v / u,
            "dt_max": lambda v, u, opt: v * math.sqrt(u),
            "lr": lambda v, u, opt: v * math.sqrt(u) if opt == "fire" else (v * u if opt == "sgd" else v)}


def _convert(o, unit, back=False):
    """The settings ``o`` converted to the band's unit (or ``back`` to the caller's)."""
    out = dict(o)
    for key, f in _TO_BAND.items():
        if out.get(key) is not None and math.isfinite(out[key]):
            out[key] = f(out[key], 1 / unit if back else unit, o["optimizer"])
    return out


def neb(energy, a: Tensor, b: Tensor, *, n_images: int = 15, method: str = "improved",
        spring: float | None = None, respace: bool = False, climbing: bool = True,
        climb_after: int | None = None, optimizer: str = "fire", lr: float | None = None,
        max_step: float | None = None, max_iter: int = 2000, force_tol: float | None = None,
        autoneb: bool = False, autoneb_rounds: int = 4, autoneb_insert: int = 4,
        autoneb_dense: int = 7, autoneb_tol: float = 1e-2, init=None, jitter: float = 0.0,
        level: float | None = None, pivot_rounds: int = 8, progress: bool = True,
        seed: int | None = None) -> PathResult:
    """A minimum energy path from ``a`` to ``b`` by the nudged elastic band (module docstring).

    ``n_images`` movable images between the fixed ends (the band has ``n_images + 2`` nodes),
    started on the segment (or on ``init``, a :class:`Path` from ``a`` to ``b``, resampled),
    optionally jittered by ``jitter`` times the spacing (``seed``). Scales are set from the
    problem so the defaults work for any energy and are scale-free: the band relaxes
    ``E / unit`` (``unit`` the spread of the energies of the ends and the initial band), so
    ``E`` and ``1e-10 E`` give the same band and float32 energies of order 1e30 cannot
    overflow the squared forces; the reported energies, forces and settings are in the
    caller's units. With ``L`` the end-to-end distance,
    ``h = L / (n_images + 1)``, ``s`` the largest gap among ``E(a), E(b)`` and the initial
    band's highest energy (at least ``1e-3 max(1, |E(a)|, |E(b)|)``) and ``F_0`` the largest
    initial force, ``spring = s (n_images + 1) / L^2``, ``force_tol = max(1e-3 s / L, sqrt(eps) G)``
    (``G`` the larger of ``F_0`` and the ends' gradients across the chord, ``eps`` of the
    dtype: a float32 network cannot be relaxed below rounding), the
    per-image step at most ``max_step = h / 4``; ``lr`` is FIRE's initial time step
    (``sqrt(0.1 h / F_0)``), SGD's rate (``0.1 h / F_0``) or Adam's (``0.01 h``), the first
    two capped so explicit steps stay stable on the springs (``4 k dt^2 <= 1``). AutoNEB
    re-derives these from the band it found before the last relaxation. FIRE is the
    default because it converges fastest here; Adam at a fixed rate finds the saddle but
    keeps jittering at a force set by its rate (on Mueller-Brown about 1.5 ``force_tol``),
    and the plain tangent can kink with many images (the reason for the improved one).
    Climbing starts after ``climb_after`` iterations (default ``max_iter // 10``) or once the
    max force is below ``10 force_tol``. Converged when the max force norm over the images
    is below ``force_tol`` (with the climbing image on, if ``climbing``).

    With a ``level``: while the relaxed band's profile exceeds it, up to ``pivot_rounds``
    times, the band's highest point is descended freely under the level (to
    ``level - 0.05 (level - min(0, E(a), E(b)))``, a bead of string sampling), held fixed as a
    pivot in place of the nearest image, and the band is relaxed again
    (:mod:`lecture_lib.paths.pivots`); ``pivot_rounds=0`` gives plain NEB.

    AutoNEB (``autoneb=True``): up to ``autoneb_rounds`` rounds of relaxing the band and
    inserting up to ``autoneb_insert`` pivots where the energy at ``autoneb_dense`` points
    per segment exceeds the chord by more than ``autoneb_tol`` times the spread of the energies
    along the band; then the last relaxation
    with the climbing image. ``n_images`` is then the number of starting pivots.

    Returns a :class:`PathResult` (the band profiled: its maximum an estimate, no Lipschitz
    bound being given); ``info``: iterations, converged, max_force, climbing (index of the
    climbing node in ``path.nodes``), saddle and saddle_energy (its position and energy),
    energies of the nodes, the settings used, and ``autoneb`` (per round: segments, excess,
    inserted points), ``pivots`` (node indices of the held pivots), ``pivot_rounds`` (per round:
    the maximum it started from, the pivot's energy, why its descent stopped) and
    ``pivot_stop``.

    >>> from lecture_lib.surfaces import get
    >>> mb = get("muller_brown")
    >>> A, B = (torch.tensor(p, dtype=torch.float64) for p, _ in mb.minima[:2])
    >>> r = neb(mb.energy, A, B, progress=False)
    >>> round(r.info["saddle_energy"], 2)
    -40.66
    """
    args.choice("method", method, METHODS)
    args.choice("optimizer", optimizer, OPTIMIZERS)
    a, b = check_endpoints(a, b)
    n_images, max_iter = args.positive_int("n_images", n_images), args.positive_int("max_iter", max_iter)
    autoneb_rounds = args.nonnegative_int("autoneb_rounds", autoneb_rounds)
    autoneb_insert = args.positive_int("autoneb_insert", autoneb_insert)
    autoneb_dense = args.positive_int("autoneb_dense", autoneb_dense)
    autoneb_tol = args.nonnegative_float("autoneb_tol", autoneb_tol)
    pivot_rounds = args.nonnegative_int("pivot_rounds", pivot_rounds)
    jitter, seed = args.nonnegative_float("jitter", jitter), args.seed("seed", seed)
    climb_after = max_iter // 10 if climb_after is None else args.nonnegative_int("climb_after", climb_after)
    spring, lr, max_step, force_tol = (None if v is None else args.positive_float(name, v) for name, v in
                                       (("spring", spring), ("lr", lr), ("max_step", max_step),
                                        ("force_tol", force_tol)))
    E0, e_ends0, level = evaluate_endpoints(energy, a, b, level)
    nodes = _initial_band(a, b, n_images, init, jitter, seed)
    unit = _energy_unit(E0, nodes, e_ends0)
    E = CountedEnergy(lambda theta: E0(theta) / unit)  # the band's energy, of order 1
    e_ends = e_ends0 / unit
    given = dict(method=method, optimizer=optimizer, respace=bool(respace), progress=progress,
                 spring=spring, lr=lr, max_step=max_step, max_iter=max_iter, force_tol=force_tol,
                 climb_after=climb_after)
    given = _convert(given, unit)
    opts = _options(E, nodes, e_ends, given)
    rounds, iterations = [], 0
    if autoneb:
        for r in range(autoneb_rounds):
            nodes, bf, it, _, _ = _relax(E, nodes, e_ends, climbing=False, opts=opts, desc=f"AutoNEB round {r + 1}")
            iterations += it
            new, log = _insert_pivots(E, nodes, bf.energies, n_dense=autoneb_dense,
                                      max_insert=autoneb_insert, rtol=autoneb_tol, floor=opts["scale"])
            rounds.append(log)
            if new is None:
                break
            nodes = new
        opts = _options(E, nodes, e_ends, given)  # scales of the band AutoNEB found
    nodes, bf, it, converged, climb_from = _relax(E, nodes, e_ends, climbing=climbing, opts=opts, desc="NEB")
    iterations += it
    held, pivot_log, pivot_stop = [], [], None
    if level is not None and pivot_rounds:
        scale = level_scale(level, float(e_ends0[0]), float(e_ends0[1]), 0.0)
        gen = torch.Generator(device=a.device)
        gen.manual_seed(0 if seed is None else seed)
        relax = lambda nd, fx: _relax(E, nd, e_ends, climbing=climbing, opts=opts, desc="NEB with pivots", fixed=fx)
        nodes, bf, held, pivot_log, it, conv, pivot_stop = pivots.through_pivots(
            E, nodes, bf, level / unit, (level - 0.05 * scale) / unit, relax, rounds=pivot_rounds, generator=gen)
        iterations += it
        converged = converged if conv is None else conv
        held = held[1:-1]
        for entry in pivot_log:
            entry.update(start=entry["from"] * unit, pivot_energy=entry["pivot_energy"] * unit)
            del entry["from"]
    top = bf.climbing
    settings = dict(_convert(opts, unit, back=True), energy_unit=unit)
    max_force, energies = bf.max_force * unit, (bf.energies * unit).detach()
    state = "converged" if converged else "not converged"
    message = (f"NEB {state}: max force {max_force:.3g} {'<' if converged else '>='} force_tol "
               f"{settings['force_tol']:.3g} after {iterations} iterations ({n_images} -> {len(nodes) - 2} images"
               f"{', climbing image at node %d' % top if top is not None else ''}"
               f"{'; %d pivots held under the level' % len(held) if held else ''})")
    res = make_result(energy, Path(nodes), level=level, n_evaluations=E0.n_evaluations, message=message,
                      success=converged, iterations=iterations, converged=converged,
                      max_force=max_force, climbing=top, climbing_from=climb_from,
                      saddle=None if top is None else nodes[top].clone(),
                      saddle_energy=None if top is None else float(energies[top]),
                      energies=energies, autoneb=rounds, settings=settings, pivots=held,
                      pivot_rounds=pivot_log, pivot_stop=pivot_stop)
    if level is not None:
        below = bool(res.connected)
        how = "a bound" if getattr(res, "certified", False) else "an estimate"
        message += (f"; the band's max energy {res.max_energy:.6g} ({how}) is "
                    + (f"below the level {level:.6g}" if below and res.max_energy <= level else
                       f"within the tolerance of the level {level:.6g} (not strictly below it)" if below else
                       f"above the level {level:.6g}: no path found below it ({_why(pivot_stop, pivot_log)}; "
                       f"the band is a minimum energy path only locally: this does not show that none exists)"))
        res = dataclasses.replace(res, success=converged and below, message=message)
    return res


def _why(stop, log) -> str:
    """Why the pivot rounds of a band that stays above its level ended, in words."""
    if stop is None:
        return "pivot_rounds=0: plain NEB"
    if stop == "stalled pivot":
        e = log[-1]
        return (f"the descent of pivot {len(log)} from {e['start']:.6g} stopped ({e['stopped']}) at "
                f"{e['pivot_energy']:.6g}, above the level")
    if stop == "no free image":
        return f"every image is a pivot after {len(log)} rounds; more n_images would allow more"
    return f"{len(log)} pivots held, the budget pivot_rounds"
