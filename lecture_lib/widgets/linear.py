"""Widget of chapter 2: the smallest deep linear networks and their sublevel sets.

Depth 2 is the whole landscape ``E(w_1, w_2) = (w_1 w_2 - 1)^2 + lambda (w_1^2 + w_2^2)``.
Depth 3, ``(w_1 w_2 w_3 - 1)^2 + lambda (w_1^2 + w_2^2 + w_3^2)``, is shown on the plane
``w_1 = w_2 = x, w_3 = y``: ``E(x, y) = (x^2 y - 1)^2 + lambda (2 x^2 + y^2)``. That plane
holds the origin and two of the four sign families of balanced minima (``(t, t, t)`` and
``(-t, -t, t)``; ``(t, -t, -t)`` and ``(-t, t, -t)`` lie off it). For ``lambda > 0`` every
critical point has ``|w_1| = |w_2| = |w_3|``, but only half of them lie in the plane; for
``lambda = 0`` not even that (``(a, 0, 0)`` is critical). The valleys of the slice are not
those of R^3 (at ``lambda = 0``, ``u < 1`` the slice shows 2, the space has 4), and its merge
levels are upper bounds. At the origin the Hessian vanishes for ``lambda = 0``
(``E ~ 1 - 2 x^2 y``) and is ``2 lambda I`` for ``lambda > 0``: a strict local minimum appears,
spurious for small ``lambda``.

``update(level, ridge, depth)`` computes everything (pytest calls it without a browser):
the sublevel set ``{E <= u}`` with its components (:mod:`lecture_lib.sublevel`), which are
spurious, the symmetry orbits (curves of constant product, on which the unregularized energy
is constant: the ``GL(1)`` action ``w_1 -> a w_1, w_2 -> w_2 / a``), and the path of lowest
maximum between the two global minima in view. ``draw``/``static_view`` make figures,
``build()`` the ipywidgets controls, with every figure precomputed (no kernel needed).

    >>> view = update(0.5, 0.0, depth=2)
    >>> view.n_components, round(view.merge_level, 2)
    (2, 1.0)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import scipy.optimize
import scipy.sparse
import scipy.sparse.csgraph
import torch
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from lecture_lib import sublevel
from lecture_lib.widgets.display import control_row, precomputed_grid

DEPTHS = (2, 3)
EXTENT = (-2.0, 2.0, -2.0, 2.0)
RESOLUTION = 161
LEVEL_RANGE = (0.0, 2.0)
RIDGE_RANGE = (0.0, 1.2)
LEVELS = (0.25, 0.5, 0.8, 1.01, 1.2, 1.6)  # the widget's level slider
RIDGES = (0.0, 0.3, 1.2)                   # its ridge slider: none, spurious at K = 3, large
_HELD, _SPURIOUS = "#4C72B0", "#DD8452"


def _check(depth, ridge):
    if depth not in DEPTHS:
        raise ValueError(f"unknown depth {depth!r}; choose one of {DEPTHS}")
    if not np.isfinite(ridge) or ridge < 0:
        raise ValueError(f"ridge must be a finite number >= 0, got {ridge}")


def energy(depth: int = 2, ridge: float = 0.0):
    """The 2-D energy ``Tensor[B, 2] -> Tensor[B]`` of the view (module docstring)."""
    _check(depth, ridge)

    def E(theta):
        x, y = theta[:, 0], theta[:, 1]
        if depth == 2:
            return (x * y - 1) ** 2 + ridge * (x ** 2 + y ** 2)
        return (x ** 2 * y - 1) ** 2 + ridge * (2 * x ** 2 + y ** 2)

    return E


def global_minimum(depth: int = 2, ridge: float = 0.0):
    """``(minimizers in the view, value)`` of the full ``depth``-parameter energy.

    Critical points are balanced, ``|w_k| = t``, so the minimum is that of
    ``f(t) = (t^K - 1)^2 + K lambda t^2`` over ``t >= 0``; for ``K = 2`` it is
    ``t^2 = 1 - lambda`` (value ``2 lambda - lambda^2``) when ``lambda < 1``, else the origin.
    For ``lambda = 0`` the minimizers form curves; two representatives are returned.
    """
    _check(depth, ridge)
    f = lambda t: (t ** depth - 1) ** 2 + depth * ridge * t ** 2
    if depth == 2:
        t = np.sqrt(max(1.0 - ridge, 0.0))
    else:
        t = scipy.optimize.minimize_scalar(f, bounds=(0.3, 1.5), method="bounded",
                                           options={"xatol": 1e-12}).x
        t = t if f(t) < f(0.0) else 0.0
    if t == 0.0:
        return ((0.0, 0.0),), float(f(0.0))
    pts = ((t, t), (-t, -t)) if depth == 2 else ((t, t), (-t, t))
    return pts, float(f(t))


@dataclass(frozen=True)
class LinearView:
    """What the widget shows at one ``(level, ridge, depth)``.

    ``grid`` and ``tree`` (merge tree) of the window; ``labels``, ``n_components`` (``N_u``)
    of ``{E <= u}``; ``spurious``: labels of components holding no global minimizer;
    ``minimizers`` and ``min_value``; ``merge_level``: the level at which the components of
    the two minimizers join (None with a single minimizer); ``path`` (``(P, 2)``) a shortest
    grid path inside ``{E <= merge_level}`` between them and ``path_energies`` along it;
    ``orbits``: curves of constant product ``(P, 2)``; ``message``.
    """

    depth: int
    ridge: float
    level: float
    grid: sublevel.Grid
    tree: sublevel.MergeTree
    labels: np.ndarray
    n_components: int
    spurious: tuple
    minimizers: tuple
    min_value: float
    merge_level: float | None
    path: np.ndarray | None
    path_energies: np.ndarray | None
    orbits: tuple
    message: str


@functools.lru_cache(maxsize=64)
def _landscape(depth, ridge, resolution):
    g = sublevel.grid(energy(depth, ridge), EXTENT, resolution)
    return g, sublevel.merge_tree(g)


def _merge_level(g, a, b):
    """Smallest grid level at which the nodes of ``a`` and ``b`` share a component (bisection
    over the sorted grid values, each step one labelling)."""
    ia, ib = g.index(a), g.index(b)
    vals = np.unique(g.values[g.values >= max(g.values[ia], g.values[ib])])
    lo, hi = 0, len(vals) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        labels, _ = sublevel.components(g, vals[mid])
        lo, hi = (lo, mid) if labels[ia] == labels[ib] else (mid + 1, hi)
    return float(vals[lo])


def _grid_path(g, level, a, b):
    """Shortest 8-neighbour path from ``a`` to ``b`` through nodes with ``E <= level``."""
    inside = g.values <= level
    ny, nx = inside.shape
    idx = np.arange(ny * nx).reshape(ny, nx)
    rows, cols, w = [], [], []
    for di, dj in ((0, 1), (1, 0), (1, 1), (1, -1)):
        src = idx[max(0, -di):ny - max(0, di), max(0, -dj):nx - max(0, dj)]
        dst = idx[max(0, di):ny + min(0, di) or None, max(0, dj):nx + min(0, dj) or None]
        ok = inside.ravel()[src.ravel()] & inside.ravel()[dst.ravel()]
        rows.append(src.ravel()[ok]), cols.append(dst.ravel()[ok])
        w.append(np.full(ok.sum(), np.hypot(di * g.dy, dj * g.dx)))
    graph = scipy.sparse.coo_matrix((np.concatenate(w), (np.concatenate(rows), np.concatenate(cols))),
                                    shape=(ny * nx, ny * nx)).tocsr()
    s, t = (int(idx[g.index(p)]) for p in (a, b))
    _, pred = scipy.sparse.csgraph.dijkstra(graph, directed=False, indices=s, return_predecessors=True)
    if pred[t] < 0 and s != t:
        return None
    nodes = [t]
    while nodes[-1] != s:
        nodes.append(int(pred[nodes[-1]]))
    i, j = np.divmod(np.array(nodes[::-1]), nx)
    return np.stack([g.x[j], g.y[i]], axis=1)


def _orbits(depth):
    """Curves of constant product: ``w_1 w_2 = c`` (depth 2) or ``x^2 y = c`` (depth 3)."""
    s = np.geomspace(0.05, 2.0, 200)
    out = []
    for c in (0.25, 1.0, 2.25) if depth == 2 else (0.25, 1.0, 3.0):
        if depth == 2:
            x = s[(c / s <= 2.0)]
            out += [np.stack([x, c / x], 1), np.stack([-x, -c / x], 1)]
        else:
            x = s[(c / s ** 2 <= 2.0)]
            out += [np.stack([x, c / x ** 2], 1), np.stack([-x, c / x ** 2], 1)]
    return tuple(out)


def update(level: float, ridge: float = 0.0, depth: int = 2, resolution: int = RESOLUTION) -> LinearView:
    """Sublevel set of the depth-``depth`` landscape at ``level`` (module docstring)."""
    _check(depth, ridge)
    u = float(level)
    if not np.isfinite(u):
        raise ValueError(f"level must be finite, got {level}")
    g, tree = _landscape(int(depth), float(ridge), int(resolution))
    labels, n = sublevel.components(g, u)
    mins, vmin = global_minimum(depth, ridge)
    spurious = sublevel.spurious_labels(g, labels, mins)
    merge = path = pe = None
    if len(mins) == 2:
        merge = _merge_level(g, *mins)
        path = _grid_path(g, merge, *mins)
        with torch.no_grad():
            pe = energy(depth, ridge)(torch.as_tensor(path, dtype=torch.float64)).numpy()
    msg = (f"depth {depth}, lambda = {ridge:.3g}, u = {u:.4g}: N_u = {n}, {len(spurious)} spurious; "
           f"global minimum {vmin:.4g}" + ("" if merge is None else f", the minima's valleys merge at u = {merge:.4g}"))
    return LinearView(int(depth), float(ridge), u, g, tree, labels, n, spurious, mins, vmin, merge,
                      path, pe, _orbits(depth), msg)


def draw_map(view: LinearView, ax) -> None:
    """``{E <= u}`` coloured by component, contours, orbits, minima and the lowest path."""
    g = view.grid
    ax.contour(g.x, g.y, np.clip(g.values, 0, 3), levels=np.linspace(0, 3, 16), colors="0.6", linewidths=0.5)
    pal = np.zeros((view.n_components + 1, 4))
    pal[1:] = to_rgba(_HELD, 0.7)
    for k in view.spurious:
        pal[k] = to_rgba(_SPURIOUS, 0.85)
    ax.imshow(pal[view.labels], origin="lower", extent=g.extent, aspect="auto", interpolation="nearest")
    if view.ridge == 0:
        for c in view.orbits:
            ax.plot(c[:, 0], c[:, 1], color="k", lw=0.7, ls=":")
    if view.path is not None:
        ax.plot(view.path[:, 0], view.path[:, 1], color="tab:red", lw=1.6)
    for x, y in view.minimizers:
        ax.plot(x, y, "*", color="k", ms=10)
    names = ("$w_1$", "$w_2$") if view.depth == 2 else ("$x = w_1 = w_2$", "$y = w_3$")
    ax.set(xlim=g.extent[:2], ylim=g.extent[2:], xlabel=names[0], ylabel=names[1])
    ax.set_title(rf"$K$ = {view.depth}, $\lambda$ = {view.ridge:.3g}, $u$ = {view.level:.3g}: "
                 rf"$N_u$ = {view.n_components}, {len(view.spurious)} spurious", fontsize=9)


def draw_profile(view: LinearView, ax) -> None:
    """Energy along the lowest path between the minima, with ``u`` and the merge level."""
    if view.path is None:
        ax.text(0.5, 0.5, "a single global minimum:\nno pair to join", ha="center", va="center",
                transform=ax.transAxes)
    else:
        s = np.concatenate([[0.0], np.linalg.norm(np.diff(view.path, axis=0), axis=1).cumsum()])
        ax.plot(s / s[-1], view.path_energies, color="tab:red")
        ax.axhline(view.merge_level, color="k", lw=0.8, ls=":", label=f"merge level {view.merge_level:.3g}")
        ax.legend(fontsize=8, loc="lower center")
    ax.axhline(view.level, color="tab:red", ls="--", lw=1)
    ax.set(xlabel="fraction of the path", ylabel="energy", title="lowest path between the minima")


def draw(view: LinearView, figsize=(9.0, 3.8)) -> Figure:
    """The widget's figure: the sublevel set (left) and the lowest path's profile (right)."""
    fig = Figure(figsize=figsize)
    ax_map, ax_prof = fig.subplots(1, 2, width_ratios=[1.3, 1])
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.15, top=0.9, wspace=0.28)
    draw_map(view, ax_map)
    draw_profile(view, ax_prof)
    return fig


def static_view(settings=((2, 0.0, 0.5), (2, 0.0, 1.2), (2, 0.3, 0.8), (3, 0.0, 0.5), (3, 0.3, 1.01),
                          (3, 0.3, 1.2)), resolution: int = RESOLUTION) -> Figure:
    """Small multiples for the HTML: one map per ``(depth, ridge, level)`` setting."""
    views = [update(u, lam, K, resolution) for K, lam, u in settings]
    if not views:
        raise ValueError("settings must hold at least one (depth, ridge, level)")
    ncols = min(3, len(views))
    nrows = -(-len(views) // ncols)
    fig = Figure(figsize=(3.4 * ncols, 3.1 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[len(views):]:
        ax.set_axis_off()
    for ax, view in zip(axes, views):
        draw_map(view, ax)
    return fig


def build(resolution: int = RESOLUTION, levels=LEVELS, ridges=RIDGES):
    """Controls depth ``K`` (Dropdown), ridge ``lambda`` and level ``u`` (SelectionSliders
    over ``ridges`` and ``levels``) in one row above the figure.

    Every figure (``len(DEPTHS) * len(ridges) * len(levels)`` of them) is drawn when the
    widget is built and switched in the browser through nested ``Stack``s
    (:func:`lecture_lib.widgets.display.precomputed_grid`), so the controls change the
    figure in the HTML book too, with no kernel. Returns ``VBox([HBox(controls), Stack])``.
    """
    import ipywidgets as w

    for lam in ridges:
        _check(2, lam)
    depth = w.Dropdown(options=list(DEPTHS), value=2, description="depth K")
    ridge = w.SelectionSlider(options=[(f"{r:.2g}", float(r)) for r in ridges],
                              value=float(ridges[0]), description="ridge λ")
    level = w.SelectionSlider(options=[(f"{u:.3g}", float(u)) for u in levels],
                              value=min(levels, key=lambda u: abs(u - 0.5)), description="level u")

    def render(K, lam, u):
        view = update(u, lam, K, resolution)
        return draw(view), view.message

    return w.VBox([control_row(depth, ridge, level), precomputed_grid([depth, ridge, level], render)])
