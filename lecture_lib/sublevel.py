"""Exact low-dimensional tools on grids: sublevel-set components, merge trees, geodesics.

For an energy ``E`` on a 2-D window, ``Omega_u = {theta : E(theta) <= u}`` is the sublevel set
at level ``u``, a *valley* is one of its connected components and ``N_u`` their number
(Freeman & Bruna 2017; Venturi, Bandeira & Bruna 2019). On a grid these are computed exactly
for the sampled function; they converge to the continuum answers as the grid is refined and
serve as ground truth for the path algorithms.

*Window boundary.* Only the window is seen: a valley that leaves it is truncated, and its
lowest grid cell may lie on the window's edge although the energy keeps descending outside
(such births are flagged ``on_boundary``).

Example::

    >>> from lecture_lib import surfaces, sublevel
    >>> s = surfaces.get("tilted_double_well")
    >>> g = sublevel.grid(s.energy, s.extent, 101)
    >>> sublevel.components(g, 0.6)[1]
    2
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.ndimage
import skfmm
import torch

from . import arguments as arg

_CHUNK = 65_536
MAX_POINTS = 2 ** 24  # 4096 x 4096: the float64 grid points alone take 256 MiB
_EIGHT = np.ones((3, 3), dtype=bool)  # 8-connectivity structure for scipy.ndimage.label


@dataclass(frozen=True)
class Grid:
    """Energy values on a regular grid.

    ``values[i, j]`` is the energy at ``(x[j], y[i])``: rows follow ``y``, columns ``x``
    (the ``meshgrid(x, y)`` / ``imshow(origin="lower")`` layout), shape ``(len(y), len(x))``.
    """

    x: np.ndarray  # (nx,)
    y: np.ndarray  # (ny,)
    values: np.ndarray  # (ny, nx)
    extent: tuple[float, float, float, float]

    @property
    def dx(self) -> float:
        return float(self.x[1] - self.x[0])

    @property
    def dy(self) -> float:
        return float(self.y[1] - self.y[0])

    def contains(self, point) -> bool:
        """Whether ``point = (x, y)`` lies in the closed window."""
        px, py = _point(point, "point")
        xmin, xmax, ymin, ymax = self.extent
        return xmin <= px <= xmax and ymin <= py <= ymax

    def index(self, point) -> tuple[int, int]:
        """Indices ``(i, j)`` of the grid node nearest to ``point`` (``ValueError`` outside)."""
        px, py = self._inside(point, "point")
        j = int(np.clip(np.rint((px - self.x[0]) / self.dx), 0, len(self.x) - 1))
        i = int(np.clip(np.rint((py - self.y[0]) / self.dy), 0, len(self.y) - 1))
        return i, j

    def point(self, index) -> tuple[float, float]:
        """Coordinates ``(x, y)`` of node ``index = (i, j)``."""
        i, j = index
        return float(self.x[j]), float(self.y[i])

    def interpolate(self, field_: np.ndarray, point) -> float:
        """Bilinear interpolation of a node field of shape ``(ny, nx)`` at ``point``."""
        (i0, j0), (wy, wx) = self._cell(point)
        f = field_[i0:i0 + 2, j0:j0 + 2]
        return float((1 - wy) * ((1 - wx) * f[0, 0] + wx * f[0, 1])
                     + wy * ((1 - wx) * f[1, 0] + wx * f[1, 1]))

    def _cell(self, point):
        """Lower-left node of the cell holding ``point`` and the fractional offsets."""
        px, py = self._inside(point, "point")
        fx = min((px - self.x[0]) / self.dx, len(self.x) - 1 - 1e-12)
        fy = min((py - self.y[0]) / self.dy, len(self.y) - 1 - 1e-12)
        j0, i0 = int(fx), int(fy)
        return (i0, j0), (fy - i0, fx - j0)

    def _inside(self, point, name):
        px, py = _point(point, name)
        if not self.contains((px, py)):
            raise ValueError(f"{name} = ({px:g}, {py:g}) lies outside the grid extent {self.extent}")
        return px, py


def _point(point, name: str) -> tuple[float, float]:
    p = np.asarray(point, dtype=float)
    if p.shape != (2,):
        raise ValueError(f"{name} must be a pair (x, y), got shape {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError(f"{name} must be finite, got {tuple(p)}")
    return float(p[0]), float(p[1])


def _level(level) -> float:
    return arg.real("level", level)


def _resolution(resolution) -> tuple[int, int]:
    """``(nx, ny)`` from an int (numpy or 0-d tensor too) or a pair of them, each >= 2."""
    if isinstance(resolution, (torch.Tensor, np.ndarray)) and resolution.ndim == 0:
        resolution = resolution.item()
    if isinstance(resolution, (torch.Tensor, np.ndarray)):
        resolution = resolution.tolist()
    if isinstance(resolution, (list, tuple)):
        if len(resolution) != 2:
            raise ValueError(f"resolution must be an int >= 2 or a pair (nx, ny) of them, "
                             f"got {len(resolution)} values {tuple(resolution)}")
        return (arg.integer("resolution[0] (nx)", resolution[0], low=2),
                arg.integer("resolution[1] (ny)", resolution[1], low=2))
    n = arg.integer("resolution", resolution, low=2)
    return n, n


def _extent(extent) -> tuple[float, float, float, float]:
    try:
        values = tuple(float(v) for v in extent)
    except (TypeError, ValueError):
        raise ValueError(f"extent must be four numbers (xmin, xmax, ymin, ymax), got {extent!r}") from None
    if len(values) != 4:
        raise ValueError(f"extent must be four numbers (xmin, xmax, ymin, ymax), got {extent!r}")
    xmin, xmax, ymin, ymax = values
    if not (np.all(np.isfinite(values)) and xmin < xmax and ymin < ymax):
        raise ValueError(f"extent must be finite with xmin < xmax and ymin < ymax, got {extent}")
    return values


def grid(energy, extent, resolution, *, device="cpu", dtype=torch.float64,
         max_points: int = MAX_POINTS) -> Grid:
    """Evaluate ``energy`` (``Tensor[B, 2] -> Tensor[B]``) on a regular grid over ``extent``.

    ``extent = (xmin, xmax, ymin, ymax)``; ``resolution`` is the number of points per axis
    (an int, or a pair ``(nx, ny)``; numpy and 0-d tensor integers too). Points go to the
    energy in chunks of 65,536 on ``device`` with ``dtype``, under ``torch.no_grad()``.
    Grids of more than ``max_points`` points are refused before anything is allocated.
    Non-finite or complex values raise: an energy is real.
    """
    xmin, xmax, ymin, ymax = _extent(extent)
    nx, ny = _resolution(resolution)
    if nx * ny > arg.positive_int("max_points", max_points):
        raise ValueError(f"resolution {resolution} asks for {nx} x {ny} = {nx * ny:,} grid points, "
                         f"more than max_points={max_points:,}; lower it or raise max_points")
    x, y = np.linspace(xmin, xmax, nx), np.linspace(ymin, ymax, ny)
    X, Y = np.meshgrid(x, y)  # (ny, nx) each
    pts = torch.as_tensor(np.stack([X.ravel(), Y.ravel()], axis=1), dtype=dtype, device=device)
    with torch.no_grad():
        vals = torch.cat([energy(pts[k:k + _CHUNK]) for k in range(0, len(pts), _CHUNK)])
    if vals.is_complex():
        raise ValueError("energy returned complex values; an energy is real "
                         "(take .real or .abs() explicitly if that is what you mean)")
    if vals.shape != (len(pts),):
        raise ValueError(f"energy must map (B, 2) to (B,); for {len(pts)} points it returned "
                         f"shape {tuple(vals.shape)}")
    values = vals.detach().cpu().numpy().astype(float).reshape(len(y), len(x))
    bad = ~np.isfinite(values)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(f"energy is not finite at {int(bad.sum())} of {bad.size} grid points, "
                         f"e.g. at (x, y) = ({x[j]:g}, {y[i]:g})")
    return Grid(x=x, y=y, values=values, extent=(xmin, xmax, ymin, ymax))


def components(grid: Grid, level: float) -> tuple[np.ndarray, int]:
    """Connected components of ``Omega_u = {E <= u}`` on the grid.

    Returns ``(labels, n_components)``: ``labels`` has the grid's shape, 0 outside
    ``Omega_u`` and ``1..N`` inside. Nodes are joined to their 8 neighbours: a valley crossing
    the grid diagonally (a saddle whose pass runs at 45 degrees) keeps its nodes joined, where
    4-connectivity would cut it and overcount ``N_u``; it is also the neighbourhood of
    :func:`merge_tree`, so the two agree exactly at every level.
    """
    labels, n = scipy.ndimage.label(grid.values <= _level(level), structure=_EIGHT)
    return labels, int(n)


@dataclass(frozen=True)
class Birth:
    """A component born at a grid local minimum: ``level``, ``point``, ``index`` ``(i, j)``."""

    level: float
    point: tuple[float, float]
    index: tuple[int, int]
    on_boundary: bool  # the minimum is on the window edge: a truncated valley


@dataclass(frozen=True)
class Merge:
    """At ``level`` (node ``point``), the component of birth ``absorbed`` joins ``survivor``."""

    level: float
    point: tuple[float, float]
    index: tuple[int, int]
    survivor: int
    absorbed: int


@dataclass(frozen=True)
class MergeTree:
    """Births and merges of sublevel-set components (the 0-dimensional persistence pairs).

    Births are sorted by level; ``births[0]`` (the grid's global minimum) never dies. By the
    elder rule the younger of two merging components is ``absorbed``.
    """

    births: tuple[Birth, ...]
    merges: tuple[Merge, ...]
    message: str = field(default="")

    def n_components(self, level):
        """``N_u`` = births at or below ``u`` minus merges at or below ``u`` (scalar or array)."""
        u = np.asarray(level.detach().cpu() if isinstance(level, torch.Tensor) else level, dtype=float)
        if not np.all(np.isfinite(u)):
            raise ValueError(f"level must be finite, got {level!r}")
        b = np.searchsorted(np.sort([x.level for x in self.births]), u, side="right")
        m = np.searchsorted(np.sort([x.level for x in self.merges]), u, side="right")
        n = b - m
        return int(n) if n.ndim == 0 else n

    def death_level(self, k: int) -> float:
        """Level at which birth ``k`` is absorbed (``inf`` for the oldest component)."""
        return next((m.level for m in self.merges if m.absorbed == k), float("inf"))

    def spurious_intervals(self) -> tuple[tuple[float, float], ...]:
        """Levels ``[lo, hi)`` at which some valley holds no global minimum.

        Union over the younger births of ``[birth, death)``; it assumes the global minimum is
        unique, so that the valley of ``births[0]`` is the only one holding it.
        """
        spans = sorted((b.level, self.death_level(k)) for k, b in enumerate(self.births) if k)
        out = []
        for lo, hi in spans:
            if out and lo <= out[-1][1]:
                out[-1] = (out[-1][0], max(out[-1][1], hi))
            else:
                out.append((lo, hi))
        return tuple(out)


def merge_tree(grid: Grid) -> MergeTree:
    """Merge tree of the sublevel sets of the gridded energy, by union-find (elder rule).

    Nodes are added in increasing order of value; a node with no processed 8-neighbour is a
    birth (a grid local minimum), a node touching several components merges them at its
    value (a grid saddle). Pairs born and merged at the same level (ties on plateaus) are
    dropped: they never change ``N_u``. ``tree.n_components(u)`` equals
    ``components(grid, u)[1]`` for every ``u``.
    """
    ny, nx = grid.values.shape
    flat = grid.values.ravel()
    order = np.argsort(flat, kind="stable")
    parent = np.full(flat.size, -1, dtype=np.int64).tolist()  # -1: not yet added
    birth_of = {}  # root node -> birth id
    births, merges = [], []  # (level, node), (level, node, survivor, absorbed)

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for node in order.tolist():
        i, j = divmod(node, nx)
        roots = {find(nb) for nb in _neighbours(i, j, ny, nx) if parent[nb] != -1}
        parent[node] = node
        if not roots:
            birth_of[node] = len(births)
            births.append((flat[node], node))
            continue
        elder = min(roots, key=lambda r: birth_of[r])  # births are numbered in level order
        for r in roots - {elder}:
            merges.append((flat[node], node, birth_of[elder], birth_of[r]))
            parent[r] = elder
        parent[node] = elder
    return _tree(grid, births, merges)


def _neighbours(i, j, ny, nx):
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            if (di or dj) and 0 <= i + di < ny and 0 <= j + dj < nx:
                yield (i + di) * nx + j + dj


def _tree(grid, births, merges) -> MergeTree:
    """Drop zero-persistence pairs, renumber, and wrap the raw events as a MergeTree."""
    ny, nx = grid.values.shape
    dead_at_birth = {a for lvl, _, _, a in merges if lvl == births[a][0]}
    keep = [k for k in range(len(births)) if k not in dead_at_birth]
    new_id = {k: n for n, k in enumerate(keep)}

    def where(node):
        i, j = divmod(node, nx)
        return grid.point((i, j)), (i, j)

    out_b = []
    for k in keep:
        lvl, node = births[k]
        p, (i, j) = where(node)
        out_b.append(Birth(float(lvl), p, (i, j), i in (0, ny - 1) or j in (0, nx - 1)))
    out_m = [Merge(float(lvl), *where(node), new_id[s], new_id[a])
             for lvl, node, s, a in merges if a not in dead_at_birth]
    msg = (f"{len(out_b)} births, {len(out_m)} merges on a {nx} x {ny} grid; "
           f"{sum(b.on_boundary for b in out_b)} births on the window edge")
    return MergeTree(births=tuple(out_b), merges=tuple(out_m), message=msg)


def local_minima(grid: Grid, *, strict: bool = False, interior: bool = True):
    """Grid local minima as ``((x, y), value)`` pairs sorted by value.

    A node is a local minimum when its value is ``<=`` its 8 neighbours' (``strict``: ``<``);
    the non-strict test also finds flat shelves of degenerate minima. ``interior`` drops nodes
    on the window edge, where a valley may be truncated rather than end.
    """
    v = grid.values
    is_min = v <= scipy.ndimage.minimum_filter(v, footprint=_EIGHT, mode="nearest")
    if strict:
        ring8 = _EIGHT.copy()
        ring8[1, 1] = False
        is_min &= v < scipy.ndimage.minimum_filter(v, footprint=ring8, mode="constant", cval=np.inf)
    if interior:
        is_min[[0, -1], :] = is_min[:, [0, -1]] = False
    idx = np.argwhere(is_min)
    idx = idx[np.argsort(v[is_min], kind="stable")]
    return tuple((grid.point((int(i), int(j))), float(v[i, j])) for i, j in idx)


def spurious_labels(grid: Grid, labels: np.ndarray, minimizers) -> tuple[int, ...]:
    """Labels of the components that hold none of the global ``minimizers`` (points).

    A minimizer counts for a component when a node within one cell of it carries that label
    (so a minimizer between nodes is not lost on a coarse grid).
    """
    hit = set()
    for p in minimizers:
        if grid.contains(p):
            i, j = grid.index(p)
            patch = labels[max(i - 1, 0):i + 2, max(j - 1, 0):j + 2]
            hit.update(int(v) for v in np.unique(patch) if v > 0)
    return tuple(int(k) for k in range(1, int(labels.max()) + 1) if k not in hit)


def grid_geodesic(grid: Grid, level: float, a, b) -> float:
    """Length of the shortest path from ``a`` to ``b`` inside ``Omega_u`` (``inf`` if none).

    Fast marching (``skfmm.distance``, second order, spacing ``(dy, dx)`` so lengths are in the
    surface's coordinates) solves the eikonal equation ``|grad T| = 1`` on the component of
    ``a``, with the complement masked as an obstacle. The front starts on a circle of radius
    ``r0`` (1.5 cells) around ``a`` and ``T(b) = r0 + dist`` is interpolated bilinearly; for
    ``b`` within ``r0`` of ``a`` (below the grid's resolution) it is ``||b - a||``, so
    ``grid_geodesic(g, u, a, a) == 0``. Plain
    8-neighbour Dijkstra would overestimate straight paths by up to 8 percent. Where the
    component is joined only diagonally between two nodes, one node is added to let the
    front through (the same tolerance as 8-connectivity in :func:`components`).
    """
    u = _level(level)
    a_xy, b_xy = grid._inside(a, "a"), grid._inside(b, "b")
    inside = grid.values <= u
    for name, p in (("a", a_xy), ("b", b_xy)):
        e = grid.interpolate(grid.values, p)
        if e > u:
            raise ValueError(f"{name} = ({p[0]:g}, {p[1]:g}) is outside Omega_u: E({name}) = "
                             f"{e:.6g} (bilinear on the grid) > level {u:.6g}")
    labels, _ = components(grid, u)
    la, lb = _label_near(grid, labels, a_xy), _label_near(grid, labels, b_xy)
    if la != lb:
        return float("inf")
    X, Y = np.meshgrid(grid.x, grid.y)
    r0 = 1.5 * max(grid.dx, grid.dy)
    if np.hypot(b_xy[0] - a_xy[0], b_xy[1] - a_xy[1]) <= r0:  # inside the starting disc
        return float(np.hypot(b_xy[0] - a_xy[0], b_xy[1] - a_xy[1]))
    domain = _bridge_diagonals(labels == la)
    phi = np.hypot(X - a_xy[0], Y - a_xy[1]) - r0
    if not (phi[domain] > 0).any():  # the whole component lies within r0 of a
        return float(np.hypot(b_xy[0] - a_xy[0], b_xy[1] - a_xy[1]))
    dist = skfmm.distance(np.ma.MaskedArray(phi, mask=~domain), dx=[grid.dy, grid.dx], order=2)
    T = np.where(np.ma.getmaskarray(dist), np.nan, np.ma.getdata(dist) + r0)
    return _interpolate_available(grid, T, b_xy)


def _bridge_diagonals(inside: np.ndarray) -> np.ndarray:
    """Add one node to each 2x2 block joined only diagonally, so the 4-point stencil of fast
    marching can cross every link that 8-connectivity counts."""
    out = inside.copy()
    tl, tr, bl, br = inside[:-1, :-1], inside[:-1, 1:], inside[1:, :-1], inside[1:, 1:]
    out[:-1, 1:] |= tl & br & ~tr & ~bl
    out[:-1, :-1] |= tr & bl & ~tl & ~br
    return out


def _label_near(grid, labels, p) -> int:
    """Label of the nearest in-set node among the four corners of the cell holding ``p``."""
    (i0, j0), _ = grid._cell(p)
    cand = [(np.hypot(*np.subtract(grid.point((i, j)), p)), labels[i, j])
            for i in (i0, i0 + 1) for j in (j0, j0 + 1) if labels[i, j] > 0]
    if not cand:
        raise ValueError(f"point ({p[0]:g}, {p[1]:g}) has no grid node of Omega_u around it; "
                         "refine the grid or raise the level")
    return int(min(cand)[1])


def _interpolate_available(grid, T, p) -> float:
    """Bilinear ``T`` at ``p``, renormalised over the corners where ``T`` is defined."""
    (i0, j0), (wy, wx) = grid._cell(p)
    w = np.outer([1 - wy, wy], [1 - wx, wx])  # (2, 2)
    t = T[i0:i0 + 2, j0:j0 + 2]
    ok = np.isfinite(t) & (w > 0)
    if not ok.any():  # p sits on a corner's edge: use any reached corner
        ok, w = np.isfinite(t), np.ones((2, 2))
    if not ok.any():  # no corner was reached by the front
        return float("inf")
    return float((w[ok] * t[ok]).sum() / w[ok].sum())
