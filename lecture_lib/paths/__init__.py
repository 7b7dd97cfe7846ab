"""Paths between points of parameter space, and the algorithms that find them.

Every algorithm sees only an energy ``Tensor[B, d] -> Tensor[B]`` and returns a
:class:`PathResult` (path, profile, max_energy, barrier, connected, length,
normalized_length, n_evaluations, message). ``connected`` says the path found stays under
the level (its maximum a bound only when the profile was given ``lipschitz=``); a search
that gives up says "no path found", never that none exists: only the exact grid tools of
:mod:`lecture_lib.sublevel` decide that. Defaults are meant to work on the course's
networks (tests/test_paths_on_networks.py): Adam beads, scale-free NEB tolerances, and
with a level NEB's pivots held under it (:mod:`.pivots`) and the Bezier curve's level phase.

- :class:`Path`, :func:`linear`: polygonal paths.
- :func:`profile`, :func:`barrier`: energies along a path; the maximum is certified when a
  Lipschitz constant is given, else an estimate.
- :func:`string_sampling`: dynamic string sampling (Freeman & Bruna 2017).
- :func:`neb`: nudged elastic band with climbing image and AutoNEB (Draxler et al. 2018).
- :mod:`.pivots`: points descended under a level and held in a band (NEB with a level).
- :func:`bezier`: Bezier and polygonal-chain curves (Garipov et al. 2018).
- :func:`geodesic`: shortest paths inside a sublevel set ``{E <= level}``.
"""

from importlib import import_module

from .certify import BARRIER_KINDS, Profile, barrier, profile
from .polygon import Path, linear
from .results import PathResult, make_result
from .validate import CountedEnergy

# The algorithms live in modules of their own; they are imported on first use.
_LAZY = {"string_sampling": "strings", "neb": "elastic_band", "bezier": "curves", "geodesic": "geodesics"}

__all__ = ["Path", "linear", "profile", "Profile", "barrier", "BARRIER_KINDS", "PathResult",
           "make_result", "CountedEnergy", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
