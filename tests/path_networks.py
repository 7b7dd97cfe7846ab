"""The networks of issue 8 at sizes that train and connect in seconds, for
tests/test_paths_on_networks.py (``text_lstm``'s energy uses ``CharLSTM.forward_batched``, a
stacked LSTM recurrence, since ``nn.LSTM`` has no vmap batching rule).

Each entry builds ``(energy, a, b, low, high)``: two endpoints trained independently (from
``torch.manual_seed(1)`` and ``(2)``) by full-batch Adam to just under the level ``low``
(a loss these tiny models reach), and a high level 90% of the way from ``low`` to the
maximum of the straight segment, so that the straight line is not accepted at either level.
"""

from __future__ import annotations

import functools

import torch

from lecture_lib import data, models, train
from lecture_lib.energy import flatten, model_energy
from lecture_lib.paths import linear, profile


def _cubic():
    ds = data.cubic_regression(n=100, seed=0)
    return models.SigmoidNet1441, ds.loss, ds.x_train, ds.y_train, 0.12, 3e-2


def _digits():
    ds = data.digits(seed=0)
    x, y = ds.x_train[:256], ds.y_train[:256]
    return (lambda: models.MLP([64, 16, 10], activation="relu")), ds.loss, x, y, 0.1, 1e-2


def _mnist():
    ds = data.mnist(seed=0)
    x, y = ds.x_train[:128], ds.y_train[:128]
    return (lambda: models.SmallCNN(image_size=28, channels=(4, 8))), ds.loss, x, y, 0.1, 1e-2


def _mnist1d():
    ds = data.mnist1d(num_samples=200)
    return (lambda: models.CNN1D(channels=8)), ds.loss, ds.x_train[:128], ds.y_train[:128], 0.3, 1e-2


def _text():
    ds = data.text(seq_len=16, n_chars=4000)
    x, y = ds.x_train[:32], ds.y_train[:32]
    make = lambda: models.CharLSTM(len(ds.vocab), hidden=16, embed=8)
    return make, ds.loss, x, y, 2.0, 3e-2


NETWORKS = {"cubic": _cubic, "digits_mlp": _digits, "mnist_cnn": _mnist, "mnist1d_cnn": _mnist1d,
            "text_lstm": _text}


@functools.lru_cache(maxsize=None)
def problem(name: str, max_steps: int = 4000):
    """``(energy, a, b, low, high)`` for network ``name`` (cached: build once per session)."""
    make, loss, x, y, low, lr = NETWORKS[name]()
    torch.manual_seed(0)
    E = model_energy(make(), loss, x, y)
    ends = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        r = train.train_to_level(E, flatten(make()), low, scale=low, max_steps=max_steps, lr=lr)
        if not r.success:
            raise RuntimeError(f"{name}: endpoint {seed} did not train under {low}: {r.message}")
        ends.append(r.theta)
    a, b = ends
    straight = profile(E, linear(a, b)).max_energy
    if not straight > low:
        raise RuntimeError(f"{name}: the straight segment is already below the level ({straight:.4g})")
    return E, a, b, low, low + 0.9 * (straight - low)
