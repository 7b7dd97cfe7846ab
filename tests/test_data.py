import random
import socket

import numpy as np
import pytest
import torch

from lecture_lib import data, models

_SMALL = {
    "cubic_regression": dict(n=20),
    "teacher_student": dict(model=lambda: models.TwoLayer(3, 4, 1), n=20, seed=0),
    "not_linearly_fittable": dict(n=20),
    "digits": {},
    "mnist": {},
    "mnist1d": dict(num_samples=100),
    "text": dict(n_chars=5000, seq_len=32),
}


def test_every_loader_works_with_networking_disabled(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a data loader tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    assert set(_SMALL) == set(data.LOADERS)
    for name, kwargs in _SMALL.items():
        ds = data.load(name, **kwargs)
        assert len(ds.x_train) == len(ds.y_train) > 0 and len(ds.x_test) == len(ds.y_test) > 0, name


def test_cubic_regression_targets_are_the_freeman_bruna_cubic_with_l1_loss():
    ds = data.cubic_regression(n=50, seed=3, dtype=torch.float64)
    x = ds.x_train
    torch.testing.assert_close(ds.y_train, 8 * x**3 - 10 * x**2 + 3 * x)
    assert x.min() >= 0 and x.max() <= 1 and ds.loss_name == "l1" and ds.loss is torch.nn.functional.l1_loss


def test_splits_are_deterministic_from_the_seed_and_differ_between_seeds():
    a, b, c = data.digits(seed=1), data.digits(seed=1), data.digits(seed=2)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.y_train, c.y_train)
    assert len(a.x_train) + len(a.x_test) == 1797


def test_digits_and_mnist_are_real_images_scaled_to_unit_interval():
    d, m = data.digits(), data.mnist(dtype=torch.float64)
    assert d.x_train.shape[1] == 64 and m.x_train.shape[1] == 784 and m.x_train.dtype == torch.float64
    assert len(m.x_train) + len(m.x_test) == 5000
    for ds in (d, m):
        assert ds.x_train.min() == 0 and ds.x_train.max() == 1
        assert set(ds.y_train.tolist()) == set(range(10)) and ds.y_train.dtype == torch.int64


def test_mnist1d_matches_generator_and_restores_global_rngs():
    from mnist1d.data import get_dataset_args, make_dataset
    np.random.seed(123)
    random.seed(123)
    before = np.random.rand(), random.random()
    np.random.seed(123)
    random.seed(123)
    ds = data.mnist1d(num_samples=100)
    assert (np.random.rand(), random.random()) == before
    args = get_dataset_args()
    args.num_samples, args.train_split = 100, 0.8
    ref = make_dataset(args)
    np.testing.assert_allclose(ds.x_train.double().numpy(), ref["x"], rtol=1e-6)
    np.testing.assert_array_equal(ds.y_test.numpy(), ref["y_test"])
    assert ds.x_train.shape == (80, 40)


def test_mnist1d_cache_is_not_shared_with_returned_tensors():
    a = data.mnist1d(num_samples=100, dtype=torch.float64)
    a.x_train.zero_()
    assert data.mnist1d(num_samples=100, dtype=torch.float64).x_train.abs().sum() > 0


def test_teacher_student_targets_equal_the_teacher_and_caller_model_is_untouched():
    teacher = models.DeepLinear([3, 2, 2])
    before = [p.detach().clone() for p in teacher.parameters()]
    ds = data.teacher_student(teacher, 30, seed=0, dtype=torch.float64)
    torch.testing.assert_close(ds.y_train, ds.teacher(ds.x_train))
    assert all(torch.equal(p, q) for p, q in zip(before, teacher.parameters()))
    assert next(teacher.parameters()).dtype == torch.float32


def test_teacher_from_factory_is_fixed_by_seed_and_noise_has_given_scale():
    make = lambda: models.TwoLayer(4, 5, 1)  # noqa: E731
    a = data.teacher_student(make, 2000, seed=7, noise=0.5, dtype=torch.float64)
    b = data.teacher_student(make, 2000, seed=7, noise=0.5, dtype=torch.float64)
    assert torch.equal(a.y_train, b.y_train)
    residual = a.y_train - a.teacher(a.x_train)
    assert abs(residual.std().item() - 0.5) < 0.03


def test_not_linearly_fittable_has_positive_linear_optimum_matching_lstsq():
    ds = data.not_linearly_fittable(n=200, n_in=2, seed=0, dtype=torch.float64)
    x1 = torch.cat([ds.x_train, torch.ones(200, 1, dtype=torch.float64)], 1)
    coef = torch.linalg.pinv(x1) @ ds.y_train
    expected = (x1 @ coef - ds.y_train).square().mean().item()
    assert ds.linear_optimum == pytest.approx(expected, rel=1e-9)
    assert ds.linear_optimum > 1.0  # Var(x_1^2 + x_2^2) = 4 for Gaussian inputs
    fittable = data.linear_least_squares(ds.x_train, 2 * ds.x_train[:, :1] + 1)
    assert fittable < 1e-20


def test_text_targets_are_next_characters_and_encode_decode_round_trip():
    ds = data.text(n_chars=5000, seq_len=16)
    assert ds.x_train.dtype == torch.int64 and ds.x_train.shape[1] == 16
    torch.testing.assert_close(ds.x_train[:, 1:], ds.y_train[:, :-1])
    s = ds.decode(ds.x_train[0])
    assert torch.equal(ds.encode(s), ds.x_train[0]) and len(s) == 16
    with pytest.raises(ValueError, match="not in the vocabulary"):
        ds.encode("\u2603")


def test_text_loss_takes_a_character_models_logits_per_position():
    ds = data.text(n_chars=5000, seq_len=16)
    torch.manual_seed(0)
    logits = torch.randn(3, 16, ds.n_classes)
    y = ds.y_train[:3]
    by_position = torch.stack([torch.nn.functional.cross_entropy(logits[:, t], y[:, t]) for t in range(16)])
    assert ds.loss_name == "sequence_cross_entropy"
    torch.testing.assert_close(ds.loss(logits, y), by_position.mean())
    with pytest.raises(RuntimeError):  # plain cross_entropy reads (N, T, V) as (N, C=T, d=V)
        torch.nn.functional.cross_entropy(logits, y)


def test_dataset_is_frozen():
    ds = data.cubic_regression(n=5)
    with pytest.raises(AttributeError):
        ds.x_train = None


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="unknown data set 'cifar10'; options"):
        data.load("cifar10")
    with pytest.raises(ValueError, match="unknown loss 'hinge'; options"):
        data.loss_fn("hinge")
    with pytest.raises(ValueError, match="n must be a positive integer"):
        data.cubic_regression(n=0)
    with pytest.raises(ValueError, match="test_fraction"):
        data.digits(test_fraction=1.5)
    with pytest.raises(ValueError, match="multiple of 10"):
        data.mnist1d(num_samples=95)
    with pytest.raises(ValueError, match="unknown target"):
        data.not_linearly_fittable(target="sin")
    with pytest.raises(TypeError, match="nn.Module or a factory"):
        data.teacher_student(3, 10, seed=0)
    with pytest.raises(ValueError, match="pass n_in"):
        data.teacher_student(torch.nn.Identity(), 10, seed=0)
