"""Chapter 5a's widget: where networks of each width stall, against the barrier beta(M, N).

The computing is done by :mod:`lecture_lib.topics.barriers` (``beta`` and
``train_quadratic_nets``); this module only draws. :func:`render` draws one width: the
sorted final losses of the runs of that width beside the upper bound on ``beta(M, N)``
and ``min E``, and the overview of every width with the chosen one highlighted.
:func:`build` puts one precomputed figure per width behind a ``SelectionSlider``, so the
slider changes the figure in the HTML book with no kernel.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .display import control_row, precomputed_stack


def _check(betas: dict, stalls: dict) -> list:
    widths = sorted(betas)
    if not widths or sorted(stalls) != widths:
        raise ValueError(f"betas and stalls must have the same widths, got {sorted(betas)} and "
                         f"{sorted(stalls)}")
    return widths


def summary(betas: dict, stalls: dict, M: int) -> str:
    """One line: how many runs of width ``M`` stall above the bound on ``beta(M, N)``.

    >>> from types import SimpleNamespace as S
    >>> summary({2: S(upper=1.0, lower=0.5, q=3)}, {2: np.array([0.9, 1.5])}, 2)
    'M = 2 (q = 3): 1 of 2 runs above the bound 1 on beta(M, N); best 0.9'
    """
    losses = np.asarray(stalls[M], dtype=float)
    above = int((losses > betas[M].upper * 1.01).sum())
    return (f"M = {M} (q = {betas[M].q}): {above} of {losses.size} runs above the bound "
            f"{betas[M].upper:.4g} on beta(M, N); best {losses.min():.4g}")


def render(betas: dict, stalls: dict, M: int, figsize=(8.0, 3.2)):
    """``(fig, text)`` for width ``M``: its runs (left), every width (right)."""
    widths = _check(betas, stalls)
    if M not in betas:
        raise ValueError(f"M must be one of the widths {widths}, got {M!r}")
    fig, (ax, ax_all) = plt.subplots(1, 2, figsize=figsize, constrained_layout=True)
    losses = np.sort(np.asarray(stalls[M], dtype=float))
    ax.plot(np.arange(1, losses.size + 1), losses, "o", color="C0", label="runs, sorted")
    ax.axhline(betas[M].upper, color="C3", label=r"bound on $\beta(M, N)$")
    ax.axhline(betas[M].lower, color="k", ls=":", label=r"$\min E$")
    ax.set(xlabel="run", ylabel="final loss", yscale="log", title=f"width M = {M}")
    ax.legend(fontsize=7)
    for m in widths:
        ax_all.plot([m] * len(stalls[m]), stalls[m], "o", mfc="none", alpha=0.6,
                    color="C1" if m == M else "C0")
    ax_all.step(widths, [betas[m].upper for m in widths], "-", where="post", color="C3")
    ax_all.axvline(M, color="C1", lw=0.8)
    ax_all.set(xlabel="width M", yscale="log", title="every width")
    return fig, summary(betas, stalls, M)


def build(betas: dict, stalls: dict):
    """The widget: a width slider over one precomputed figure per width."""
    import ipywidgets as w

    widths = _check(betas, stalls)
    slider = w.SelectionSlider(options=widths, value=widths[0], description="width M",
                               continuous_update=False)
    stack = precomputed_stack(slider, lambda M: render(betas, stalls, M))
    return w.VBox([control_row(slider), stack])
