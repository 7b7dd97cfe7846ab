"""Polygonal paths in parameter space.

A :class:`Path` is a chain of nodes ``theta_0, ..., theta_{K-1}`` in ``R^d`` joined by
straight segments. Its length is ``sum_k ||theta_{k+1} - theta_k||`` and its normalized
length is that length over the end-to-end distance ``||theta_{K-1} - theta_0||``
(Freeman & Bruna 2017, Sec. 4): 1 for a straight segment, larger for a curved path.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .. import arguments as arg
from .validate import check_endpoints


@dataclass(frozen=True)
class Path:
    """A polygonal path with ``nodes: Tensor[K, d]``, ``K >= 2``.

    The nodes are copied on construction, so the path never aliases the caller's tensor.

    >>> p = Path(torch.tensor([[0., 0.], [3., 0.], [3., 4.]]))
    >>> p.length(), p.normalized_length()
    (7.0, 1.4)
    """

    nodes: Tensor  # (K, d)

    def __post_init__(self):
        nodes = self.nodes
        if not isinstance(nodes, Tensor):
            raise TypeError(f"Path nodes must be a torch.Tensor of shape (K, d), got {type(nodes).__name__}")
        if nodes.dim() != 2 or nodes.shape[0] < 2 or nodes.shape[1] < 1:
            raise ValueError(f"Path nodes must have shape (K, d) with K >= 2, got {tuple(nodes.shape)}")
        if not nodes.is_floating_point():
            raise TypeError(f"Path nodes must have a floating dtype, got {nodes.dtype}")
        if not torch.isfinite(nodes).all():
            raise ValueError("Path nodes contain non-finite values (nan or inf)")
        object.__setattr__(self, "nodes", nodes.detach().clone())

    @property
    def n_nodes(self) -> int:
        return self.nodes.shape[0]

    @property
    def dim(self) -> int:
        return self.nodes.shape[1]

    def segment_lengths(self) -> Tensor:
        """``||theta_{k+1} - theta_k||`` for each segment, shape ``(K - 1,)``."""
        return torch.linalg.vector_norm(self.nodes[1:] - self.nodes[:-1], dim=1)

    def length(self) -> float:
        """Euclidean length ``sum_k ||theta_{k+1} - theta_k||``."""
        return float(self.segment_lengths().sum())

    def end_to_end(self) -> float:
        """Distance ``||theta_{K-1} - theta_0||`` between the endpoints."""
        return float(torch.linalg.vector_norm(self.nodes[-1] - self.nodes[0]))

    def normalized_length(self) -> float:
        """Length over the end-to-end distance; ``inf`` for a closed loop."""
        d = self.end_to_end()
        return self.length() / d if d > 0 else float("inf")

    def arc(self) -> Tensor:
        """Arc-length fraction of each node, ``(K,)``, from 0 to 1 (uniform if length 0)."""
        s = torch.cat([self.segment_lengths().new_zeros(1), self.segment_lengths().cumsum(0)])
        total = s[-1]
        if total <= 0:
            return torch.linspace(0, 1, self.n_nodes, dtype=s.dtype, device=s.device)
        return s / total

    def at(self, t: Tensor) -> Tensor:
        """Points at arc-length fractions ``t: (T,)`` in ``[0, 1]``, shape ``(T, d)``."""
        t = torch.as_tensor(t, dtype=self.nodes.dtype, device=self.nodes.device).reshape(-1)
        outside = ~((t >= 0) & (t <= 1))  # NaN compares false both ways: refused too
        if outside.any():
            bad = float(t[outside][0])
            raise ValueError(f"arc-length fractions t must lie in [0, 1], got {bad}")
        s = self.arc()
        k = torch.searchsorted(s, t, right=True).clamp(1, self.n_nodes - 1) - 1  # segment index
        width = (s[k + 1] - s[k]).clamp_min(arg.tiny(s.dtype))
        w = ((t - s[k]) / width).clamp(0, 1).unsqueeze(1)
        return (1 - w) * self.nodes[k] + w * self.nodes[k + 1]

    def resample(self, n_points: int) -> "Path":
        """A path through ``n_points`` nodes spaced at equal arc length along this one."""
        n_points = arg.integer("n_points", n_points, low=2)
        t = torch.linspace(0, 1, n_points, dtype=self.nodes.dtype, device=self.nodes.device)
        return Path(self.at(t))

    def to(self, device=None, dtype=None) -> "Path":
        return Path(self.nodes.to(device=device, dtype=dtype))

    def save(self, file) -> None:
        """Write the nodes to ``file`` (``.npz``) atomically: a temporary file, then a rename.

        The file gets the permissions a plain ``open(file, "w")`` would give it (``0o666``
        less the umask), not the private ``0o600`` of the temporary file."""
        file = os.fspath(file)
        folder = os.path.dirname(os.path.abspath(file))
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp.npz")
        try:
            os.fchmod(fd, 0o666 & ~_umask())
            nodes = self.nodes.detach().cpu()
            if nodes.dtype == torch.bfloat16:  # numpy has no bfloat16; float32 holds it exactly
                nodes = nodes.float()
            with os.fdopen(fd, "wb") as f:
                np.savez(f, nodes=nodes.numpy(), dtype=np.array(str(self.nodes.dtype)))
            os.replace(tmp, file)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    @classmethod
    def load(cls, file, device=None) -> "Path":
        """Read a path written by :meth:`save`, or nodes ``(K, d)`` saved by ``np.save``
        (``.npy``); no pickled code is executed."""
        try:
            data = np.load(os.fspath(file), allow_pickle=False)
        except ValueError as error:  # pickled object arrays, or not a numpy file at all
            raise ValueError(f"{file} is not a saved Path (.npz) nor a plain .npy array of "
                             f"nodes: {error}") from None
        if isinstance(data, np.ndarray):  # a plain .npy file: the nodes themselves
            if data.dtype.kind != "f":
                raise ValueError(f"{file} holds a {data.dtype} array; Path nodes must be floating")
            nodes = torch.from_numpy(np.array(data))
            return cls(nodes.to(device=device))
        with data:
            if "nodes" not in data:
                raise ValueError(f"{file} holds no 'nodes' array: not a saved Path")
            nodes = torch.from_numpy(np.array(data["nodes"]))
            name = str(data["dtype"]) if "dtype" in data else str(nodes.dtype)
        dtype = getattr(torch, name.removeprefix("torch."), None)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise ValueError(f"{file} records dtype {name!r}, not a floating torch dtype")
        return cls(nodes.to(device=device, dtype=dtype))


def _umask() -> int:
    """The process umask (read by setting it and restoring it at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def linear(a: Tensor, b: Tensor, n_points: int = 2) -> Path:
    """The straight path ``theta(t) = (1 - t) a + t b`` through ``n_points`` equally spaced nodes."""
    a, b = check_endpoints(a, b)
    n_points = arg.integer("n_points", n_points, low=2)
    t = torch.linspace(0, 1, n_points, dtype=a.dtype, device=a.device).unsqueeze(1)  # (K, 1)
    return Path((1 - t) * a + t * b)
