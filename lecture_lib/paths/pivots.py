"""Pivots for a band that must stay under a level: the bead step of string sampling inside NEB.

NEB is local: it relaxes its starting band to the nearest minimum energy path, whose saddle
can lie above a level under which another path exists (on the 1-4-4-1 cubic net of issue 8,
the band from the straight segment peaks at 0.140 while string sampling joins the same ends
under 0.12). With a ``level``, :func:`lecture_lib.paths.neb` then takes the highest image of
the relaxed band, descends it freely until ``E <= target`` (a bead of Freeman & Bruna's
dynamic string sampling, :func:`lecture_lib.paths.strings._descend`), fixes it as a pivot,
re-spaces the images between the fixed nodes and relaxes the band again with the pivots held.
Each pivot is a point under the level that the band must pass through, so every round
splits one hump of the path in two, as the dynamic string does; a pivot that cannot be
brought under the target ends the search with "no path found" (never a claim that none
exists).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .certify import profile
from .polygon import Path, linear
from .strings import DEFAULT_LR, _descend


def respace(nodes: Tensor, fixed: list[int], keep_counts: bool = False) -> tuple[Tensor, list[int]]:
    """The band ``nodes (K, d)`` with its free images re-spaced at equal arc length between
    consecutive fixed nodes (indices ``fixed``, first and last included), each interval given
    a number of images proportional to its arc length (at least 1 where there is room), or
    the number it has (``keep_counts``). Returns the new band of ``K`` nodes and the new
    indices of the fixed nodes.

    >>> nodes = torch.tensor([[0., 0.], [3., 0.], [1., 0.], [4., 0.]])  # fixed 0, 2, 3
    >>> new, fixed = respace(nodes, [0, 2, 3])
    >>> fixed, new[:, 0].tolist()
    ([0, 2, 3], [0.0, 2.5, 1.0, 4.0])
    """
    K, free = nodes.shape[0], nodes.shape[0] - len(fixed)
    pieces = [Path(nodes[i:j + 1]) for i, j in zip(fixed[:-1], fixed[1:])]
    lengths = torch.tensor([p.length() for p in pieces])
    share = lengths / lengths.sum().clamp_min(torch.finfo(lengths.dtype).tiny) * free
    if keep_counts:
        share = torch.tensor([j - i - 1 for i, j in zip(fixed[:-1], fixed[1:])], dtype=lengths.dtype)
    counts = share.floor().long()
    for k in torch.argsort(share - counts, descending=True)[:free - int(counts.sum())]:
        counts[k] += 1  # largest remainders
    while bool((counts == 0).any()) and int(counts.max()) > 1:  # room for one image per interval
        counts[counts.argmax()] -= 1
        counts[(counts == 0).nonzero()[0]] += 1
    out, new_fixed = [nodes[:1]], [0]
    for p, c in zip(pieces, counts.tolist()):
        out.append(p.resample(c + 2).nodes[1:])
        new_fixed.append(new_fixed[-1] + c + 1)
    return torch.cat(out), new_fixed


def descend_pivot(E, nodes: Tensor, top: int, target: float, *, generator: torch.Generator,
                  max_steps: int = 5000, patience: int = 250, noise: float = 1e-3):
    """Descend the image ``nodes[top]`` freely until ``E <= target`` (Adam, best point kept,
    the adaptive budget of string sampling's beads; rate in units of ``h``, the distance
    between its two neighbours). It starts displaced by ``noise * h`` in a random direction:
    a climbing image sits at a saddle, where the gradient vanishes. Returns the point, its
    energy and why it stopped (``"target"``, ``"stalled"`` or ``"budget"``)."""
    h = torch.linalg.vector_norm(nodes[top + 1] - nodes[top - 1]).reshape(1)
    kick = torch.randn(nodes.shape[1], generator=generator, dtype=nodes.dtype, device=nodes.device)
    start = nodes[top] + noise * h * kick / math.sqrt(nodes.shape[1])
    theta, values, _, why = _descend(E, start[None], target, h=h, optimizer="adam", lr=DEFAULT_LR["adam"],
                                     max_steps=max_steps, patience=patience)
    return theta[0], float(values[0]), why[0]


def highest_free(energies: Tensor, fixed: list[int]) -> int:
    """Index of the highest node of the band that is not fixed."""
    e = energies.clone()
    e[fixed] = -math.inf
    return int(e.argmax())


def _node_to_replace(nodes: Tensor, energies: Tensor, t_max: float, fixed: list[int]) -> int | None:
    """The free node that the pivot replaces: the higher free end of the segment holding the
    profile's maximum, else the highest free node; None when every node is fixed."""
    arc = Path(nodes).arc()
    k = int(torch.searchsorted(arc, torch.tensor([t_max], dtype=arc.dtype, device=arc.device), right=True)) - 1
    k = min(max(k, 0), len(nodes) - 2)
    ends = [i for i in (k, k + 1) if i not in fixed]
    if ends:
        return max(ends, key=lambda i: float(energies[i]))
    free = [i for i in range(len(nodes)) if i not in fixed]
    return highest_free(energies, fixed) if free else None


def _nearest(nodes, fixed, point):
    return min(fixed, key=lambda i: float(torch.linalg.vector_norm(nodes[i] - point)))


def through_pivots(E, nodes: Tensor, bf, level: float, target: float, relax, *, rounds: int,
                   generator: torch.Generator):
    """Rounds of pivot insertion (module docstring) on the relaxed band ``nodes`` with forces
    ``bf`` in the band's energy ``E``: while the band's profile exceeds ``level`` (at most
    ``rounds`` times) descend from the profile's maximum to ``target``, fix the point as a
    pivot in place of the nearest free image, re-space, start the images on the two sides of
    the new pivot on the straight segments to their fixed neighbours (as string sampling's
    segments start) and ``relax(nodes, fixed)``. Returns
    the band, its forces, the fixed node indices (ends included), a log per round, the
    iterations spent, whether the last relaxation converged, and why the rounds stopped
    (``"below the level"``, ``"rounds"``, ``"stalled pivot"`` or ``"no free image"``)."""
    K = nodes.shape[0]
    fixed, log, iterations, converged = [0, K - 1], [], 0, None
    for _ in range(rounds):
        prof = profile(E, Path(nodes))
        if prof.max_energy <= level:
            return nodes, bf, fixed, log, iterations, converged, "below the level"
        j = _node_to_replace(nodes, bf.energies, prof.t_max, fixed)
        if j is None:
            return nodes, bf, fixed, log, iterations, converged, "no free image"
        around = torch.stack([nodes[max(j - 1, 0)], prof.theta_max, nodes[min(j + 1, K - 1)]])
        pivot, value, why = descend_pivot(E, around, 1, target, generator=generator)  # h: j's neighbours
        log.append({"from": float(prof.max_energy), "pivot_energy": value, "stopped": why, "node": j})
        if value > level:
            return nodes, bf, fixed, log, iterations, converged, "stalled pivot"
        nodes = nodes.clone()
        nodes[j] = pivot
        fixed = sorted(set(fixed) | {j})
        nodes, fixed = respace(nodes, fixed)
        p = fixed.index(_nearest(nodes, fixed, pivot))
        for i, k in zip(fixed[max(p - 1, 0):p + 1], fixed[p:p + 2]):  # the two sides of the pivot
            nodes[i:k + 1] = linear(nodes[i], nodes[k], k - i + 1).nodes  # start straight, as beads do
        nodes, bf, it, converged, _ = relax(nodes, fixed)
        iterations += it
    prof = profile(E, Path(nodes))
    return (nodes, bf, fixed, log, iterations, converged,
            "below the level" if prof.max_energy <= level else "rounds")
