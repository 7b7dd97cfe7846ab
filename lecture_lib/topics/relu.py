"""Chapter 4: ReLU networks are not linear networks, and become connected when wide.

Two computations on ``Phi(x; Theta) = W_2 rho(W_1 x)``, ``rho(z) = max(z, 0)``, ``W_1: (m, n)``,
``W_2: (1, m)`` (:class:`lecture_lib.models.TwoLayer`, no biases), square loss:

1. **Two valleys** (in the spirit of Freeman & Bruna 2017, Prop. 2.1). Data ``x = +e_1, -e_1``
   with targets ``y = 1, 1`` and width ``m = 2``. A zero-loss network needs one neuron with
   ``w_{k1} > 0`` (it alone can answer at ``+e_1``) and one with ``w_{j1} < 0``. The two
   minima ``theta_a`` (neuron 1 faces ``+e_1``) and ``theta_b`` (the neurons swapped) are joined
   only by paths on which some ``w_{k1}`` crosses 0; there the other neuron answers at one
   input only, so one residual is 1 and ``E >= 1/2``. Hence ``N_u = 2`` for ``0 <= u < 1/2``:
   two valleys, both holding a global minimum (:func:`valley_problem`, :func:`valleys`).
   The slice ``W_2 = (1, 1)``, coordinates ``(w_11, w_21)``, is faithful: on each sign
   region the loss depends on ``(v_1 w_11, v_2 |w_21|)`` only, and the slice meets each valley
   in a connected set and contains a path at the merge level ``1/2`` (chapter text).
2. **The rate** ``epsilon ~ m^{-1/n}`` of Freeman & Bruna's Theorem 2.4, measured on trained
   pairs: :mod:`lecture_lib.topics.relu_rate`.

>>> E = valley_energy()
>>> a, b = valley_minima()
>>> E(torch.stack([a, b])).tolist()
[0.0, 0.0]
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lecture_lib import paths, sublevel
from lecture_lib.arguments import positive_int, real
from lecture_lib.energy import model_energy
from lecture_lib.models import TwoLayer
from lecture_lib.runtime import full_scale, one_thread

MERGE_LEVEL = 0.5  # the proven lowest level joining the two valleys (module docstring)
SLICE_EXTENT = (-2.0, 2.0, -2.0, 2.0)


def default_device() -> str:
    """``"cuda"`` for the full sweeps on a GPU machine, else ``"cpu"``."""
    return "cuda" if full_scale() and torch.cuda.is_available() else "cpu"


# ----------------------------------------------------------------------------- two valleys

def valley_problem(n_in: int = 1, dtype=torch.float64):
    """Data ``x (2, n_in)`` = ``+e_1, -e_1`` and targets ``y (2, 1)`` = ``1, 1``."""
    n_in = positive_int("n_in", n_in)
    x = torch.zeros(2, n_in, dtype=dtype)
    x[0, 0], x[1, 0] = 1.0, -1.0
    return x, torch.ones(2, 1, dtype=dtype)


def valley_energy(n_in: int = 1):
    """``E(theta) = mean_i (Phi(x_i; theta) - 1)^2`` of ``TwoLayer(n_in, 2, 1)`` (float64)
    on :func:`valley_problem`, an energy ``(B, 2 n_in + 2) -> (B,)``; each row of ``theta``
    is ``W_1`` (row-major) followed by ``W_2``."""
    x, y = valley_problem(n_in)
    return model_energy(TwoLayer(int(n_in), 2, 1).double(), F.mse_loss, x, y)


def valley_minima(n_in: int = 1):
    """The two zero-loss parameters: ``theta_a`` has ``w_1 = e_1``, ``w_2 = -e_1``,
    ``W_2 = (1, 1)``; ``theta_b`` is ``theta_a`` with the two neurons swapped."""
    n_in = positive_int("n_in", n_in)
    W1 = torch.zeros(2, n_in, dtype=torch.float64)
    W1[0, 0], W1[1, 0] = 1.0, -1.0
    W2 = torch.ones(2, dtype=torch.float64)
    a = torch.cat([W1.reshape(-1), W2])
    b = torch.cat([W1.flip(0).reshape(-1), W2])
    return a, b


def embed_slice(w: torch.Tensor, n_in: int = 1) -> torch.Tensor:
    """Points ``(w_11, w_21)`` of the slice, ``(B, 2)``, as full parameters ``(B, 2 n_in + 2)``:
    the other input weights 0, ``W_2 = (1, 1)``."""
    B = w.shape[0]
    theta = torch.zeros(B, 2 * n_in + 2, dtype=w.dtype, device=w.device)
    theta[:, 0], theta[:, n_in] = w[:, 0], w[:, 1]
    theta[:, 2 * n_in:] = 1.0
    return theta


def slice_energy(n_in: int = 1):
    """The network's loss restricted to the slice: ``(B, 2) -> (B,)``, through the full energy."""
    E = valley_energy(n_in)
    return lambda w: E(embed_slice(w, n_in))


@dataclass(frozen=True)
class ValleyResult:
    """The two-valley experiment.

    ``levels``; per level: ``strings`` (constrained string sampling between the two minima,
    :class:`~lecture_lib.paths.PathResult`), ``grid_components`` (``N_u`` on the slice by
    :func:`lecture_lib.sublevel.components`); ``band`` (NEB between the minima, no level),
    ``grid``, ``tree`` (merge tree of the slice), ``grid_merge_level`` (level at which the
    valleys of the two minima merge on the grid); ``message``.
    """

    levels: tuple
    strings: tuple
    grid_components: tuple
    band: paths.PathResult
    grid: sublevel.Grid
    tree: sublevel.MergeTree
    grid_merge_level: float
    message: str


@functools.lru_cache(maxsize=4)
def valleys(levels=(0.4, 0.6), resolution: int = 161) -> ValleyResult:
    """Search for paths between the two minima at each level, and count valleys on the slice.

    String sampling is the lecture's constrained variant (beads on the hyperplane through the
    midpoint, ``fraction=0.95``, ``accept_tol=1e-3``, Adam-free "normalized" descent, at most
    10 rounds); greedy beads trained freely slide to a minimum here and never reach the pass.
    NEB: 15 images, FIRE, spring 1, steps at most 0.05, climbing image, jitter 0.1 (the
    straight segment runs through the flat point ``W_1 = 0``, where every force vanishes).
    """
    levels = tuple(real("level", u) for u in levels)
    with one_thread():
        return _valleys(levels, positive_int("resolution", resolution))


def _valleys(levels, resolution):
    E = valley_energy()
    a, b = valley_minima()
    strings = tuple(paths.string_sampling(E, a, b, u, method="constrained", fraction=0.95,
                                          accept_tol=1e-3, max_depth=10, optimizer="normalized",
                                          progress=False, seed=0) for u in levels)
    band = paths.neb(E, a, b, n_images=15, optimizer="fire", spring=1.0, max_step=0.05,
                     climbing=True, jitter=0.1, max_iter=1000, seed=0, progress=False)
    g = sublevel.grid(slice_energy(), SLICE_EXTENT, int(resolution))
    counts = tuple(sublevel.components(g, u)[1] for u in levels)
    tree = sublevel.merge_tree(g)
    merge = _merge_of_minima(g, tree)
    msg = (f"N_u on the slice: {dict(zip(levels, counts))}; grid merge level {merge:.4g} "
           f"(proven {MERGE_LEVEL}); NEB path max {band.max_energy:.4g}")
    return ValleyResult(levels, strings, counts, band, g, tree, merge, msg)


def _merge_of_minima(g: sublevel.Grid, tree: sublevel.MergeTree) -> float:
    """The lowest grid level at which the nodes of ``(1, -1)`` and ``(-1, 1)`` share a component."""
    ia, ib = g.index((1.0, -1.0)), g.index((-1.0, 1.0))
    for m in sorted(tree.merges, key=lambda m: m.level):
        labels, _ = sublevel.components(g, m.level)
        if labels[ia] and labels[ia] == labels[ib]:
            return float(m.level)
    return math.inf
