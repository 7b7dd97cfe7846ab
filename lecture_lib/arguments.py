"""Argument checks shared by the whole library: one clear error per kind of bad input.

Every message names the argument, the value received and what is allowed, so a caller
who passes ``lr=inf`` or ``max_iter=2.5`` learns which argument is wrong and why. The
checks return the value converted (a Python ``int`` or ``float``), so numpy and 0-d
torch scalars are accepted wherever a plain number is.

    >>> positive_int("max_iter", 3)
    3
    >>> positive_float("lr", float("inf"))
    Traceback (most recent call last):
    ...
    ValueError: lr must be a finite number > 0, got inf
    >>> choice("method", "sgd", ("fire", "adam"))
    Traceback (most recent call last):
    ...
    ValueError: unknown method 'sgd'; choose one of 'fire', 'adam'
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import torch


def _scalar(name: str, value, kind: str):
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise TypeError(f"{name} must be {kind}, got a tensor of shape {tuple(value.shape)}")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be {kind}, got {type(value).__name__} {value!r:.40}")
    return value


def real(name: str, value, *, low: float = -math.inf, high: float = math.inf,
         low_open: bool = False, high_open: bool = False, finite: bool = True) -> float:
    """``value`` as a float in the interval given by ``low``, ``high`` (closed unless
    ``*_open``); NaN is always refused, infinities unless ``finite=False``."""
    lo, hi = "(" if low_open else "[", ")" if high_open else "]"
    if (low, high) == (-math.inf, math.inf):
        bounds = []
    elif high == math.inf:  # one-sided: "a finite number >= 1" reads better than "in [1, inf]"
        bounds = [f"{'>' if low_open else '>='} {low:g}"]
    elif low == -math.inf:
        bounds = [f"{'<' if high_open else '<='} {high:g}"]
    else:
        bounds = [f"in {lo}{low:g}, {high:g}{hi}"]
    kind = " ".join(["a finite number" if finite else "a number", *bounds])
    v = float(_scalar(name, value, kind))
    bad = (math.isnan(v) or (finite and math.isinf(v)) or v < low or v > high
           or (low_open and v == low) or (high_open and v == high))
    if bad:
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return v


def positive_float(name: str, value) -> float:
    """A finite float ``> 0``."""
    v = float(_scalar(name, value, "a finite number > 0"))
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return v


def nonnegative_float(name: str, value) -> float:
    """A finite float ``>= 0``."""
    v = float(_scalar(name, value, "a finite number >= 0"))
    if not (math.isfinite(v) and v >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


def integer(name: str, value, *, low: int | None = None) -> int:
    """An integer (Python, numpy or 0-d tensor; ``2.0`` is accepted, ``2.5`` is not)
    that is at least ``low`` when given."""
    kind = "an integer" + ("" if low is None else f" >= {low}")
    v = _scalar(name, value, kind)
    if not isinstance(v, Integral):
        if not (math.isfinite(v) and float(v).is_integer()):
            raise ValueError(f"{name} must be {kind}, got {value!r}")
    v = int(v)
    if low is not None and v < low:
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return v


def positive_int(name: str, value) -> int:
    """An integer ``>= 1``."""
    return integer(name, value, low=1)


def nonnegative_int(name: str, value) -> int:
    """An integer ``>= 0``."""
    return integer(name, value, low=0)


def seed(name: str, value) -> int | None:
    """``None`` (no fixed seed) or an integer ``>= 0``."""
    return None if value is None else integer(name, value, low=0)


def choice(name: str, value, options) -> str:
    """``value`` if it is one of ``options``; else a ``ValueError`` listing them."""
    options = tuple(options)
    if not isinstance(value, str) or value not in options:
        listed = ", ".join(repr(o) for o in options)
        raise ValueError(f"unknown {name} {value!r}; choose one of {listed}")
    return value


def optional(check, name: str, value, **kwargs):
    """``None`` passes; anything else goes through ``check(name, value, **kwargs)``.

    >>> optional(positive_float, "lipschitz", None) is None, optional(positive_float, "lipschitz", 2)
    (True, 2.0)
    """
    return None if value is None else check(name, value, **kwargs)


def tiny(dtype: torch.dtype) -> float:
    """The smallest positive normal number of ``dtype``: the floor for divisions by a
    norm (``clamp_min(1e-300)`` is 0 in float32).

    >>> tiny(torch.float32) > 0 and torch.tensor(1e-300, dtype=torch.float32) == 0
    tensor(True)
    """
    return torch.finfo(dtype).tiny


def divide_or_zero(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """``numerator / denominator`` where the denominator is nonzero, else 0, in any dtype.

    The floor is :func:`tiny` of the denominator's dtype, so a zero denominator gives an
    exact 0 (never ``0 / 0 = nan``) and a quotient that overflows is ``inf`` only where it
    truly is that large. For steps ``excess / |grad|`` at points where the gradient vanishes.

    >>> divide_or_zero(torch.tensor([1.0, 0.0, 3.0]), torch.tensor([2.0, 0.0, 0.0]))
    tensor([0.5000, 0.0000, 0.0000])
    """
    safe = denominator.clamp_min(tiny(denominator.dtype)) if denominator.is_floating_point() else denominator
    return torch.where(denominator > 0, numerator / safe, torch.zeros_like(numerator / safe))
