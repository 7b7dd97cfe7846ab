"""Widget of chapter 1: sublevel sets, their valleys, and the merge tree of a surface.

``update(surface_name, level)`` computes everything (pytest calls it without a browser);
``draw`` and ``static_view`` make matplotlib figures; ``build()`` makes a Dropdown (the
surface) and a level slider whose figures are all precomputed and switched in the browser,
so the widget works in the HTML book without a kernel.

Example::

    >>> from lecture_lib.widgets import valleys
    >>> view = valleys.update("muller_brown", -75.0)
    >>> view.n_components, view.n_spurious
    (3, 2)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from lecture_lib import sublevel, surfaces
from lecture_lib.widgets.display import control_row, linked_stack, precomputed_stack

CHAPTER_SURFACES = ("tilted_double_well", "escape_channel", "plateau", "muller_brown", "bowl")
RESOLUTION = 121
N_LEVELS = 4  # evenly spread levels per surface, plus the default one
_HELD = "#4C72B0"  # valleys holding a global minimum
_SPURIOUS = ("#DD8452", "#C44E52", "#8172B3", "#937860", "#DA8BC3")


@dataclass(frozen=True)
class ValleysView:
    """Everything the widget shows at one ``(surface, level)``.

    ``labels`` (``(ny, nx)``, 0 outside ``Omega_u``) and ``n_components`` come from
    :func:`lecture_lib.sublevel.components`; ``spurious`` are the labels of valleys holding no
    global minimizer of the surface; ``tree`` is the merge tree of the whole window.
    """

    surface: str
    level: float
    resolution: int
    grid: sublevel.Grid
    labels: np.ndarray
    n_components: int
    spurious: tuple[int, ...]
    n_spurious: int
    tree: sublevel.MergeTree
    message: str


@functools.lru_cache(maxsize=32)
def _landscape(name: str, resolution: int):
    s = surfaces.get(name)
    g = sublevel.grid(s.energy, s.extent, resolution)
    return g, sublevel.merge_tree(g)


def default_level(name: str) -> float:
    """An instructive starting level: inside the first spurious range, else mid-range."""
    s = surfaces.get(name)
    if s.spurious_levels:
        lo, hi = s.spurious_levels[0]
        return round(lo + 0.6 * (hi - lo), 3)
    lo, hi = s.level_range
    return round(lo + 0.5 * (hi - lo), 3)


def update(surface_name: str, level: float, resolution: int = RESOLUTION) -> ValleysView:
    """Components of ``Omega_u`` of ``surface_name`` at ``level``, which are spurious, the tree."""
    s = surfaces.get(surface_name)
    u = float(level)
    if not np.isfinite(u):
        raise ValueError(f"level must be finite, got {level}")
    if int(resolution) != resolution or resolution < 8:
        raise ValueError(f"resolution must be an int >= 8, got {resolution}")
    g, tree = _landscape(surface_name, int(resolution))
    labels, n = sublevel.components(g, u)
    spurious = sublevel.spurious_labels(g, labels, s.global_minimizers)
    msg = f"{surface_name}: u = {u:.4g}, N_u = {n}, {len(spurious)} spurious"
    return ValleysView(surface_name, u, int(resolution), g, labels, n, spurious,
                       len(spurious), tree, msg)


def _colours(view: ValleysView) -> np.ndarray:
    """RGBA per label (row 0 transparent): held valleys blue, spurious ones warm colours."""
    pal = np.zeros((view.n_components + 1, 4))
    for k in range(1, view.n_components + 1):
        pal[k] = to_rgba(_HELD, 0.75)
    for n, k in enumerate(view.spurious):
        pal[k] = to_rgba(_SPURIOUS[n % len(_SPURIOUS)], 0.85)
    return pal


def draw_map(view: ValleysView, ax) -> None:
    """``Omega_u`` coloured by component over the energy's contour lines; critical points."""
    s, g = surfaces.get(view.surface), view.grid
    lo, hi = s.level_range
    ax.contour(g.x, g.y, np.clip(g.values, lo, hi), levels=np.linspace(lo, hi, 14),
               colors="0.55", linewidths=0.5, linestyles="solid")
    ax.imshow(_colours(view)[view.labels], origin="lower", extent=g.extent, aspect="auto",
              interpolation="nearest")
    for (x, y), v in s.minima:
        glob = v <= s.global_min + 1e-9
        ax.plot(x, y, "*" if glob else "o", color="k", ms=10 if glob else 5)
    for (x, y), _ in s.saddles:
        ax.plot(x, y, "x", color="k", ms=6)
    for k in view.spurious:  # label each spurious valley at its centroid
        i, j = np.nonzero(view.labels == k)
        xmin, xmax, ymin, ymax = g.extent
        cx = np.clip(g.x[j].mean(), xmin + 0.12 * (xmax - xmin), xmax - 0.12 * (xmax - xmin))
        ax.text(cx, g.y[i].mean() + 0.08 * (ymax - ymin), "spurious",
                ha="center", fontsize=8, clip_on=True,
                bbox=dict(boxstyle="round", fc="white", alpha=0.7, lw=0))
    ax.set(xlim=g.extent[:2], ylim=g.extent[2:], xlabel=r"$\theta_1$", ylabel=r"$\theta_2$")
    ax.set_title(rf"{view.surface}: $u$ = {view.level:.4g}, $N_u$ = {view.n_components}, "
                 f"{view.n_spurious} spurious", fontsize=10)


def _leaf_order(tree: sublevel.MergeTree) -> list[int]:
    """Births ordered so that no branch of the drawn tree crosses another."""
    blocks = {k: [k] for k in range(len(tree.births))}
    for m in sorted(tree.merges, key=lambda m: m.level):
        blocks[m.survivor] = blocks[m.survivor] + blocks.pop(m.absorbed)
    return [k for block in blocks.values() for k in block]


def draw_merge_tree(tree: sublevel.MergeTree, ax, level=None, top=None, colours=None) -> None:
    """Draw ``tree`` on ``ax``: one branch per birth from its level up to its merge, joined by
    horizontal bars at merge levels; ``level`` adds a dashed line at ``u``. ``colours`` maps a
    birth index to a branch colour (default grey); hollow dots are births on the window edge."""
    xpos = {k: n for n, k in enumerate(_leaf_order(tree))}
    levels = [b.level for b in tree.births] + [m.level for m in tree.merges]
    top = max(levels) + 0.1 * (max(levels) - min(levels) + 1e-9) if top is None else top
    for k, b in enumerate(tree.births):
        c = (colours or {}).get(k, "0.35")
        ax.plot([xpos[k]] * 2, [b.level, min(tree.death_level(k), top)], color=c, lw=2.5)
        ax.plot(xpos[k], b.level, "o", color=c, mfc="white" if b.on_boundary else c, ms=6)
    for m in tree.merges:
        ax.plot([xpos[m.survivor], xpos[m.absorbed]], [m.level] * 2, color="0.2", lw=1.5)
    if level is not None:
        ax.axhline(level, color="tab:red", ls="--", lw=1)
    ax.set_xticks(range(len(xpos)))
    ax.set_xticklabels([f"({tree.births[k].point[0]:.2f},\n{tree.births[k].point[1]:.2f})"
                        for k in sorted(xpos, key=xpos.get)], fontsize=7)
    ax.set_xlim(-0.6, len(xpos) - 0.4)
    ax.set_ylim(min(levels) - 0.05 * (top - min(levels) + 1e-9), top)
    ax.set(ylabel="level $u$", title="merge tree")


def _branch_colours(view: ValleysView) -> dict[int, str]:
    """Colour of each branch alive at ``u``: that of its valley in the map."""
    pal, out = _colours(view), {}
    for k, b in enumerate(view.tree.births):
        if b.level <= view.level < view.tree.death_level(k):
            out[k] = tuple(pal[view.labels[b.index]][:3])
    return out


def draw(view: ValleysView, figsize=(10.0, 4.0)) -> Figure:
    """The widget's figure: ``Omega_u`` (left) and the merge tree with ``u`` marked (right)."""
    fig = Figure(figsize=figsize)  # fixed margins: a layout engine would double the time
    ax_map, ax_tree = fig.subplots(1, 2, width_ratios=[1.7, 1])
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.17, top=0.91, wspace=0.22)
    draw_map(view, ax_map)
    draw_merge_tree(view.tree, ax_tree, level=view.level,
                    top=surfaces.get(view.surface).level_range[1], colours=_branch_colours(view))
    return fig


def static_view(surface_name: str, levels, resolution: int = RESOLUTION) -> Figure:
    """Small multiples for the HTML without a kernel: ``Omega_u`` at each level, then the tree."""
    views = [update(surface_name, u, resolution) for u in levels]
    if not views:
        raise ValueError("levels must hold at least one level")
    ncols = 2 if len(views) + 1 in (2, 4) else 3  # rows of at most three panels
    nrows = -(-(len(views) + 1) // ncols)
    fig = Figure(figsize=(3.4 * ncols, 2.9 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[len(views) + 1:]:
        ax.set_axis_off()
    axes = axes[:len(views) + 1]
    for ax, view in zip(axes, views):
        draw_map(view, ax)
        ax.set_title(rf"$u$ = {view.level:.4g}: $N_u$ = {view.n_components}, "
                     f"{view.n_spurious} spurious", fontsize=9)
        ax.set(xlabel="", ylabel="")
    draw_merge_tree(views[0].tree, axes[-1], top=surfaces.get(surface_name).level_range[1])
    for view in views:
        axes[-1].axhline(view.level, color="tab:red", ls="--", lw=0.8)
    return fig


def level_options(name: str, n_levels: int = N_LEVELS) -> tuple[float, ...]:
    """The levels the widget offers for surface ``name``: ``n_levels`` evenly spread inside
    its ``level_range`` and :func:`default_level`, rounded to 3 decimals, increasing."""
    lo, hi = surfaces.get(name).level_range
    inner = np.linspace(lo, hi, int(n_levels) + 2)[1:-1]
    return tuple(sorted({round(float(u), 3) for u in (*inner, default_level(name))}))


def build(surface_names=CHAPTER_SURFACES, resolution: int = RESOLUTION, n_levels: int = N_LEVELS):
    """The widget: a Dropdown (surface) and, for that surface, a level slider over
    :func:`level_options`, above the figure.

    Every figure is drawn when the widget is built and kept in nested ``Stack``s linked to
    the controls in the browser (:mod:`lecture_lib.widgets.display`), so the controls
    change the figure in the HTML book too, with no kernel. Returns
    ``VBox([HBox([dropdown]), Stack([VBox([HBox([slider]), Stack(outputs)]), ...])])``.
    """
    import ipywidgets as w

    names = list(surface_names)
    for name in names:
        surfaces.get(name)  # unknown names raise here, listing the choices
    dropdown = w.Dropdown(options=names, value=names[0], description="surface")
    pages = []
    for name in names:
        levels = level_options(name, n_levels)
        slider = w.SelectionSlider(options=[(f"{u:.3g}", u) for u in levels],
                                   value=min(levels, key=lambda u: abs(u - default_level(name))),
                                   description="level u", continuous_update=True)

        def render(u, name=name):
            view = update(name, u, resolution)
            return draw(view), view.message

        pages.append(w.VBox([control_row(slider), precomputed_stack(slider, render)]))
    return w.VBox([control_row(dropdown), linked_stack(dropdown, pages)])
