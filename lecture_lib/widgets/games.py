"""Widget of chapter 7: simultaneous gradient descent and symplectic gradient adjustment.

Two games from :mod:`lecture_lib.frontiers.games`, side by side: the bilinear zero-sum game
``l_1 = b x y = -l_2`` (purely Hamiltonian) and the game with both parts
``l_1 = a x^2 / 2 + b x y``, ``l_2 = a y^2 / 2 - b x y`` (``a = 1``, ``b = 10``, the example of
Balduzzi et al. 2018). ``update(lr, lam)`` runs both methods from one start on both games
(cached); ``draw`` draws the trajectories on the vector field ``-xi``; ``static_view`` is the
small-multiples figure; ``build()`` wires a learning-rate and an adjustment slider to
precomputed figures, so the controls also work in the HTML book without a kernel.

>>> view = update(0.01, 0.01)
>>> view.sga_ratio[0] < 1 < view.plain_ratio[0]   # bilinear: SGA contracts, plain descent spirals out
True
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.figure import Figure

from lecture_lib.frontiers import games
from lecture_lib.widgets.display import control_row, precomputed_grid

LRS = (0.01, 0.02, 0.032, 0.05)
LAMS = (0.0, 0.005, 0.01, 0.04)
START = (1.5, 1.0)
STEPS = 150
EXTENT = (-2.5, 2.5, -2.5, 2.5)
A, B = 1.0, 10.0


def chapter_games():
    """The two games of the widget: bilinear (``a = 0``) and mixed (``a = 1``), ``b = 10``."""
    return (games.quadratic_game(0.0, B, "bilinear (a=0, b=10)"),
            games.quadratic_game(A, B, "mixed (a=1, b=10)"))


@dataclass(frozen=True)
class GamesView:
    """One setting ``(lr, lam)``: ``plain[i]``, ``sga[i]`` are paths ``(steps + 1, 2)`` on game i,
    ``plain_ratio[i]``, ``sga_ratio[i]`` the final over the initial distance to the fixed point."""

    lr: float
    lam: float
    names: tuple
    plain: tuple
    sga: tuple
    plain_ratio: tuple
    sga_ratio: tuple
    message: str


@functools.lru_cache(maxsize=4)
def _sweep(steps: int):
    """Every ``(lr, lam)`` of the grid ``LRS x LAMS`` in one batched run per game and method."""
    settings = [(lr, lam) for lr in LRS for lam in LAMS]
    theta0 = torch.tensor([START] * len(settings), dtype=torch.float64)
    lrs, lams = [s[0] for s in settings], [s[1] for s in settings]
    out = []
    for g in chapter_games():
        plain = games.run(g, theta0, method="simultaneous", lr=lrs, steps=steps)
        sga = games.run(g, theta0, method="sga", lr=lrs, lam=lams, steps=steps)
        out.append((plain, sga))
    return settings, out


def _ratio(traj, j):
    r = float(traj.distance[-1, j] / traj.distance[0, j])
    return r if np.isfinite(r) else float("inf")


def update(lr: float, lam: float, steps: int = STEPS) -> GamesView:
    """Both methods on both games from ``START`` for one grid setting (``lam = 0``: SGA is plain descent)."""
    settings, runs = _sweep(int(steps))
    key = (float(lr), float(lam))
    if key not in settings:
        raise ValueError(f"(lr, lam) must be on the widget's grid lr in {LRS}, lam in {LAMS}; got {key}")
    j = settings.index(key)
    names = tuple(g.name for g in chapter_games())
    plain = tuple(p.path[:, j].numpy() for p, _ in runs)
    sga = tuple(q.path[:, j].numpy() for _, q in runs)
    pr = tuple(_ratio(p, j) for p, _ in runs)
    sr = tuple(_ratio(q, j) for _, q in runs)
    msg = "; ".join(f"{n}: plain x{a:.2g}, SGA x{b:.2g}" for n, a, b in zip(names, pr, sr))
    return GamesView(key[0], key[1], names, plain, sga, pr, sr,
                     f"lr={lr:g}, lambda={lam:g}, {steps} steps, distance to the fixed point: {msg}")


def _clip(path):
    """Points of a trajectory ``(T, 2)`` up to where it leaves twice the window."""
    lim = 2 * max(abs(v) for v in EXTENT)
    inside = np.isfinite(path).all(1) & (np.abs(path) < lim).all(1)
    stop = len(path) if inside.all() else int(np.argmin(inside))
    return path[:max(stop, 1)]


def draw_game(view: GamesView, i: int, ax) -> None:
    """Panel ``i``: the field ``-xi`` (arrows), plain descent (red) and SGA (blue)."""
    g = chapter_games()[i]
    X, Y, U, V = games.vector_field(g, EXTENT, 13)
    norm = np.hypot(U, V) + 1e-12
    ax.quiver(X, Y, U / norm, V / norm, color="0.75", width=0.004)
    for path, color, label in ((view.plain[i], "tab:red", "simultaneous"), (view.sga[i], "tab:blue", "SGA")):
        p = _clip(path)
        ax.plot(p[:, 0], p[:, 1], color=color, lw=1.3, label=label)
        ax.plot(p[-1, 0], p[-1, 1], "o", color=color, ms=3)
    ax.plot(*START, "k*", ms=8)
    ax.set(xlim=EXTENT[:2], ylim=EXTENT[2:], aspect="equal", title=view.names[i], xlabel="$x$ (player 1)",
           ylabel="$y$ (player 2)")
    ax.legend(loc="lower left", fontsize=7)


def draw(view: GamesView, figsize=(8.4, 4.0)) -> Figure:
    """Both games for one ``(lr, lam)``."""
    fig = Figure(figsize=figsize, layout="constrained")
    for i, ax in enumerate(fig.subplots(1, 2)):
        draw_game(view, i, ax)
    fig.suptitle(f"learning rate {view.lr:g}, adjustment $\\lambda$ = {view.lam:g}", fontsize=10)
    return fig


def static_view(settings=((0.01, 0.0), (0.01, 0.01), (0.032, 0.0), (0.032, 0.01), (0.05, 0.04))) -> Figure:
    """Small multiples: one column per ``(lr, lam)``, rows = the two games."""
    fig = Figure(figsize=(2.4 * len(settings), 5.0), layout="constrained")
    axes = fig.subplots(2, len(settings), squeeze=False)
    for j, (lr, lam) in enumerate(settings):
        view = update(lr, lam)
        for i in range(2):
            draw_game(view, i, axes[i, j])
            axes[i, j].set_title(f"{view.names[i].split(' ')[0]}, lr {lr:g}, $\\lambda$ {lam:g}", fontsize=8)
            axes[i, j].legend().set_visible(i == 0 and j == 0)
    return fig


def build():
    """Learning-rate and adjustment sliders over a Stack of Stacks of precomputed figures.

    The outer ``Stack`` is ``jslink``-ed to the learning-rate slider's ``index``, each inner
    one to the adjustment slider's: every combination is rendered when the chapter runs, so
    both controls change the figure in the HTML book, where there is no kernel.
    """
    import ipywidgets as w

    lr = w.SelectionSlider(options=list(LRS), value=0.032, description="lr η")
    lam = w.SelectionSlider(options=list(LAMS), value=0.01, description="λ")
    def render(lr_value, lam_value):
        view = update(lr_value, lam_value)
        return draw(view), view.message

    return w.VBox([control_row(lr, lam), precomputed_grid([lr, lam], render)])
