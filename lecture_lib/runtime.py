"""How the library runs: the scale of the experiments and the number of CPU threads.

* ``LECTURE_FULL=1`` in the environment asks every chapter for its paper-scale sweeps
  (:func:`full_scale`); the default is the small live version that runs in about a minute.
* :func:`one_thread` runs torch on one intra-op thread inside a block. The chapters' models
  are small, and many small batched matmuls run faster on one thread than on two busy
  cores (measured on the 2-core development machine: a training step of 16 ResNets of
  width 16 on 256 samples took 2.2 ms of CPU on one thread and 34 ms on two; chapter 4's
  rate sweep 18 s against 630 s). One thread also makes every sum, hence every number a
  chapter prints, reproducible. The previous thread count is restored afterwards.

    >>> import torch
    >>> before = torch.get_num_threads()
    >>> with one_thread():
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
"""

from __future__ import annotations

import contextlib
import os

import torch


def full_scale() -> bool:
    """Whether ``LECTURE_FULL=1`` asks for the paper-scale sweeps."""
    return os.environ.get("LECTURE_FULL") == "1"


@contextlib.contextmanager
def one_thread():
    """Run torch on one CPU thread inside the block (module docstring)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
