"""Chapter 4: the rate ``epsilon ~ m^{-1/n}`` of asymptotic connectedness, on trained pairs.

Freeman & Bruna (2017, Thm. 2.4) bound the level at which any two parameters of a
one-hidden-layer ReLU network ``W_2 rho(W_1 x)``, ``W_1: (m, n)``, are joined by
``max(lambda, epsilon)`` with ``epsilon = O(m^{-1/n})``. Here, for teacher-student data, pairs of
students of width ``m`` are trained independently, each pair is joined by the nudged elastic
band (:func:`lecture_lib.paths.neb`, climbing image), and the barrier
``max_t E(gamma(t)) - max(E(a), E(b))`` of the path found is recorded
(:func:`rate_experiment`); :func:`fit_slopes` fits ``log barrier`` against ``log m`` for each
input dimension ``n``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from lecture_lib import paths
from lecture_lib.arguments import positive_int
from lecture_lib.data import teacher_student
from lecture_lib.energy import model_energy
from lecture_lib.models import TwoLayer
from lecture_lib.runtime import full_scale, one_thread
from lecture_lib.topics.relu import default_device
from lecture_lib.train import fit_ensemble

@dataclass(frozen=True)
class RatePoint:
    """One trained pair at input dimension ``n_in`` and width ``width``.

    ``energies``: ``(E(a), E(b))``; ``level = max`` of them; ``band``: the NEB result;
    ``straight``: sampled profile of the segment (an estimate: no Lipschitz bound is given);
    ``barrier``: ``band.max_energy - level`` (clipped at 0); ``straight_barrier``: the same for
    the segment.
    """

    n_in: int
    width: int
    pair: int
    energies: tuple
    level: float
    barrier: float
    straight_barrier: float
    band: paths.PathResult
    straight: paths.Profile


@dataclass(frozen=True)
class RateResult:
    """All pairs of :func:`rate_experiment`: ``points`` (tuple of :class:`RatePoint`),
    ``n_ins``, ``widths``, ``n_pairs``, the settings, ``device`` and ``message``."""

    points: tuple
    n_ins: tuple
    widths: tuple
    n_pairs: int
    settings: dict
    device: str
    message: str

    def select(self, n_in: int, width: int | None = None) -> list:
        """The points at ``n_in`` (and ``width``), in width then pair order."""
        return [p for p in self.points if p.n_in == n_in and (width is None or p.width == width)]

    def barriers(self, n_in: int) -> np.ndarray:
        """``(len(widths), n_pairs)`` barriers at input dimension ``n_in``."""
        return np.array([[p.barrier for p in self.select(n_in, m)] for m in self.widths])


def rate_settings(full: bool | None = None) -> dict:
    """The sweep of :func:`rate_experiment`: the default build, or ``LECTURE_FULL=1``'s."""
    full = full_scale() if full is None else full
    if full:
        return dict(n_ins=(1, 2, 3, 4, 6), widths=(4, 8, 16, 32, 64, 128, 256), n_pairs=6,
                    n_samples=512, teacher_width=16, steps=3000, n_images=15, max_iter=600)
    return dict(n_ins=(1, 2, 4), widths=(4, 8, 16, 32, 64), n_pairs=3, n_samples=128,
                teacher_width=16, steps=400, n_images=7, max_iter=100)


def teacher_data(n_in: int, n_samples: int, teacher_width: int, seed: int = 0, device="cpu"):
    """Teacher-student data (``lecture_lib.data.teacher_student``): ``x ~ N(0, I_n)``,
    ``y = W_2* relu(W_1* x)`` of a random ``TwoLayer(n, teacher_width, 1)`` drawn from
    ``seed + n``; targets scaled to mean square 1 so barriers are comparable across ``n``."""
    data = teacher_student(lambda: TwoLayer(n_in, teacher_width, 1), n_samples, seed=seed + n_in,
                           dtype=torch.float64, device=device)
    x, y = data.x_train, data.y_train
    return x, y / y.square().mean().sqrt()


def rate_experiment(n_ins=None, widths=None, n_pairs=None, *, n_samples=None, teacher_width=None,
                    steps=None, n_images=None, max_iter=None, lr: float = 1e-2, seed: int = 0,
                    device=None, progress: bool = False) -> RateResult:
    """Barriers between independently trained pairs of ``TwoLayer(n, m, 1)`` students.

    For each input dimension ``n`` and width ``m``: ``2 * n_pairs`` students trained at once
    by :func:`lecture_lib.train.fit_ensemble` (Adam, rate ``lr``, full batch, ``steps``
    steps, float64, seeds ``10^4 n + 100 m + i``); pair ``p`` is students ``2p, 2p + 1``. The
    lowest level joining a pair is bounded above by the maximum of any path between them;
    we take the NEB path (``n_images`` images, FIRE, climbing image, ``max_iter``
    iterations): NEB relaxes a whole band toward a minimum energy path, whose highest point
    is the lowest pass, while string sampling only answers yes or no at a level fixed in
    advance. Defaults: :func:`rate_settings`. Returns a :class:`RateResult`.
    """
    s = rate_settings()
    given = dict(n_ins=n_ins, widths=widths, n_pairs=n_pairs, n_samples=n_samples,
                 teacher_width=teacher_width, steps=steps, n_images=n_images, max_iter=max_iter)
    s.update({k: v for k, v in given.items() if v is not None})
    s["n_ins"] = tuple(positive_int("n_in", n) for n in s["n_ins"])
    s["widths"] = tuple(positive_int("width", m) for m in s["widths"])
    for k in ("n_pairs", "n_samples", "teacher_width", "steps", "n_images", "max_iter"):
        s[k] = positive_int(k, s[k])
    device = default_device() if device is None else str(device)
    return _rate(tuple(sorted(s.items())), float(lr), int(seed), device, bool(progress))


@functools.lru_cache(maxsize=8)
def _rate(items, lr, seed, device, progress):
    with one_thread():
        return _sweep(dict(items), lr, seed, device, progress)


def _sweep(s, lr, seed, device, progress):
    points = []
    for n in s["n_ins"]:
        x, y = teacher_data(n, s["n_samples"], s["teacher_width"], seed, device)
        for m in s["widths"]:
            points += _pairs(x, y, n, m, s, lr, seed, device, progress)
    res = RateResult(tuple(points), s["n_ins"], s["widths"], s["n_pairs"], s, device, "")
    slopes = fit_slopes(res)
    text = ", ".join(f"n={n}: {f.slope:+.2f} (theorem's rate {-1 / n:+.2f})" for n, f in slopes.items())
    return RateResult(res.points, res.n_ins, res.widths, res.n_pairs, s, device,
                      f"{len(points)} pairs on {device}; fitted slopes of barrier vs width: {text}")


def _pairs(x, y, n, m, s, lr, seed, device, progress):
    make = lambda: TwoLayer(n, m, 1).double()  # noqa: E731
    k = 2 * s["n_pairs"]
    seeds = [10_000 * n + 100 * m + i + 1_000_000 * seed for i in range(k)]
    fit = fit_ensemble(make, k, F.mse_loss, x, y, steps=s["steps"], lr=lr, seeds=seeds, progress=progress)
    E = model_energy(make().to(device), F.mse_loss, x, y)
    out = []
    for p in range(s["n_pairs"]):
        a, b = fit.thetas[2 * p].detach(), fit.thetas[2 * p + 1].detach()
        ends = (float(fit.final_losses[2 * p]), float(fit.final_losses[2 * p + 1]))
        band = paths.neb(E, a, b, n_images=s["n_images"], optimizer="fire", climbing=True,
                         max_iter=s["max_iter"], seed=p, progress=False)
        straight = paths.profile(E, paths.linear(a, b))
        level = max(band.profile.energies[0].item(), band.profile.energies[-1].item())
        out.append(RatePoint(n, m, p, ends, level, max(band.max_energy - level, 0.0),
                             max(straight.max_energy - level, 0.0), band, straight))
    return out


@dataclass(frozen=True)
class SlopeFit:
    """``log barrier = intercept + slope * log m`` by least squares over all pairs with a
    barrier above ``floor``: ``slope``, its standard error ``stderr``, ``pair_slopes`` (the
    fit of each pair index alone), ``n_used`` and ``n_floored`` (points left out)."""

    n_in: int
    slope: float
    intercept: float
    stderr: float
    pair_slopes: tuple
    n_used: int
    n_floored: int


def _ols(logm, logb):
    A = np.stack([np.ones_like(logm), logm], 1)
    coef, *_ = np.linalg.lstsq(A, logb, rcond=None)
    dof = len(logm) - 2
    if dof <= 0:
        return coef, math.nan
    resid = logb - A @ coef
    cov = (resid @ resid / dof) * np.linalg.inv(A.T @ A)
    return coef, float(math.sqrt(cov[1, 1]))


def fit_slopes(result: RateResult, floor: float = 1e-8) -> dict:
    """A :class:`SlopeFit` per input dimension (``{n: SlopeFit}``)."""
    out = {}
    widths = np.array(result.widths, dtype=float)
    for n in result.n_ins:
        B = result.barriers(n)  # (n_widths, n_pairs)
        M = np.repeat(widths[:, None], B.shape[1], 1)
        keep = B > floor
        if keep.sum() >= 2:
            (c0, c1), se = _ols(np.log(M[keep]), np.log(B[keep]))
        else:
            c0 = c1 = se = math.nan
        per = []
        for p in range(B.shape[1]):
            k = B[:, p] > floor
            per.append(float(_ols(np.log(widths[k]), np.log(B[k, p]))[0][1]) if k.sum() >= 2 else math.nan)
        out[n] = SlopeFit(n, float(c1), float(c0), float(se), tuple(per), int(keep.sum()), int((~keep).sum()))
    return out
