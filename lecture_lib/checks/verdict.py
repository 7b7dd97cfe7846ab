"""What every checker shares: the verdict it returns and the coercion of answers.

A checker takes the student's answer, or a zero-argument function returning it (the
exercise stub raises ``NotImplementedError`` until it is solved), and returns a
:class:`Verdict`. Its ``repr`` is the message, so a check cell shows the verdict and not a
bare ``True``. A check cell that is graded (nbgrader's locked test cells) ends with
``.assert_correct()``: a wrong answer raises ``AssertionError`` with the message, an answer
not attempted raises ``NotImplementedError`` naming the exercise, a right one shows the
verdict.

A verdict never states the expected value of a wrong answer: it says how far off the
answer is and gives a hint.

    >>> v = Verdict(True, "Correct: the valleys merge where you said.")
    >>> bool(v), v
    (True, Correct: the valleys merge where you said.)
    >>> as_array([1, 2.5]).tolist()
    [1.0, 2.5]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real

import numpy as np


@dataclass(frozen=True)
class Verdict:
    """The outcome of a check: ``correct``, the ``message`` shown, and ``attempted``."""

    correct: bool
    message: str
    attempted: bool = True

    def __bool__(self) -> bool:
        return bool(self.correct)

    def __repr__(self) -> str:
        return self.message

    def assert_correct(self) -> "Verdict":
        """Raise unless correct: ``NotImplementedError`` when not attempted (the message
        names the exercise), ``AssertionError`` with the message when wrong."""
        if not self.attempted:
            raise NotImplementedError(self.message)
        if not self.correct:
            raise AssertionError(self.message)
        return self


class NotAnAnswer(ValueError):
    """An answer of the wrong kind (a string, a dict, NaN, the wrong shape)."""


def not_attempted(exercise: str, what: str) -> Verdict:
    """The verdict for a stub: ``exercise`` ("Exercise 1.2"), ``what`` to write."""
    return Verdict(False, f"Not attempted yet: {exercise}. Write {what} (replace the "
                          "`raise NotImplementedError` line) and run this cell again.",
                   attempted=False)


def resolve(answer, exercise: str, what: str):
    """``answer()`` when callable, else ``answer``; a :class:`Verdict` for a stub."""
    if not callable(answer):
        return answer
    try:
        return answer()
    except NotImplementedError:
        return not_attempted(exercise, what)


def as_array(answer, *, name: str = "answer", shape: tuple | None = None) -> np.ndarray:
    """``answer`` as a finite float64 array.

    Accepts numbers, 0-d and n-d tensors, numpy scalars and arrays, tuples and lists of
    those. Refuses strings, bytes, dicts, sets, booleans, complex values, NaN and
    infinities, and (when ``shape`` is given, ``-1`` for any length) other shapes, with a
    :class:`NotAnAnswer` that says what was received.
    """
    if isinstance(answer, (str, bytes, dict, set, frozenset, bool, np.bool_)):
        raise NotAnAnswer(f"{name} must be numbers, got {type(answer).__name__} {answer!r:.60}")
    try:
        if hasattr(answer, "detach"):  # a torch tensor, on any device
            answer = answer.detach().cpu().numpy()
        elif isinstance(answer, (list, tuple)):
            answer = [a.detach().cpu().numpy() if hasattr(a, "detach") else a for a in answer]
        array = np.asarray(answer)
    except (TypeError, ValueError) as error:
        raise NotAnAnswer(f"{name} must be numbers, got {answer!r:.60} ({error})") from None
    if array.dtype.kind not in "iuf":
        raise NotAnAnswer(f"{name} must be real numbers, got {array.dtype} values {answer!r:.60}")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise NotAnAnswer(f"{name} must be finite, got {array.tolist()!r:.80}")
    if shape is not None and (array.ndim != len(shape) or any(
            s not in (-1, n) for s, n in zip(shape, array.shape))):
        want = "x".join("n" if s == -1 else str(s) for s in shape) or "a single number"
        raise NotAnAnswer(f"{name} must have shape {want}, got shape {array.shape}")
    return array


def as_number(answer, *, name: str = "answer") -> float:
    """``answer`` as one finite float (a number, a 0-d tensor or array, a 1-element one)."""
    array = as_array(answer, name=name)
    if array.size != 1:
        raise NotAnAnswer(f"{name} must be a single number, got {array.size} values")
    return float(array.reshape(()))


def relative_error(got, truth) -> float:
    """``max |got - truth| / max(max |truth|, tiny)``, NaN-aware (NaN gives ``inf``)."""
    got, truth = np.asarray(got, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    if got.shape != truth.shape:
        return math.inf
    diff = np.abs(got - truth)
    if not np.isfinite(diff).all():
        return math.inf
    scale = max(float(np.max(np.abs(truth), initial=0.0)), np.finfo(np.float64).tiny)
    return float(np.max(diff, initial=0.0)) / scale


def is_real_number(x) -> bool:
    """A finite real number (not a bool); numpy scalars and 0-d tensors count."""
    try:
        as_number(x)
    except NotAnAnswer:
        return False
    return isinstance(x, Real) or hasattr(x, "shape")
