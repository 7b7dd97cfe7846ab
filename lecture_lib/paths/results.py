"""The result every path algorithm returns, in the spirit of ``scipy.optimize.OptimizeResult``."""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import arguments as arg
from .certify import Profile, barrier, profile
from .polygon import Path
from .validate import energy_scale


@dataclass(frozen=True)
class PathResult:
    """What a path algorithm found.

    Fields: ``path``; ``profile`` (energies along it, :func:`lecture_lib.paths.profile`); ``max_energy``;
    ``barrier`` (max minus the mean of the endpoint energies) and ``barrier_linear``
    (largest excess over their linear mix), see :func:`lecture_lib.paths.barrier`;
    ``level`` and ``connected`` (the path found has profile maximum at most the level,
    within the tolerance; None when no level was given); ``certified`` (that maximum is a
    bound, from a given Lipschitz constant, ``profile.certified``; else it is an estimate
    and ``connected`` reports what the samples show); ``length`` and ``normalized_length``;
    ``n_evaluations`` (points at which the energy was evaluated, profile included);
    ``success``; ``message``; ``info`` (algorithm-specific details, e.g. iterations).
    """

    path: Path
    profile: Profile
    max_energy: float
    barrier: float
    barrier_linear: float
    level: float | None
    connected: bool | None
    length: float
    normalized_length: float
    n_evaluations: int
    success: bool
    message: str
    info: dict = field(default_factory=dict)
    certified: bool = False

    def __repr__(self):
        conn = "" if self.connected is None else f", connected={self.connected}"
        conn += f", certified={self.certified}"
        return (f"PathResult(max_energy={self.max_energy:.6g}, barrier={self.barrier:.6g}{conn}, "
                f"n_nodes={self.path.n_nodes}, normalized_length={self.normalized_length:.4f}, "
                f"n_evaluations={self.n_evaluations}, message={self.message!r})")


def make_result(energy, path: Path, *, level: float | None = None, n_evaluations: int = 0,
                message: str = "", success: bool | None = None, level_rtol: float = 1e-3,
                profile_kwargs: dict | None = None, **info) -> PathResult:
    """Profile ``path`` (:func:`lecture_lib.paths.profile`) and assemble a :class:`PathResult`.

    ``connected`` is ``max_energy <= level + level_rtol * scale`` where ``scale`` is the gap
    between the level and the endpoint energies (:func:`energy_scale`), so the tolerance
    never assumes a positive level. ``success`` defaults to ``connected`` when a level is
    given, else True. ``n_evaluations`` counts the algorithm's own evaluations; the
    profile's are added. ``certified`` is the profile's: True only when ``profile_kwargs``
    gave a Lipschitz constant and the refinement converged; a caller's ``message`` must not
    call the maximum certified otherwise (the profile's own message, the default, says which).
    """
    level = arg.optional(arg.real, "level", level)
    level_rtol = arg.nonnegative_float("level_rtol", level_rtol)
    prof = profile(energy, path, **(profile_kwargs or {}))
    connected = None
    if level is not None:
        e0, e1 = float(prof.energies[0]), float(prof.energies[-1])
        connected = prof.max_energy <= level + level_rtol * energy_scale(e0, e1, level)
    if success is None:
        success = True if connected is None else connected
    return PathResult(path=path, profile=prof, max_energy=prof.max_energy,
                      barrier=barrier(prof, "mean"), barrier_linear=barrier(prof, "linear"),
                      level=level, connected=connected, length=path.length(),
                      normalized_length=path.normalized_length(),
                      n_evaluations=int(n_evaluations) + prof.n_evaluations, success=bool(success),
                      message=message or prof.message, info=dict(info), certified=prof.certified)
