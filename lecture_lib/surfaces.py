"""Analytic 2-D landscapes with known structure, as batched energies.

Every surface is an *energy* ``theta: Tensor[B, 2] -> Tensor[B]``: pure torch, differentiable,
on the device and dtype of its input, with no Python branching on tensor values (so
``torch.func.grad`` and ``vmap`` apply). Its known structure is data, not prose: a frozen
:class:`Surface` holds the minima, the saddles, the global minimum, the number of sublevel-set
components ``N_u`` as a step function of the level ``u`` and the levels at which a spurious
valley exists. The tests of :mod:`lecture_lib.sublevel` and of the path algorithms compare
against these numbers.

The surfaces illustrate the definitions of Venturi, Bandeira & Bruna (2019): a *valley* is a
path-connected component of a sublevel set ``Omega_u = {E <= u}``; it is *spurious* when it
holds no global minimum.

Example::

    >>> import torch
    >>> from lecture_lib import surfaces
    >>> s = surfaces.get("tilted_double_well")
    >>> s.energy(torch.tensor([[s.minima[0][0][0], 0.0]], dtype=torch.float64)).shape
    torch.Size([1])
    >>> s.n_components(0.6)   # two wells below the saddle level 1.0315
    2
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Callable

import torch

Point = tuple[float, float]


@dataclass(frozen=True)
class Surface:
    """A 2-D landscape and its known structure.

    Fields: ``name``; ``energy`` (``Tensor[B, 2] -> Tensor[B]``); ``extent`` =
    ``(xmin, xmax, ymin, ymax)``, a good plotting window; ``minima`` and ``saddles``: tuples
    of ``(point, value)``, the global minimum first; ``global_min``: the minimum value (the
    infimum if not attained); ``n_components_profile``: sorted ``(level, N)`` pairs meaning
    ``N_u = N`` for ``u >= level`` up to the next pair, counted in the whole plane;
    ``spurious_levels``: intervals ``[lo, hi)`` of levels at which ``Omega_u`` has a valley
    without a global minimum; ``level_range``: levels worth showing (widget slider);
    ``description``: one paragraph.
    """

    name: str
    energy: Callable[[torch.Tensor], torch.Tensor]
    extent: tuple[float, float, float, float]
    minima: tuple[tuple[Point, float], ...]
    saddles: tuple[tuple[Point, float], ...]
    global_min: float
    n_components_profile: tuple[tuple[float, int], ...]
    spurious_levels: tuple[tuple[float, float], ...]
    level_range: tuple[float, float]
    description: str

    def n_components(self, level: float) -> int:
        """Known ``N_u`` in the whole plane (0 below the global minimum)."""
        starts = [lvl for lvl, _ in self.n_components_profile]
        k = bisect.bisect_right(starts, float(level))
        return 0 if k == 0 else self.n_components_profile[k - 1][1]

    def has_spurious_valley(self, level: float) -> bool:
        """Whether ``Omega_u`` at ``level`` has a valley holding no global minimum."""
        return any(lo <= level < hi for lo, hi in self.spurious_levels)

    @property
    def global_minimizers(self) -> tuple[Point, ...]:
        """The listed minima whose value is the global minimum."""
        return tuple(p for p, v in self.minima if v <= self.global_min + 1e-9)


def _xy(theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate a batch of 2-D points and split it into coordinates ``(B,)``, ``(B,)``."""
    if not isinstance(theta, torch.Tensor):
        raise TypeError(f"theta must be a torch.Tensor of shape (B, 2), got {type(theta).__name__}")
    if theta.ndim != 2 or theta.shape[1] != 2:
        raise ValueError(f"theta must have shape (B, 2), got {tuple(theta.shape)}")
    if not theta.is_floating_point():
        raise TypeError(f"theta must have a floating dtype, got {theta.dtype}")
    return theta[:, 0], theta[:, 1]


def bowl_energy(theta: torch.Tensor) -> torch.Tensor:
    """``E(x, y) = x^2 + 2 y^2``: convex, one minimum at the origin. ``(B, 2) -> (B,)``."""
    x, y = _xy(theta)
    return x**2 + 2.0 * y**2


def tilted_double_well_energy(theta: torch.Tensor) -> torch.Tensor:
    """``E(x, y) = (x^2 - 1)^2 + x / 2 + y^2``: two wells of different depths. ``(B, 2) -> (B,)``."""
    x, y = _xy(theta)
    return (x**2 - 1.0) ** 2 + 0.5 * x + y**2


def escape_channel_energy(theta: torch.Tensor) -> torch.Tensor:
    """``E(x, y) = (x^2 - 1) exp(-x) + y^2``: a well and a channel sinking to 0 as ``x -> inf``.

    ``h(x) = (x^2 - 1) e^{-x}`` has ``h' = -(x^2 - 2x - 1) e^{-x}``: a minimum at ``1 - sqrt 2``,
    a maximum at ``1 + sqrt 2`` and ``h -> 0+`` beyond it. ``(B, 2) -> (B,)``.
    """
    x, y = _xy(theta)
    return (x**2 - 1.0) * torch.exp(-x) + y**2


def plateau_energy(theta: torch.Tensor) -> torch.Tensor:
    """``E = relu(-1 - x)^3 + relu(x)^3 (x - 2) + y^2``: a flat shelf at 0 beside a well.

    The shelf ``[-1, 0) x {0}`` is made of non-strict local minima of value 0 (C^2 surface).
    ``(B, 2) -> (B,)``.
    """
    x, y = _xy(theta)
    return torch.relu(-1.0 - x) ** 3 + torch.relu(x) ** 3 * (x - 2.0) + y**2


def spiral_energy(theta: torch.Tensor) -> torch.Tensor:
    """The spiral trough of chapter 1: no spurious valley, yet no non-increasing path.

    In polar coordinates ``(r, phi)``, with ``w(r) = 2 - cos(phi + 2 pi log2(r - 1))``:
    ``E = 1 - r`` for ``r <= 1``, ``E = (r - 1) w`` for ``1 < r < 2`` and
    ``E = (r - 1)(2 - cos phi)`` for ``r >= 2``. Continuous, ``E >= 0``, and ``E = 0`` exactly
    on the unit circle (the global minimizers). The trough ``r = 1 + 2^-s, phi = 2 pi s``
    (``s >= 0``) has ``E = 2^-s``: it descends forever, winding around the circle without
    reaching it, between crests of height ``3 (r - 1)``. Not in :data:`SURFACES` (its minima
    form a circle). ``(B, 2) -> (B,)``.

    >>> spiral_energy(torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 0.0], [1.5, 0.0]])).tolist()
    [0.0, 1.0, 1.0, 0.5]
    """
    x, y = _xy(theta)
    r, phi = torch.sqrt(x**2 + y**2), torch.atan2(y, x)
    rho = (r - 1.0).clamp(min=torch.finfo(r.dtype).tiny, max=1.0)  # r - 1 on 1 < r < 2
    wound = 2.0 - torch.cos(phi + 2.0 * math.pi * torch.log2(rho))
    outside = (r - 1.0) * torch.where(r < 2.0, wound, 2.0 - torch.cos(phi))
    return torch.where(r <= 1.0, 1.0 - r, outside)


def spiral_trough(s: torch.Tensor) -> torch.Tensor:
    """Points ``(T, 2)`` of the trough of :func:`spiral_energy` at parameters ``s (T,) >= 0``:
    ``r = 1 + 2^-s``, ``phi = 2 pi s``, where ``E = 2^-s``."""
    r, phi = 1.0 + 2.0 ** (-s), 2.0 * math.pi * s
    return torch.stack([r * torch.cos(phi), r * torch.sin(phi)], dim=1)


# Mueller & Brown (1979), Theor. Chim. Acta 53, 75: E = sum_k A_k exp(a_k dx^2 + b_k dx dy + c_k dy^2).
_MB = {
    "A": (-200.0, -100.0, -170.0, 15.0),
    "a": (-1.0, -1.0, -6.5, 0.7),
    "b": (0.0, 0.0, 11.0, 0.6),
    "c": (-10.0, -10.0, -6.5, 0.7),
    "x0": (1.0, 0.0, -0.5, -1.0),
    "y0": (0.0, 0.5, 1.5, 1.0),
}


def muller_brown_energy(theta: torch.Tensor) -> torch.Tensor:
    """The Mueller-Brown potential (Mueller & Brown 1979): three minima, two saddles. ``(B, 2) -> (B,)``."""
    x, y = _xy(theta)
    p = {k: torch.as_tensor(v, dtype=theta.dtype, device=theta.device) for k, v in _MB.items()}
    dx = x[:, None] - p["x0"]  # (B, 4)
    dy = y[:, None] - p["y0"]  # (B, 4)
    expo = p["a"] * dx**2 + p["b"] * dx * dy + p["c"] * dy**2  # (B, 4)
    return (p["A"] * torch.exp(expo)).sum(dim=1)


# Critical points below were refined with scipy.optimize.root on the analytic gradient
# (|grad E| < 1e-12) and classified by the Hessian's eigenvalues; tests re-check them.
_TDW_MIN_G, _TDW_MIN_L, _TDW_SAD = -1.0574537707383778, 0.9304029265558516, 0.12705084418252624


def _tdw(x: float) -> float:
    return (x * x - 1.0) ** 2 + 0.5 * x


_ESC_MIN, _ESC_SAD = 1.0 - math.sqrt(2.0), 1.0 + math.sqrt(2.0)


def _esc(x: float) -> float:
    return (x * x - 1.0) * math.exp(-x)


_MB_MINIMA = (
    ((-0.5582236346330243, 1.4417258418046686), -146.699517209954),
    ((0.6234994049308765, 0.02803775852868567), -108.16672411685235),
    ((-0.05001082299820603, 0.46669410487197205), -80.76781812965903),
)
_MB_SADDLES = (
    ((-0.8220015587327322, 0.6243128028148713), -40.6648435086574),
    ((0.21248658200066195, 0.29298832510736783), -72.24894011232522),
)


SURFACES: dict[str, Surface] = {
    s.name: s
    for s in (
        Surface(
            name="bowl", energy=bowl_energy, extent=(-2.0, 2.0, -2.0, 2.0),
            minima=(((0.0, 0.0), 0.0),), saddles=(), global_min=0.0,
            n_components_profile=((0.0, 1),), spurious_levels=(), level_range=(0.05, 4.0),
            description="Convex quadratic x^2 + 2y^2. One minimum; every nonempty sublevel set "
            "is an ellipse, hence connected: no poor local minima and no spurious valleys.",
        ),
        Surface(
            name="tilted_double_well", energy=tilted_double_well_energy,
            extent=(-2.0, 2.0, -1.5, 1.5),
            minima=(((_TDW_MIN_G, 0.0), _tdw(_TDW_MIN_G)), ((_TDW_MIN_L, 0.0), _tdw(_TDW_MIN_L))),
            saddles=(((_TDW_SAD, 0.0), _tdw(_TDW_SAD)),), global_min=_tdw(_TDW_MIN_G),
            n_components_profile=((_tdw(_TDW_MIN_G), 1), (_tdw(_TDW_MIN_L), 2), (_tdw(_TDW_SAD), 1)),
            spurious_levels=((_tdw(_TDW_MIN_L), _tdw(_TDW_SAD)),), level_range=(-0.5, 2.0),
            description="(x^2-1)^2 + x/2 + y^2: a deep well at x = -1.057 and a shallow one at "
            "x = 0.930 separated by a saddle at x = 0.127. Between the shallow minimum's value "
            "and the saddle's value the shallow well is a spurious valley holding a poor local "
            "minimum.",
        ),
        Surface(
            name="escape_channel", energy=escape_channel_energy, extent=(-1.5, 6.0, -1.5, 1.5),
            minima=(((_ESC_MIN, 0.0), _esc(_ESC_MIN)),), saddles=(((_ESC_SAD, 0.0), _esc(_ESC_SAD)),),
            global_min=_esc(_ESC_MIN),
            n_components_profile=((_esc(_ESC_MIN), 1), (0.0, 2), (_esc(_ESC_SAD), 1)),
            spurious_levels=((0.0, _esc(_ESC_SAD)),), level_range=(-1.25, 1.0),
            description="(x^2-1) exp(-x) + y^2: one minimum (the global one, at x = 1 - sqrt 2) "
            "and a saddle at x = 1 + sqrt 2, beyond which a channel descends towards the "
            "asymptote 0 without reaching it. For 0 < u < 0.4318 the channel is a spurious valley "
            "that holds no critical point at all: no poor local minima, yet spurious valleys. "
            "At u = 0 exactly the channel is empty (the count 2 starts strictly above 0); in a "
            "window ending at x = 6 it shows up only from u = h(6) = 0.0868.",
        ),
        Surface(
            name="plateau", energy=plateau_energy, extent=(-2.0, 2.5, -1.5, 1.5),
            minima=(((1.5, 0.0), -1.6875), ((-0.5, 0.0), 0.0)), saddles=(), global_min=-1.6875,
            n_components_profile=((-1.6875, 1),), spurious_levels=(), level_range=(-1.65, 1.5),
            description="relu(-1-x)^3 + relu(x)^3 (x-2) + y^2: a well with global minimum "
            "-1.6875 at x = 1.5 and a flat shelf of non-strict local minima of value 0 on "
            "[-1, 0) x {0} (the listed point (-0.5, 0) represents it). Each sublevel set is "
            "connected, since the shelf joins the well at level 0: poor local minima, yet no "
            "spurious valley.",
        ),
        Surface(
            name="muller_brown", energy=muller_brown_energy, extent=(-1.5, 1.2, -0.5, 2.0),
            minima=_MB_MINIMA, saddles=_MB_SADDLES, global_min=_MB_MINIMA[0][1],
            n_components_profile=((_MB_MINIMA[0][1], 1), (_MB_MINIMA[1][1], 2),
                                  (_MB_MINIMA[2][1], 3), (_MB_SADDLES[1][1], 2),
                                  (_MB_SADDLES[0][1], 1)),
            spurious_levels=((_MB_MINIMA[1][1], _MB_SADDLES[0][1]),), level_range=(-145.0, 0.0),
            description="The Mueller-Brown potential (Mueller & Brown 1979), the standard test of "
            "reaction-path methods: minima A (-146.70), B (-108.17), C (-80.77); saddle "
            "(0.212, 0.293) at -72.25 joins B and C, saddle (-0.822, 0.624) at -40.66 joins them "
            "to A.",
        ),
    )
}


def get(name: str) -> Surface:
    """The surface called ``name``; ``ValueError`` listing the names when unknown."""
    if name not in SURFACES:
        raise ValueError(f"unknown surface {name!r}; choose one of {sorted(SURFACES)}")
    return SURFACES[name]
