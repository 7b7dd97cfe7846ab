"""The inductive bias of convolutions: a CNN and an MLP on real digits, with and without a
fixed permutation of the pixels.

A convolution assumes that nearby pixels belong together; a fully connected first layer
assumes nothing about the order of its inputs. Apply one fixed random permutation ``P`` to
the pixels of every image (train and test alike): the MLP is *exactly* indifferent, because
``x -> W_1 P x`` is the first layer ``W_1 P`` on the original image and the entries of
``W_1`` are i.i.d. at initialisation, so ``W_1 P`` has the law of ``W_1`` and training (a
function of the gradients, which transform the same way) gives the same distribution of
test accuracies (:func:`permuted_first_layer` makes the coupling exact). The CNN loses its
locality prior and with it its advantage (the "permuted MNIST" comparison).

The data are the 5,000 real MNIST images of :func:`lecture_lib.data.mnist`.

>>> P = pixel_permutation(784, seed=0)
>>> sorted(P.tolist()) == list(range(784))
True
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lecture_lib.arguments import positive_int, seed as check_seed
from lecture_lib.data import mnist
from lecture_lib.runtime import full_scale
from lecture_lib.models import MLP, SmallCNN
from lecture_lib.train import fit

FULL = full_scale()
CHANNELS = (8, 16)  # SmallCNN: 9,098 parameters
HIDDEN = 12  # MLP 784-12-10: 9,550 parameters


def pixel_permutation(n_pixels: int = 784, seed: int = 0) -> torch.Tensor:
    """One fixed random permutation of ``range(n_pixels)`` from ``torch.Generator().manual_seed(seed)``."""
    n = positive_int("n_pixels", n_pixels)
    return torch.randperm(n, generator=torch.Generator().manual_seed(check_seed("seed", seed)))


def make_model(kind: str):
    """``"cnn"``: ``SmallCNN(28, 10, CHANNELS)``; ``"mlp"``: ``MLP([784, HIDDEN, 10])``."""
    if kind == "cnn":
        return SmallCNN(28, 10, CHANNELS)
    if kind == "mlp":
        return MLP([784, HIDDEN, 10])
    raise ValueError(f"unknown kind {kind!r}; choose one of 'cnn', 'mlp'")


def n_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


def permuted_first_layer(mlp: MLP, perm: torch.Tensor) -> MLP:
    """A copy of ``mlp`` whose first layer reads permuted images: ``W_1' = W_1[:, perm]``, so
    ``mlp'(x[:, perm]) = mlp(x)`` for every ``x`` (the coupling behind the exact invariance)."""
    out = copy.deepcopy(mlp)
    with torch.no_grad():
        out.layers[0].weight.copy_(mlp.layers[0].weight[:, perm])
    return out


def accuracy(model, x, y) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).double().mean())


@dataclass(frozen=True)
class BiasResult:
    """``accuracy[kind][permuted]``: test accuracies ``(n_seeds,)`` for ``kind in ('cnn', 'mlp')``
    and ``permuted in (False, True)``; ``n_params`` of each; ``cnn_advantage`` (mean CNN minus mean
    MLP accuracy) without and with the permutation."""

    accuracy: dict
    n_params: dict
    cnn_advantage: tuple
    n_train: int
    n_test: int
    epochs: int
    message: str


def experiment(n_seeds: int = 3, epochs: int | None = None, *, batch_size: int = 32, lr: float = 2e-3,
               perm_seed: int = 0, data_seed: int = 0, device=None) -> BiasResult:
    """Train both models on MNIST (4,000 train / 1,000 test images), plain and permuted, for
    ``n_seeds`` seeds each (Adam, minibatches, on ``device``); report test accuracies.
    One epoch by default, ten with ``LECTURE_FULL=1``."""
    n_seeds = positive_int("n_seeds", n_seeds)
    epochs = positive_int("epochs", epochs if epochs is not None else (10 if FULL else 1))
    data = mnist(seed=data_seed, device=device)
    perm = pixel_permutation(784, perm_seed).to(data.x_train.device)
    steps = epochs * (len(data.x_train) // batch_size)
    acc, sizes = {}, {}
    for kind in ("cnn", "mlp"):
        acc[kind] = {}
        for permuted in (False, True):
            x_tr = data.x_train[:, perm] if permuted else data.x_train
            x_te = data.x_test[:, perm] if permuted else data.x_test
            scores = []
            for s in range(n_seeds):
                torch.manual_seed(s)
                model = make_model(kind)
                sizes[kind] = n_parameters(model)
                res = fit(model, F.cross_entropy, x_tr, data.y_train, steps=steps, lr=lr,
                          batch_size=batch_size, seed=s, progress=False)
                scores.append(accuracy(res.model, x_te, data.y_test))
            acc[kind][permuted] = torch.tensor(scores, dtype=torch.float64)  # on the CPU
    adv = tuple(float(acc["cnn"][p].mean() - acc["mlp"][p].mean()) for p in (False, True))
    msg = (f"test accuracy over {n_seeds} seeds, {epochs} epochs: CNN {acc['cnn'][False].mean():.3f} -> "
           f"{acc['cnn'][True].mean():.3f} permuted, MLP {acc['mlp'][False].mean():.3f} -> "
           f"{acc['mlp'][True].mean():.3f}; CNN advantage {adv[0]:+.3f} -> {adv[1]:+.3f}")
    return BiasResult(acc, sizes, adv, len(data.x_train), len(data.x_test), epochs, msg)
