"""Widget and experiment of chapter 3: two-layer quadratic networks against their convex lift.

:func:`experiment` trains many seeds of ``U (W x)^2`` at once (:func:`lecture_lib.train.fit_ensemble`)
on a small regression problem, compares their final losses with the global minimum of the
convex lifted problem (:func:`lecture_lib.lifting.lifted_solution`), and joins the two best
runs by dynamic string sampling (:func:`lecture_lib.paths.string_sampling`) inside the
sublevel set at ``level = max(E(a), E(b)) + 0.05 * scale``. ``update(M, N, target)`` is the
widget's plain update function (cached: :func:`functools.lru_cache` on the arguments);
``draw`` / ``static_view`` make figures; ``build()`` wires ipywidgets to them.

Losses are reported as *gaps* ``(E - E*) / scale`` with ``E*`` the lifted optimum and
``scale = E(0) - E* = mean(y^2) - E*`` (the loss of the zero network above the optimum),
so 0 is the global minimum and 1 the zero network. A run *reaches* the global minimum when
its gap is at most ``tol`` (1e-3). Targets are scaled to ``mean(y^2) = 1``.

Example::

    >>> from lecture_lib.widgets import quadratic
    >>> r = quadratic.update(9, 4, "random")   # M = 9 > 2N = 8
    >>> r.fraction_reached
    1.0
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.figure import Figure

from lecture_lib import paths
from lecture_lib.runtime import one_thread
from lecture_lib.topics import lifting
from lecture_lib.data import teacher_student
from lecture_lib.energy import model_energy
from lecture_lib.models import QuadraticNet
from lecture_lib.train import fit_ensemble
from lecture_lib.widgets.display import control_row, precomputed_grid

TARGETS = ("random", "planted")
N_RANGE = (2, 6)  # input dimensions N the widget offers
GAP_FLOOR = 1e-12  # gaps below this are drawn on the floor of the log axis
_mse = torch.nn.functional.mse_loss


def width_range(n_in: int) -> tuple[int, int]:
    """Widths ``M`` the widget offers for input dimension ``N``: 1 to ``3 N``."""
    return 1, 3 * int(n_in)


def planted_teacher(n_in: int, seed: int = 0) -> QuadraticNet:
    """A width-``N`` teacher ``U (W x)^2`` with orthonormal rows ``W`` (a random rotation drawn
    from ``seed``) and output weights ``+1, -1, +1, ...``: its lifted matrix ``W^T diag(U) W``
    has all ``N`` eigenvalues of size 1 and both signs, so every rank-``(N - 1)`` matrix is far
    from it and widths ``M < N`` cannot fit it."""
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(n_in, n_in, generator=g, dtype=torch.float64))
    teacher = QuadraticNet(n_in, n_in).double()
    with torch.no_grad():
        teacher.W.copy_(Q.T)
        teacher.U.copy_(torch.tensor([[(-1.0) ** k for k in range(n_in)]], dtype=torch.float64))
    return teacher


@functools.lru_cache(maxsize=16)
def problem(n_in: int, target: str, seed: int = 0):
    """Data ``x (n, N)``, ``y (n, 1)`` in float64 with ``n = 3 N (N + 1) / 2`` samples.

    ``"random"``: ``x ~ N(0, I)``, ``y ~ N(0, 1)`` independent, so no network fits them and
    the lifted optimum is positive. ``"planted"``: ``y = teacher(x)`` with the width-``N``
    :func:`planted_teacher` (through :func:`lecture_lib.data.teacher_student`), whose lifted
    matrix has full rank ``N``: the optimum is 0 and needs width ``M >= N``. Both scaled to mean square 1.
    """
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; options: {TARGETS}")
    n_in = int(n_in)
    n = 3 * n_in * (n_in + 1) // 2
    if target == "planted":
        data = teacher_student(planted_teacher(n_in, seed), n, seed, dtype=torch.float64)
        x, y = data.x_train, data.y_train
    else:
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(n, n_in, generator=g, dtype=torch.float64)
        y = torch.randn(n, 1, generator=g, dtype=torch.float64)
    return x, y / y.square().mean().sqrt()


@dataclass(frozen=True)
class QuadraticResult:
    """One width ``M`` at one input dimension ``N`` (see the module docstring).

    ``final_losses (n_seeds,)``; ``thetas (n_seeds, d)`` the trained parameters;
    ``run_ranks``: numerical rank (``rtol=1e-6``) of each run's lifted matrix; ``inertia``
    ``(p, q)``: numbers of positive and negative eigenvalues of the lifted minimiser;
    ``sign_counts``: per run, the numbers of neurons with ``u_k |w_k|^2`` positive and
    negative; ``compatible`` (bool per run): ``n_pos >= p`` and ``n_neg >= q``, which
    Sylvester's law of inertia requires of any network reaching the minimiser (with
    ``init_compatible`` the same at initialisation); ``optimum`` (lifted global minimum
    ``E*``), ``rank`` of the lifted minimiser; ``scale``; ``gaps (n_seeds,)``; ``reached``
    (bool per seed), ``fraction_reached``; ``tol``; ``path``
    (:class:`~lecture_lib.paths.PathResult` of string sampling between the two best runs, or
    None), ``straight`` (sampled profile of the straight segment between them), ``level``;
    ``message``.
    """

    n_in: int
    width: int
    target: str
    n_samples: int
    n_seeds: int
    steps: int
    final_losses: torch.Tensor
    thetas: torch.Tensor
    run_ranks: tuple
    inertia: tuple
    sign_counts: tuple
    compatible: torch.Tensor
    init_compatible: torch.Tensor
    optimum: float
    rank: int
    scale: float
    gaps: torch.Tensor
    reached: torch.Tensor
    fraction_reached: float
    tol: float
    path: paths.PathResult | None
    straight: paths.Profile | None
    level: float
    message: str


def _check(n_in, width, target, n_seeds, steps):
    if int(n_in) != n_in or not N_RANGE[0] <= n_in <= 12:
        raise ValueError(f"n_in (N) must be an integer in [{N_RANGE[0]}, 12], got {n_in!r}")
    if int(width) != width or width < 1:
        raise ValueError(f"width (M) must be a positive integer, got {width!r}")
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; options: {TARGETS}")
    if int(n_seeds) != n_seeds or n_seeds < 2 or int(steps) != steps or steps < 1:
        raise ValueError(f"need n_seeds >= 2 and steps >= 1 (integers), got {n_seeds!r}, {steps!r}")


def experiment(n_in: int, width: int, target: str = "random", *, n_seeds: int = 32, steps: int = 600,
               lr: float = 0.02, tol: float = 1e-3, seed: int = 0, path: bool = True) -> QuadraticResult:
    """Train ``n_seeds`` networks ``QuadraticNet(N, M)`` (Adam, full batch, float64, seeds
    ``1000 * seed + i``) on :func:`problem` and compare them with the lifted optimum.

    With ``path=True`` the two runs of lowest loss are joined by greedy string sampling at
    ``level = max(E(a), E(b)) + 0.05 * scale``, and the straight segment is profiled (sampled:
    an estimate).
    """
    _check(n_in, width, target, n_seeds, steps)
    return _experiment(int(n_in), int(width), target, int(n_seeds), int(steps), float(lr), float(tol),
                       int(seed), bool(path))


@functools.lru_cache(maxsize=128)  # keyed on the normalised positional arguments
def _experiment(n_in, width, target, n_seeds, steps, lr, tol, seed, path):
    with one_thread():  # tiny matmuls: measured 5-20x faster on one thread than on two busy cores
        return _run(n_in, width, target, n_seeds, steps, lr, tol, seed, path)


def _run(n_in, width, target, n_seeds, steps, lr, tol, seed, path):
    x, y = problem(n_in, target, seed)
    sol = lifting.lifted_solution(x, y)
    scale = float(y.square().mean()) - sol.loss
    net = QuadraticNet(n_in, width).double()
    make = lambda: QuadraticNet(n_in, width).double()  # noqa: E731
    seeds = [1000 * seed + i for i in range(n_seeds)]
    fit = fit_ensemble(make, n_seeds, _mse, x, y, steps=steps, lr=lr, seeds=seeds, progress=False)
    thetas, losses = fit.thetas.detach(), fit.final_losses.detach().double()
    gaps = (losses - sol.loss) / scale
    reached = gaps <= tol
    level, straight, run = _connect(net, x, y, thetas, losses, scale) if path else (float("nan"), None, None)
    p, q = lifting.inertia(sol.A[0])
    counts = lifting.sign_counts(*net.split_theta(thetas)[::-1])
    init = torch.stack([_initial_theta(make, s) for s in seeds])  # (n_seeds, d)
    init_counts = lifting.sign_counts(*net.split_theta(init)[::-1])
    ok = lambda c: torch.tensor([a >= p and b >= q for a, b in c])  # noqa: E731
    ranks = tuple(lifting.symmetric_rank(a, rtol=1e-6) for a in lifting.lift_theta(net, thetas)[:, 0])
    frac = float(reached.double().mean())
    msg = (f"N={n_in}, M={width}, {target}: {int(reached.sum())}/{n_seeds} runs reach the global "
           f"minimum E*={sol.loss:.4g} (gap <= {tol:g})")
    if run is not None:
        msg += (f"; two best runs {'joined' if run.connected else 'not joined (no path found)'} below "
                f"u={level:.4g} by string sampling, normalized length {run.normalized_length:.3f}")
    return QuadraticResult(n_in, width, target, len(x), n_seeds, steps, losses, thetas, ranks, (p, q),
                           counts, ok(counts), ok(init_counts), sol.loss, sol.ranks[0], scale, gaps,
                           reached, frac, tol, run, straight, level, msg)


def _connect(net, x, y, thetas, losses, scale):
    """Greedy string sampling between the two runs of lowest loss, and the straight segment."""
    i, j = torch.argsort(losses)[:2].tolist()
    a, b = thetas[i], thetas[j]
    E = model_energy(net, _mse, x, y)
    level = max(float(losses[i]), float(losses[j])) + 0.05 * scale
    straight = paths.profile(E, paths.linear(a, b))
    # Chapter 3's bead rule: normalized steps kept only when the loss decreases, tolerances
    # scaled by the margin above the lower endpoint (the chapter's published settings; the
    # smooth MSE loss suits monotone steps). The defaults (Adam beads) join the same pairs by
    # longer paths with fewer beads.
    return level, straight, paths.string_sampling(E, a, b, level, method="greedy", optimizer="normalized",
                                                  energy_floor=None, progress=False)


def _initial_theta(make, seed):
    """The starting point ``fit_ensemble`` gives the member with this seed."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return torch.nn.utils.parameters_to_vector(make().parameters()).detach()


def sweep(n_in: int, widths, target: str = "random", **kwargs) -> tuple[QuadraticResult, ...]:
    """:func:`experiment` at each width (each cached); keyword arguments are passed on."""
    return tuple(experiment(int(n_in), int(m), target, **kwargs) for m in widths)


def update(M: int, N: int, target: str = "random", *, n_seeds: int = 32, steps: int = 600) -> QuadraticResult:
    """The widget's update: :func:`experiment` at width ``M`` and input dimension ``N``."""
    lo, hi = width_range(N) if int(N) == N else (1, 0)
    if not N_RANGE[0] <= N <= N_RANGE[1] or not lo <= M <= hi:
        raise ValueError(f"need {N_RANGE[0]} <= N <= {N_RANGE[1]} and 1 <= M <= 3N, got M={M!r}, N={N!r}")
    return experiment(int(N), int(M), target, n_seeds=n_seeds, steps=steps)


def plot_sweep(results, ax_frac, ax_gap, label=None, color=None) -> None:
    """Fraction of runs at the global minimum (``ax_frac``) and every run's gap (``ax_gap``,
    log scale) against the width, with ``M = N`` and the bound ``M = 2N`` marked."""
    M = np.array([r.width for r in results])
    ax_frac.plot(M, [r.fraction_reached for r in results], "o-", color=color, label=label)
    for r in results:
        g = np.clip(r.gaps.numpy(), GAP_FLOOR, None)
        jitter = (np.arange(len(g)) / max(len(g) - 1, 1) - 0.5) * 0.4
        ax_gap.plot(r.width + jitter, g, ".", color=color, ms=3, alpha=0.6)
    N = results[0].n_in
    for ax in (ax_frac, ax_gap):
        ax.axvline(2 * N, color="k", ls="--", lw=1)
        ax.axvline(N, color="0.6", ls=":", lw=1)
    ax_gap.axhline(results[0].tol, color="tab:red", lw=0.8)
    ax_frac.set(xlabel="width $M$", ylabel="fraction at global min", ylim=(-0.05, 1.05))
    ax_gap.set(xlabel="width $M$", ylabel=r"gap $(E - E^*)/(E(0) - E^*)$", yscale="log")


def draw_losses(r: QuadraticResult, ax) -> None:
    """Every run's gap to the lifted optimum, sorted, on a log axis; the tolerance in red."""
    g = np.sort(np.clip(r.gaps.numpy(), GAP_FLOOR, None))
    colors = np.where(g <= r.tol, "tab:blue", "tab:orange")
    ax.scatter(np.arange(len(g)), g, c=colors, s=12)
    ax.axhline(r.tol, color="tab:red", lw=0.8)
    ax.set(yscale="log", ylim=(GAP_FLOOR / 3, 3), xlabel="run (sorted)", ylabel="gap to $E^*$")
    ax.set_title(f"M={r.width}, N={r.n_in}: {r.fraction_reached:.0%} at $E^*$", fontsize=9)


def draw_profile(r: QuadraticResult, ax) -> None:
    """Energy along the straight segment and along the string between the two best runs."""
    if r.path is None:
        ax.text(0.5, 0.5, "no path computed", ha="center", transform=ax.transAxes)
        return
    ax.plot(r.straight.t.numpy(), r.straight.energies.numpy(), color="0.5", label="straight line")
    p = r.path.profile
    ax.plot(p.t.numpy(), p.energies.numpy(), color="tab:green", label="string")
    ax.axhline(r.level, color="tab:red", ls="--", lw=0.8, label="level $u$")
    ax.axhline(r.optimum, color="k", lw=0.6, label="$E^*$")
    ax.set(xlabel="arc-length fraction $t$", ylabel="loss $E$")
    ax.set_title(("path found below $u$" if r.path.connected else "no path found below $u$")
                 + f", length x{r.path.normalized_length:.2f}", fontsize=9)


def draw(r: QuadraticResult, figsize=(9.0, 3.4)) -> Figure:
    """The widget's figure: gaps of all runs (left), profiles between the two best (right)."""
    fig = Figure(figsize=figsize)
    ax_l, ax_r = fig.subplots(1, 2)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.16, top=0.88, wspace=0.28)
    draw_losses(r, ax_l)
    draw_profile(r, ax_r)
    ax_r.legend(fontsize=7, loc="upper right")
    return fig


def static_view(N: int = 4, widths=None, targets=TARGETS, **kwargs) -> Figure:
    """Small multiples for the HTML: one row per target, one column per width (default
    ``N - 1, N, 2N, 2N + 1``), each showing the runs' gaps to the global minimum."""
    widths = (N - 1, N, 2 * N, 2 * N + 1) if widths is None else tuple(widths)
    fig = Figure(figsize=(2.3 * len(widths), 2.2 * len(targets)), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(targets), len(widths), sharey=True, squeeze=False))
    for row, target in zip(axes, targets):
        for ax, M in zip(row, widths):
            r = update(M, N, target, **kwargs)
            draw_losses(r, ax)
            ax.set_title(f"{target}, M={M}: {r.fraction_reached:.0%}", fontsize=9)
            ax.set(xlabel="", ylabel="")
    axes[0, 0].set_ylabel("gap to $E^*$")
    return fig


def default_widths(N: int, M: int | None = None) -> tuple[int, ...]:
    """The widths the widget offers at input dimension ``N`` (below, at and above ``N``,
    up to ``3N``), plus ``M``: at ``N = 4``, ``(2, 3, 4, 6, 9, 12)``, all in the chapter's sweep."""
    widths = {max(1, N // 2), max(1, N - 1), N, (3 * N) // 2, 2 * N + 1, 3 * N}
    if M is not None:
        widths.add(int(M))
    return tuple(sorted(widths))


def build(M: int = 9, N: int = 4, target: str = "random", widths=None, **kwargs):
    """The widget at input dimension ``N``: a Dropdown (target) and a width slider ``M``
    over ``widths`` (default :func:`default_widths`) above :func:`draw`'s figure.

    Every figure is computed when the widget is built (each :func:`experiment` is cached, so
    widths the chapter already swept cost only the drawing) and switched in the browser
    through nested ``Stack``s (:func:`lecture_lib.widgets.display.precomputed_grid`): the
    controls change the figure in the HTML book too, with no kernel, and nothing is slow
    after the build: moving a control never trains. ``kwargs``
    (``n_seeds``, ``steps``) go to :func:`update`. Returns ``VBox([HBox(controls), Stack])``.
    """
    import ipywidgets as w

    update(M, N, target, **kwargs)  # validates the starting point
    widths = default_widths(N, M) if widths is None else tuple(sorted({int(m) for m in widths}))
    for m in widths:
        update(m, N, target, **kwargs)  # validates every width before the long part
    dropdown = w.Dropdown(options=list(TARGETS), value=target, description="target")
    m_slider = w.SelectionSlider(options=list(widths), value=int(M), description="width M")

    def render(t, m):
        r = update(m, N, t, **kwargs)
        return draw(r), r.message

    stack = precomputed_grid([dropdown, m_slider], render)
    title = w.HTML(f"input dimension N = {N}")
    return w.VBox([control_row(title, dropdown, m_slider), stack])
