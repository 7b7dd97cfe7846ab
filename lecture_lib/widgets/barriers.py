"""Widget of chapter 5: string sampling between two trained networks, at a chosen task and level.

Choose a task and a level ``u_0`` of the chapter's live experiment; the figure shows the
beads (projected on the plane of the end-to-end direction and the beads' largest deviation
from it), the energy profile of the path with the level marked, and where the pair lands on
the chapter's curve of normalized length against level (live points, and stored ones when
given). All options are computed when the chapter runs and stacked for the HTML book
(:func:`lecture_lib.widgets.display.precomputed_stack`); in Jupyter, "Run again" re-runs
string sampling on the chosen pair with a new bead seed, behind a busy indicator.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..paths import string_sampling


def plane(nodes: torch.Tensor) -> np.ndarray:
    """Coordinates ``(K, 2)`` of ``nodes (K, d)`` in the plane through the first node
    spanned by the end-to-end direction and the largest orthogonal deviation of the nodes."""
    nodes = nodes.detach().double().cpu()
    e1 = nodes[-1] - nodes[0]
    L = float(torch.linalg.vector_norm(e1))
    e1 = e1 / max(L, 1e-300)
    rel = nodes - nodes[0]
    along = rel @ e1
    perp = rel - along[:, None] * e1
    k = int(torch.linalg.vector_norm(perp, dim=1).argmax())
    n = float(torch.linalg.vector_norm(perp[k]))
    across = perp @ (perp[k] / n) if n > 0 else torch.zeros_like(along)
    return torch.stack([along, across], 1).numpy()


def render(result, task_name: str, level: float, curve=(), stored=()):
    """The figure and text for one string-sampling ``result`` (a PathResult) at ``level``.

    ``curve``: live ``(level, normalized_length)`` points of ``task_name``; ``stored``: the
    stored ones. Returns ``(fig, text)``.
    """
    fig, ax = plt.subplots(1, 3, figsize=(11, 3.2), constrained_layout=True)
    xy = plane(result.path.nodes)
    ax[0].plot(xy[:, 0], xy[:, 1], "-o", color="C0", ms=4)
    ax[0].plot(xy[[0, -1], 0], xy[[0, -1], 1], "s", color="k", ms=6)
    ax[0].set(title="beads (plane of the path)", xlabel="along a -> b", ylabel="across")
    ax[0].set_aspect("equal", adjustable="datalim")
    p = result.profile
    ax[1].plot(p.t.cpu().numpy(), p.energies.detach().cpu().numpy(), color="C0")
    ax[1].axhline(level, color="C3", ls="--", label=f"level $u_0$ = {level:g}")
    ax[1].set(title="energy along the path", xlabel="arc-length fraction t", ylabel="loss")
    ax[1].legend(fontsize=8)
    if stored:
        s = np.asarray(stored, dtype=float)
        ax[2].plot(s[:, 0], s[:, 1], "x", color="0.5", label="stored")
    if curve:
        c = np.asarray(curve, dtype=float)
        ax[2].plot(c[:, 0], c[:, 1], "o", color="C0", mfc="none", label="live")
    ax[2].plot([level], [result.normalized_length], "*", color="C3", ms=14, label="this pair")
    ax[2].set(title=f"{task_name}: normalized length", xlabel="level", ylabel="length / distance")
    ax[2].invert_xaxis()
    ax[2].legend(fontsize=8)
    text = (f"{task_name} at u0 = {level:g}: normalized length {result.normalized_length:.4f}, "
            f"{result.info.get('n_beads', len(xy) - 2)} beads, connected={result.connected}")
    fig.suptitle(text, fontsize=10)
    return fig, text


def update(entry: dict, *, rerun: bool = False, seed: int = 1, **options):
    """Figure for one option. ``entry`` holds ``task`` (a Task), ``level``, ``a``, ``b``,
    ``result`` (the chapter's PathResult), ``curve``, ``stored``. With ``rerun`` string
    sampling runs again from ``seed`` (greedy beads, Adam); returns ``(fig, text, result)``."""
    result = entry["result"]
    if rerun:
        kw = dict(method="greedy", optimizer="adam", max_depth=8, max_steps=300) | options
        result = string_sampling(entry["task"].energy, entry["a"], entry["b"], entry["level"],
                                 seed=seed, progress=False, **kw)
    fig, text = render(result, entry["task"].name, entry["level"], entry.get("curve", ()),
                       entry.get("stored", ()))
    return fig, text, result


def barrier_widget(entries: dict):
    """The widget: ``entries`` maps option labels to the dicts of :func:`update`."""
    import ipywidgets as w

    from .display import png_output, precomputed_stack

    labels = list(entries)
    control = w.Dropdown(options=labels, value=labels[0], description="task, level")
    stack = precomputed_stack(control, lambda label: update(entries[label])[:2])
    button = w.Button(description="Run again (new seed)", tooltip="re-runs string sampling: needs a running kernel",
                      layout=w.Layout(width="auto"))
    busy = w.Label("")
    live = w.Output()
    state = {"seed": 1}

    def on_click(_):
        busy.value = "running string sampling..."
        button.disabled = True
        try:
            state["seed"] += 1
            fig, text, _ = update(entries[control.value], rerun=True, seed=state["seed"])
            live.outputs = (png_output(fig, text),)
            plt.close(fig)
            busy.value = "done: " + text
        finally:
            button.disabled = False

    button.on_click(on_click)
    controls = w.HBox([control, button, busy], layout=w.Layout(flex_flow="row wrap"))
    return w.VBox([controls, stack, live])


def _by_level(records, task_name, key):
    """``{level: [values]}`` of the connected pairs of ``task_name`` (records or their dicts)."""
    out = {}
    for r in records:
        r = r if isinstance(r, dict) else r.__dict__
        if r["task"] == task_name and r["connected"]:
            out.setdefault(r["level"], []).append(r[key])
    return out


def four_panels(live, stored=(), tasks=("cubic", "mnist", "mnist1d", "text"), titles=None):
    """The lecture's figure: for each task, normalized length (top) and beads (bottom)
    against the level, every pair a point; stored pairs as grey crosses with their median
    joined, live pairs as blue circles. The level axis runs from high to low, as training does."""
    fig, axes = plt.subplots(2, len(tasks), figsize=(3.1 * len(tasks), 5.2), constrained_layout=True)
    for j, name in enumerate(tasks):
        for i, key in enumerate(("normalized_length", "n_beads")):
            ax = axes[i, j]
            for recs, style, label in ((stored, dict(marker="x", color="0.45"), "stored"),
                                       (live, dict(marker="o", color="C0", mfc="none"), "live")):
                groups = _by_level(recs, name, key)
                if not groups:
                    continue
                for u, vals in groups.items():
                    ax.plot([u] * len(vals), vals, ls="none", **style)
                levels = sorted(groups)
                ax.plot(levels, [float(np.median(groups[u])) for u in levels], "-", color=style["color"],
                        lw=1, label=label)
            ax.invert_xaxis()
            ax.set_xlabel("loss level $u_0$")
            if i == 0:
                ax.set_title((titles or {}).get(name, name), fontsize=10)
            if j == 0:
                ax.set_ylabel("normalized length" if i == 0 else "number of beads")
            if i == 0 and j == 0:
                ax.legend(fontsize=8)
    return fig


def small_multiples(entries: dict):
    """Static view of the widget's range: the energy profile of every option's path, level dashed."""
    n = len(entries)
    cols = min(n, 4)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 2.3 * rows), constrained_layout=True,
                             squeeze=False)
    for ax, (label, e) in zip(axes.flat, entries.items()):
        p = e["result"].profile
        ax.plot(p.t.cpu().numpy(), p.energies.detach().cpu().numpy(), color="C0")
        ax.axhline(e["level"], color="C3", ls="--")
        ax.set_title(f"{label}\nlength {e['result'].normalized_length:.3f}, "
                     f"{e['result'].info.get('n_beads', 0)} beads", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    return fig
