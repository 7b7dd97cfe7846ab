"""Widget of chapter 6: many ResNets against the best linear predictor.

Controls: the width ``k`` of the residual branch, the initialisation scale and the training
length. :func:`update` returns the final losses of ``N_SEEDS`` runs of
:func:`lecture_lib.topics.resnets.train_many` on the chapter's regression task with the
linear baseline, and the norms ``||w||``, ``||V||_2`` of every point reached; one training
per ``(width, init_scale)`` records all training lengths at once and is cached.
:func:`draw` makes the figure, :func:`static_view` the small multiples for the HTML, and
:func:`build` the ipywidgets: every figure is rendered when the widget is built and held in
nested ``Stack`` s ``jslink`` -ed to the three sliders, so all controls change the figure in
the HTML book too, with no kernel (and there is nothing slow left to wait for).

    >>> view = update(8, 1.0, 600)
    >>> view.fraction_beating
    1.0
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from matplotlib.figure import Figure

from lecture_lib.arguments import choice
from lecture_lib.topics import resnets
from lecture_lib.widgets.display import png_output

WIDTHS = (2, 8, 32)
INIT_SCALES = (0.1, 1.0, 3.0)
STEPS = (30, 150, 600)
N_SEEDS = 16
_BEAT, _WORSE = "tab:blue", "tab:orange"


@functools.lru_cache(maxsize=None)
def task():
    """The chapter's regression task (:func:`lecture_lib.topics.resnets.regression_task`)."""
    return resnets.regression_task()


@functools.lru_cache(maxsize=None)
def runs(width, init_scale, n_seeds):
    """The training runs of one setting (:func:`lecture_lib.topics.resnets.train_many`, every
    length in ``STEPS``), computed once and shared by the chapter and the widget."""
    return resnets.train_many(task(), width, n_seeds=n_seeds, steps=STEPS, init_scale=init_scale)


@dataclass(frozen=True)
class ResNetView:
    """One setting: ``losses``, ``norm_w``, ``norm_V`` (each ``(n_seeds,)``) after ``steps``
    Adam steps, ``linear_loss``, ``beats (n_seeds,)`` bool, ``fraction_beating``, ``message``."""

    width: int
    init_scale: float
    steps: int
    losses: torch.Tensor
    norm_w: torch.Tensor
    norm_V: torch.Tensor
    linear_loss: float
    beats: torch.Tensor
    fraction_beating: float
    message: str


def _option(name, value, options):
    for o in options:
        if value == o:
            return o
    return choice(name, repr(value), tuple(repr(o) for o in options))  # raises, listing options


def update(width: int, init_scale: float, steps: int, n_seeds: int = N_SEEDS) -> ResNetView:
    """The runs at one setting of the controls (values from ``WIDTHS``, ``INIT_SCALES``, ``STEPS``)."""
    width, init_scale = _option("width", width, WIDTHS), _option("init_scale", init_scale, INIT_SCALES)
    steps = _option("steps", steps, STEPS)
    run = runs(width, init_scale, int(n_seeds))
    i = run.steps.index(steps)
    beats = run.beats_linear(i)
    frac = float(beats.double().mean())
    return ResNetView(width, init_scale, steps, run.losses[i], run.norm_w[i], run.norm_V[i],
                      run.linear_loss, beats, frac,
                      f"width {width}, init x{init_scale:g}, {steps} steps: {frac:.0%} of {len(beats)} "
                      f"runs at or below the linear baseline {run.linear_loss:.4g}")


def draw_losses(view: ResNetView, ax) -> None:
    """Final losses of the runs, sorted, against the linear baseline (a line)."""
    order = torch.argsort(view.losses)
    colors = [_BEAT if bool(view.beats[j]) else _WORSE for j in order]
    ax.scatter(range(len(order)), view.losses[order].numpy(), c=colors, s=14)
    ax.axhline(view.linear_loss, color="k", ls="--", lw=1, label="best linear")
    ax.set_yscale("log")
    ax.set(xlabel="run (sorted)", ylabel="train loss")
    ax.set_title(f"k={view.width}, init x{view.init_scale:g}, {view.steps} steps: "
                 f"{view.fraction_beating:.0%} beat linear", fontsize=9)


def draw_norms(view: ResNetView, ax) -> None:
    """The norms ``(||w||, ||V||_2)`` of the points reached."""
    colors = [_BEAT if bool(b) else _WORSE for b in view.beats]
    ax.scatter(view.norm_w.numpy(), view.norm_V.numpy(), c=colors, s=14)
    ax.set(xlabel=r"$\|w\|$", ylabel=r"$\|V\|_2$", title="norms of the points reached")
    ax.title.set_fontsize(9)


def draw(view: ResNetView, figsize=(8.0, 3.0)) -> Figure:
    """The widget's figure: losses against the baseline (left), norms (right)."""
    fig = Figure(figsize=figsize)  # fixed margins: a constrained layout doubles the drawing time
    ax_l, ax_r = fig.subplots(1, 2)
    fig.subplots_adjust(left=0.09, right=0.98, bottom=0.16, top=0.9, wspace=0.28)
    draw_losses(view, ax_l)
    draw_norms(view, ax_r)
    ax_l.legend(fontsize=7, loc="upper left")
    return fig


def static_view(steps: int = STEPS[-1], n_seeds: int = N_SEEDS) -> Figure:
    """Small multiples for the HTML: one row per initialisation scale, one column per width,
    each the runs' losses against the linear baseline after ``steps`` steps."""
    fig = Figure(figsize=(2.6 * len(WIDTHS), 2.1 * len(INIT_SCALES)), layout="constrained")
    axes = fig.subplots(len(INIT_SCALES), len(WIDTHS), sharey=True, squeeze=False)
    for row, scale in zip(axes, INIT_SCALES):
        for ax, width in zip(row, WIDTHS):
            view = update(width, scale, steps, n_seeds)
            draw_losses(view, ax)
            ax.set_title(f"k={width}, init x{scale:g}: {view.fraction_beating:.0%}", fontsize=9)
            ax.set(xlabel="", ylabel="")
    axes[-1, 0].set(xlabel="run (sorted)", ylabel="train loss")
    return fig


def build(n_seeds: int = N_SEEDS, dpi: int = 72):
    """Three ``SelectionSlider`` s (width, init scale, steps) above nested ``Stack`` s of
    precomputed figures, one per setting (``len(WIDTHS) * len(INIT_SCALES) * len(STEPS)``),
    each level's ``selected_index`` ``jslink`` -ed to its slider's ``index``.
    Returns the top ``VBox``."""
    import ipywidgets as w
    import matplotlib.pyplot as plt

    sliders = [w.SelectionSlider(options=list(opts), value=opts[1] if len(opts) > 1 else opts[0],
                                 description=name, continuous_update=False)
               for name, opts in (("width k", WIDTHS), ("init scale", INIT_SCALES), ("steps", STEPS))]
    sliders[2].value = STEPS[-1]

    def page(width, scale, steps):
        view = update(width, scale, steps, n_seeds)
        fig = draw(view)
        out = w.Output()
        out.outputs = (png_output(fig, view.message, dpi=dpi),)
        plt.close(fig)
        return out

    def stack(children, slider):
        s = w.Stack(children, selected_index=slider.index)
        w.jslink((slider, "index"), (s, "selected_index"))
        return s

    top = stack([stack([stack([page(k, s, t) for t in STEPS], sliders[2]) for s in INIT_SCALES], sliders[1])
                 for k in WIDTHS], sliders[0])
    controls = w.HBox(sliders, layout=w.Layout(flex_flow="row wrap"))
    return w.VBox([controls, top])
