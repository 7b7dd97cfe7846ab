"""Widget of chapter 4: barriers between trained ReLU networks against width and dimension.

For input dimension ``n`` and width ``m`` the figure shows, for the first trained pair of
:func:`lecture_lib.topics.relu_rate.rate_experiment`, the loss along the straight segment and
along the NEB path between the two networks with the level ``max(E(a), E(b))`` marked
(left), and the barrier of every pair against the width on log-log axes with the slope
``-1/n`` of the theorem's rate and the current point highlighted (right).

``update(n_in, width)`` is the plain update (pytest calls it; results come from the cached
sweep); ``draw`` makes the figure; ``build`` precomputes one PNG per ``(n, m)`` and switches
them with ``jslink``-ed stacks, so the controls also work in the HTML book without a kernel;
``static_view`` is the small-multiples view of the whole range.

Example::

    >>> from lecture_lib.widgets import relu as relu_widget
    >>> s = relu_widget.update(2, 16)      # doctest: +SKIP
    >>> s.point.width, s.point.n_in        # doctest: +SKIP
    (16, 2)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from lecture_lib.topics import relu_rate
from lecture_lib.widgets.display import control_row, precomputed_grid


@dataclass(frozen=True)
class ReluView:
    """What the widget shows at ``(n_in, width)``: the first ``point`` (a
    :class:`~lecture_lib.topics.relu_rate.RatePoint`), every pair's barrier ``barriers
    (n_widths, n_pairs)`` at this ``n_in``, the ``widths``, the fitted ``slope`` and a ``message``."""

    n_in: int
    width: int
    point: relu_rate.RatePoint
    widths: tuple
    barriers: np.ndarray
    slope: relu_rate.SlopeFit
    message: str


def update(n_in: int, width: int, result: relu_rate.RateResult | None = None) -> ReluView:
    """The view at input dimension ``n_in`` and width ``width`` of ``result`` (default: the
    chapter's sweep, :func:`lecture_lib.topics.relu_rate.rate_experiment`, cached)."""
    result = relu_rate.rate_experiment() if result is None else result
    if n_in not in result.n_ins or width not in result.widths:
        raise ValueError(f"(n_in, width) must be one of the sweep's: n_in in {result.n_ins}, width in "
                         f"{result.widths}; got ({n_in!r}, {width!r})")
    point = result.select(n_in, width)[0]
    fit = relu_rate.fit_slopes(result)[n_in]
    msg = (f"n={n_in}, m={width}: NEB barrier {point.barrier:.3g} above the level {point.level:.3g} "
           f"(straight segment: {point.straight_barrier:.3g}); fitted slope {fit.slope:+.2f}, "
           f"theorem's rate {-1 / n_in:+.2f}")
    return ReluView(int(n_in), int(width), point, result.widths, result.barriers(n_in), fit, msg)


def draw_profiles(view: ReluView, ax, legend: bool = True, floor: float = 1e-6) -> None:
    """Loss along the straight segment and the NEB path of the first pair, level dashed, on
    a log axis (the path's barrier is orders of magnitude below the segment's); losses
    below ``floor`` are drawn at ``floor``."""
    p = view.point
    ax.plot(p.straight.t.numpy(), np.clip(p.straight.energies.numpy(), floor, None), color="0.55",
            label="straight segment")
    prof = p.band.profile
    ax.plot(prof.t.numpy(), np.clip(prof.energies.numpy(), floor, None), color="tab:green", label="NEB path")
    ax.axhline(max(p.level, floor), color="tab:red", ls="--", lw=0.8, label="level max(E(a), E(b))")
    ax.set(xlabel="arc-length fraction $t$", ylabel="loss $E$", yscale="log")
    ax.set_title(f"n={view.n_in}, m={view.width}: barrier {p.barrier:.2g}", fontsize=9)
    if legend:
        ax.legend(fontsize=7, loc="upper right")


def draw_barriers(view: ReluView, ax, floor: float = 1e-6) -> None:
    """Barrier of every pair against the width (log-log), the median, the fitted line, a
    reference line of slope ``-1/n`` through the first median, the current width circled."""
    m = np.array(view.widths, dtype=float)
    B = np.clip(view.barriers, floor, None)
    for j in range(B.shape[1]):
        ax.plot(m, B[:, j], ".", color="tab:blue", alpha=0.6, ms=5)
    med = np.median(B, 1)
    ax.plot(m, med, "-", color="tab:blue", lw=1.2, label="median of pairs")
    ax.plot(m, med[0] * (m / m[0]) ** (-1.0 / view.n_in), "k--", lw=0.9, label=f"slope $-1/n = {-1 / view.n_in:.2f}$")
    f = view.slope
    if np.isfinite(f.slope):
        ax.plot(m, np.exp(f.intercept) * m ** f.slope, ":", color="tab:orange", lw=1.2,
                label=f"fit: slope {f.slope:+.2f}")
    k = view.widths.index(view.width)
    ax.plot([m[k]], [med[k]], "o", ms=11, mfc="none", mec="tab:red", mew=1.8)
    ax.set(xscale="log", yscale="log", xlabel="width $m$", ylabel="barrier")
    ax.set_xticks(m, [str(int(v)) for v in m])
    ax.minorticks_off()
    ax.legend(fontsize=7, loc="best")


def draw(view: ReluView, figsize=(9.0, 3.4)) -> Figure:
    """The widget's figure: profiles (left), barrier against width (right)."""
    fig = Figure(figsize=figsize)
    ax_l, ax_r = fig.subplots(1, 2)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.16, top=0.88, wspace=0.3)
    draw_profiles(view, ax_l)
    draw_barriers(view, ax_r)
    return fig


def static_view(result: relu_rate.RateResult | None = None) -> Figure:
    """Small multiples: one row per input dimension, one column per width, each the
    profiles of the first pair (the HTML's view of the widget's whole range)."""
    result = relu_rate.rate_experiment() if result is None else result
    rows, cols = len(result.n_ins), len(result.widths)
    fig = Figure(figsize=(2.0 * cols, 1.8 * rows), layout="constrained")
    axes = np.atleast_2d(fig.subplots(rows, cols, squeeze=False))
    for i, n in enumerate(result.n_ins):
        for j, m in enumerate(result.widths):
            ax = axes[i, j]
            draw_profiles(update(n, m, result), ax, legend=False)
            ax.set(xlabel="", ylabel=f"n={n}" if j == 0 else "")
            ax.set_title(f"n={n}, m={m}", fontsize=8)
            ax.tick_params(labelsize=6)
    return fig


def build(n_in: int = 2, width: int = 16, result: relu_rate.RateResult | None = None, dpi: int = 60):
    """The widget: a ``ToggleButtons`` for ``n`` and a ``SelectionSlider`` for ``m`` above a
    ``Stack`` (one page per ``n``) of ``Stack`` s (one PNG per ``m``), their
    ``selected_index`` ``jslink``-ed to the controls, so the figure changes without a kernel.
    All pages are rendered here from the cached sweep. Returns the top ``VBox``."""
    import ipywidgets as w

    result = relu_rate.rate_experiment() if result is None else result
    update(n_in, width, result)  # validates the starting point
    n_control = w.ToggleButtons(options=list(result.n_ins), value=n_in, description="n",
                                style={"button_width": "3em"})
    m_control = w.SelectionSlider(options=list(result.widths), value=width, description="width m",
                                  continuous_update=False)

    def render(n, m):
        view = update(n, m, result)
        return draw(view), view.message

    return w.VBox([control_row(n_control, m_control), precomputed_grid([n_control, m_control], render, dpi=dpi)])


# ----------------------------------------------------------------------------- chapter figures

def draw_valleys(v, figsize=(10.0, 3.3)) -> Figure:
    """The slice ``W_2 = (1, 1)`` of the two-valley construction at each level of
    :func:`lecture_lib.topics.relu.valleys` (valleys coloured, minima starred), and the loss
    along the paths found: string sampling at each level and the NEB band."""
    from lecture_lib import sublevel

    g = v.grid
    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(1, len(v.levels) + 1)
    for ax, u, n_u in zip(axes, v.levels, v.grid_components):
        labels, _ = sublevel.components(g, u)
        shown = np.ma.masked_where(labels == 0, labels)
        ax.contour(g.x, g.y, g.values, levels=[0.1, 0.25, 0.5, 0.75, 1.0, 1.5], colors="0.6", linewidths=0.6)
        ax.imshow(shown, origin="lower", extent=g.extent, cmap="tab10", vmin=1, vmax=10, alpha=0.6)
        ax.plot([1, -1], [-1, 1], "k*", ms=10)
        ax.set(xlabel="$w_{11}$", ylabel="$w_{21}$", aspect="equal")
        ax.set_title(f"$\\Omega_u$ on the slice, u = {u:g}: $N_u$ = {n_u}", fontsize=9)
    ax = axes[-1]
    for u, s in zip(v.levels, v.strings):
        ax.plot(s.profile.t.numpy(), s.profile.energies.numpy(),
                label=f"string, u={u:g}: {'path found' if s.connected else 'no path found'}")
        ax.axhline(u, ls=":", lw=0.8, color=ax.lines[-1].get_color())
    ax.plot(v.band.profile.t.numpy(), v.band.profile.energies.numpy(), "k-", lw=1.2,
            label=f"NEB, max {v.band.max_energy:.3f}")
    ax.axhline(0.5, color="tab:red", ls="--", lw=0.8, label="proven merge level 1/2")
    ax.set(xlabel="arc-length fraction $t$", ylabel="loss $E$")
    ax.legend(fontsize=7, loc="upper right")
    return fig


def draw_rate(result: relu_rate.RateResult, figsize=None) -> Figure:
    """Barrier against width for every input dimension (one panel each, log-log), with the
    median, the least-squares fit and the theorem's slope ``-1/n``."""
    fits = relu_rate.fit_slopes(result)
    k = len(result.n_ins)
    fig = Figure(figsize=figsize or (3.3 * k, 3.0), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, k, sharey=True))
    for ax, n in zip(axes, result.n_ins):
        view = ReluView(n, result.widths[0], result.select(n)[0], result.widths, result.barriers(n), fits[n], "")
        draw_barriers(view, ax)
        ax.lines[-1].remove()  # no current point here
        ax.set_title(f"input dimension n = {n}", fontsize=9)
    return fig


def draw_success(sweeps, ax=None, figsize=(6.0, 3.2)):
    """Fraction of runs at the global minimum against ``M / q`` for each
    :class:`~lecture_lib.topics.kernels.SuccessSweep`; the theorem's ``M = q`` dashed."""
    fig = None
    if ax is None:
        fig = Figure(figsize=figsize, layout="constrained")
        ax = fig.subplots()
    for s in sweeps:
        ax.plot(s.ratios, s.fractions, "o-", label=f"{s.name} (q = {s.q})")
    ax.axvline(1.0, color="k", ls="--", lw=0.9, label="$M = q$")
    ax.set(xlabel="$M / q$", ylabel="fraction of runs at the global minimum", ylim=(-0.05, 1.05))
    ax.legend(fontsize=7, loc="lower right")
    return fig


def draw_ball(center, radius, t_range=(-2.5, 2.5), figsize=(8.0, 3.2)) -> Figure:
    """The parabola ``F = {(t, t^2)}`` with the ball ``B(center, radius)`` and its pieces inside
    (left), and the loss ``||gamma(t) - center||^2`` over the parameter ``t`` (right)."""
    from lecture_lib.topics import kernels

    t = np.linspace(*t_range, 2001)
    pts = kernels.parabola(t)
    inside = np.linalg.norm(pts - np.asarray(center), axis=1) <= radius
    fig = Figure(figsize=figsize, layout="constrained")
    ax_l, ax_r = fig.subplots(1, 2)
    ax_l.plot(pts[:, 0], pts[:, 1], color="0.5", label="$F$")
    ax_l.plot(np.where(inside, pts[:, 0], np.nan), np.where(inside, pts[:, 1], np.nan), color="tab:blue",
              lw=3, label=f"$F \\cap B$: {kernels.ball_pieces(pts, center, radius)} pieces")
    ang = np.linspace(0, 2 * np.pi, 200)
    ax_l.plot(center[0] + radius * np.cos(ang), center[1] + radius * np.sin(ang), "k--", lw=0.8)
    ax_l.plot(*center, "r*", ms=10, label="target $g$")
    ax_l.set(aspect="equal", xlabel="$\\phi_1$", ylabel="$\\phi_2$")
    ax_l.legend(fontsize=7, loc="lower right")
    loss = np.square(pts - np.asarray(center)).sum(1)
    ax_r.plot(t, loss, color="tab:blue")
    ax_r.axhline(radius ** 2, color="k", ls="--", lw=0.8, label="level $r^2$")
    ax_r.set(xlabel="parameter $t$", ylabel="$\\|\\gamma(t) - g\\|^2$")
    ax_r.legend(fontsize=7)
    return fig
