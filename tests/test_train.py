import math
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lecture_lib import data, models, train


def _planted(n=64):
    return data.teacher_student(lambda: models.TwoLayer(3, 4, 1), n, seed=0, dtype=torch.float64)


def _make_mlp():
    return models.MLP([3, 8, 1]).double()


@pytest.mark.parametrize("method", ["forward_batched", "functional_call"])
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
@pytest.mark.parametrize("batch_size", [None, 16])
def test_fit_ensemble_agrees_with_one_by_one_fit(optimizer, batch_size, method):
    ds, seeds = _planted(), [5, 6, 7]
    kwargs = dict(steps=40, lr=0.01, batch_size=batch_size, optimizer=optimizer, progress=False)
    ens = train.fit_ensemble(_make_mlp, 3, F.mse_loss, ds.x_train, ds.y_train, seeds=seeds,
                             method=method, **kwargs)
    assert f"({method})" in ens.message
    assert ens.thetas.shape == (3, 3 * 8 + 8 + 8 + 1) and ens.history.shape == (40, 3)
    for i, seed in enumerate(seeds):
        torch.manual_seed(seed)
        one = train.fit(_make_mlp(), F.mse_loss, ds.x_train, ds.y_train, seed=seed, **kwargs)
        torch.testing.assert_close(ens.thetas[i], one.theta, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(ens.history[:, i], one.history, rtol=1e-12, atol=1e-12)
        assert ens.final_losses[i].item() == pytest.approx(one.final_loss, rel=1e-12)


def test_fit_ensemble_agrees_with_fit_for_cross_entropy_classifier():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(40, 4, generator=g, dtype=torch.float64), torch.randint(0, 3, (40,), generator=g)
    make = lambda: models.MLP([4, 6, 3], activation="tanh").double()  # noqa: E731
    kwargs = dict(steps=25, lr=0.05, batch_size=10, progress=False)
    ens = train.fit_ensemble(make, 2, F.cross_entropy, x, y, seeds=[1, 2], **kwargs)
    assert "(forward_batched)" in ens.message
    torch.manual_seed(2)
    one = train.fit(make(), F.cross_entropy, x, y, seed=2, **kwargs)
    torch.testing.assert_close(ens.thetas[1], one.theta, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method", ["forward_batched", "functional_call"])
def test_ridge_penalty_is_part_of_the_objective_in_fit_and_ensemble(method):
    ds = data.teacher_student(lambda: models.DeepLinear([3, 2, 2]), 50, seed=2, dtype=torch.float64)
    make = lambda: models.DeepLinear([3, 4, 2], ridge=0.1).double()  # noqa: E731
    kwargs = dict(steps=30, lr=0.02, progress=False)
    ens = train.fit_ensemble(make, 2, F.mse_loss, ds.x_train, ds.y_train, method=method, **kwargs)
    torch.manual_seed(1)
    one = train.fit(make(), F.mse_loss, ds.x_train, ds.y_train, seed=1, **kwargs)
    torch.testing.assert_close(ens.thetas[1], one.theta, rtol=1e-12, atol=1e-12)
    expected = F.mse_loss(one.model(ds.x_train), ds.y_train) + one.model.penalty()
    assert one.final_loss == pytest.approx(expected.item(), rel=1e-12)
    assert ens.final_losses[1].item() == pytest.approx(one.final_loss, rel=1e-12)


def _plain_conv_net(channels):
    """A small 1-D CNN as a plain nn.Sequential: a module with no forward_batched."""
    return torch.nn.Sequential(torch.nn.Unflatten(1, (1, 40)), torch.nn.Conv1d(1, channels, 5, stride=2, padding=1),
                               torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(channels * 19, 10)).double()


def test_fit_ensemble_trains_modules_without_batched_forward():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(20, 40, generator=g, dtype=torch.float64), torch.randint(0, 10, (20,), generator=g)
    make = lambda: _plain_conv_net(4)  # noqa: E731
    kwargs = dict(steps=5, lr=0.01, batch_size=10, progress=False)
    ens = train.fit_ensemble(make, 2, F.cross_entropy, x, y, **kwargs)
    assert "(functional_call)" in ens.message
    torch.manual_seed(1)
    one = train.fit(make(), F.cross_entropy, x, y, seed=1, **kwargs)
    torch.testing.assert_close(ens.thetas[1], one.theta, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(ens.model(1)(x), one.model(x), rtol=1e-10, atol=1e-12)


def test_ensemble_member_module_carries_its_theta():
    ds = _planted()
    ens = train.fit_ensemble(_make_mlp, 2, F.mse_loss, ds.x_train, ds.y_train, steps=5, lr=0.01, progress=False)
    member = ens.model(1)
    torch.testing.assert_close(member(ds.x_train), member.forward_batched(ens.thetas[1:2], ds.x_train)[0])
    assert F.mse_loss(member(ds.x_train), ds.y_train).item() == pytest.approx(ens.final_losses[1].item())
    with pytest.raises(IndexError, match="out of range"):
        ens.model(2)


def test_fit_reaches_low_loss_on_planted_deep_linear_problem():
    ds = data.teacher_student(lambda: models.DeepLinear([3, 3, 2]), 100, seed=1, dtype=torch.float64)
    torch.manual_seed(0)
    result = train.fit(models.DeepLinear([3, 4, 2]).double(), F.mse_loss, ds.x_train, ds.y_train,
                       steps=600, lr=0.02, seed=0, progress=False)
    assert result.final_loss < 1e-6 and result.history[0] > 100 * result.final_loss
    assert "adam for 600 steps" in result.message


def test_fit_does_not_mutate_the_callers_model():
    ds = _planted()
    model = _make_mlp()
    before = [p.detach().clone() for p in model.parameters()]
    result = train.fit(model, F.mse_loss, ds.x_train, ds.y_train, steps=10, lr=0.1, seed=0, progress=False)
    assert all(torch.equal(p, q) for p, q in zip(before, model.parameters()))
    assert result.model is not model
    assert not torch.equal(result.theta, torch.cat([p.reshape(-1) for p in before]))


def test_minibatches_visit_every_index_once_per_epoch_and_drop_the_remainder():
    batches = list(train.minibatches(10, 3, 6, seed=0))
    assert len(batches) == 6 and all(b.shape == (3,) for b in batches)
    first_epoch = torch.cat(batches[:3])
    assert len(set(first_epoch.tolist())) == 9
    assert all(b is None for b in train.minibatches(10, None, 4, seed=0))


@pytest.mark.parametrize("level", [2.0, 0.0, -0.5])
def test_level_target_is_strictly_below_the_level(level):
    target = train.level_target(level, fraction=0.95)
    assert target < level
    if level > 1:
        assert target == pytest.approx(0.95 * level)


def _bowl(theta):  # (B, d) -> (B,), minimum -1 at theta = 0
    return theta.square().sum(1) - 1.0


def test_train_to_level_reaches_a_negative_level_without_mutating_theta0():
    theta0 = torch.full((4,), 2.0, dtype=torch.float64)
    result = train.train_to_level(_bowl, theta0, -0.5, lr=0.05, max_steps=2000)
    assert result.success and result.energy <= result.target == pytest.approx(-0.55)
    assert _bowl(result.theta[None]).item() == pytest.approx(result.energy)
    assert result.theta.shape == (4,) and torch.equal(theta0, torch.full((4,), 2.0, dtype=torch.float64))
    assert result.n_evaluations == result.steps + 1 == len(result.history)


def test_train_to_level_reports_failure_below_the_minimum():
    result = train.train_to_level(_bowl, torch.ones(1, 3), -2.0, lr=0.05, max_steps=50)
    assert not result.success and result.steps == 50 and result.theta.shape == (1, 3)
    assert "did not reach target" in result.message


def test_train_to_level_stops_at_once_when_already_below_target():
    result = train.train_to_level(_bowl, torch.zeros(2), 1.0)
    assert result.success and result.steps == 0 and result.n_evaluations == 1


def test_bad_arguments_raise_clear_errors():
    ds = _planted(8)
    x, y = ds.x_train, ds.y_train
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'; choose one of 'adam', 'sgd'"):
        train.fit(_make_mlp(), F.mse_loss, x, y, steps=1, lr=0.1, seed=0, optimizer="lbfgs")
    with pytest.raises(ValueError, match="same first dimension"):
        train.fit(_make_mlp(), F.mse_loss, x, y[:5], steps=1, lr=0.1, seed=0)
    with pytest.raises(ValueError, match="steps must be an integer >= 1, got 0"):
        train.fit(_make_mlp(), F.mse_loss, x, y, steps=0, lr=0.1, seed=0)
    with pytest.raises(ValueError, match="len\\(seeds\\) == n_models"):
        train.fit_ensemble(_make_mlp, 3, F.mse_loss, x, y, steps=1, lr=0.1, seeds=[1, 2])
    with pytest.raises(ValueError, match="unknown method 'jit'; choose one of 'auto'"):
        train.fit_ensemble(_make_mlp, 2, F.mse_loss, x, y, steps=1, lr=0.1, method="jit")
    with pytest.raises(ValueError, match="no buffer-free forward_batched"):
        train.fit_ensemble(lambda: _plain_conv_net(2), 2, F.cross_entropy, torch.zeros(4, 40),
                           torch.zeros(4, dtype=torch.long), steps=1, lr=0.1, method="forward_batched")
    with pytest.raises(ValueError, match="theta0 must have shape"):
        train.train_to_level(_bowl, torch.zeros(2, 3), 0.0)
    with pytest.raises(ValueError, match="fraction"):
        train.level_target(1.0, fraction=1.5)


@pytest.mark.parametrize("lr", [math.inf, math.nan, 0.0, -0.1])
def test_fit_and_fit_ensemble_refuse_a_learning_rate_that_is_not_finite_and_positive(lr):
    ds = _planted(8)
    with pytest.raises(ValueError, match=f"lr must be a finite number > 0, got {lr}"):
        train.fit(_make_mlp(), F.mse_loss, ds.x_train, ds.y_train, steps=2, lr=lr, seed=0)
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        train.fit_ensemble(_make_mlp, 2, F.mse_loss, ds.x_train, ds.y_train, steps=2, lr=lr)
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        train.train_to_level(_bowl, torch.ones(2), 0.0, lr=lr)


def test_a_run_that_diverges_says_so_in_its_message():
    ds = _planted(16)
    r = train.fit(_make_mlp(), F.mse_loss, ds.x_train, ds.y_train * 1e30, steps=5, lr=1e30,
                  optimizer="sgd", seed=0, progress=False)
    assert not math.isfinite(r.final_loss) and "DIVERGED (non-finite loss from step" in r.message
    e = train.fit_ensemble(_make_mlp, 2, F.mse_loss, ds.x_train, ds.y_train * 1e30, steps=5,
                           lr=1e30, optimizer="sgd", progress=False)
    assert "2 DIVERGED" in e.message


def test_numpy_and_tensor_integers_are_accepted_for_steps_batch_size_and_seed():
    ds = _planted(16)
    kwargs = dict(lr=0.05, progress=False)
    model = _make_mlp()
    a = train.fit(model, F.mse_loss, ds.x_train, ds.y_train, steps=np.int64(5),
                  batch_size=np.int32(4), seed=np.int64(3), **kwargs)
    b = train.fit(model, F.mse_loss, ds.x_train, ds.y_train, steps=5, batch_size=4, seed=3, **kwargs)
    assert a.steps == 5 and type(a.steps) is int and torch.equal(a.theta, b.theta)
    e = train.fit_ensemble(_make_mlp, np.int64(2), F.mse_loss, ds.x_train, ds.y_train,
                           steps=torch.tensor(3), seeds=np.arange(2), **kwargs)
    assert e.steps == 3 and e.seeds == (0, 1)
    with pytest.raises(ValueError, match="steps must be an integer >= 1, got 2.5"):
        train.fit(_make_mlp(), F.mse_loss, ds.x_train, ds.y_train, steps=2.5, seed=0, **kwargs)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1, got 0"):
        train.fit(_make_mlp(), F.mse_loss, ds.x_train, ds.y_train, steps=2, batch_size=0, seed=0,
                  **kwargs)


@pytest.mark.parametrize("level", [math.nan, math.inf, -math.inf])
def test_train_to_level_refuses_a_level_that_is_not_finite(level):
    with pytest.raises(ValueError, match=f"level must be a finite number, got {level}"):
        train.train_to_level(_bowl, torch.ones(2), level)
    with pytest.raises(ValueError, match="level must be a finite number"):
        train.level_target(level)


def test_train_to_level_options_are_checked_with_their_values():
    with pytest.raises(ValueError, match="max_steps must be an integer >= 0, got -1"):
        train.train_to_level(_bowl, torch.ones(2), 0.0, max_steps=-1)
    with pytest.raises(ValueError, match=r"fraction must be a finite number in \(0, 1\), got 1.0"):
        train.train_to_level(_bowl, torch.ones(2), 0.0, fraction=1.0)
    with pytest.raises(ValueError, match="scale must be a finite number > 0, got 0"):
        train.level_target(1.0, scale=0)
    r = train.train_to_level(_bowl, torch.ones(2), np.float64(-0.5), max_steps=np.int64(300), lr=0.05)
    assert r.success and r.level == -0.5


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fit_ensemble_on_cuda_matches_cpu():
    ds = _planted()
    kwargs = dict(steps=20, lr=0.01, batch_size=16, progress=False)
    cpu = train.fit_ensemble(_make_mlp, 3, F.mse_loss, ds.x_train, ds.y_train, **kwargs)
    gpu = train.fit_ensemble(_make_mlp, 3, F.mse_loss, ds.x_train.cuda(), ds.y_train.cuda(), **kwargs)
    assert gpu.thetas.is_cuda and gpu.history.device.type == "cpu"
    torch.testing.assert_close(gpu.thetas.cpu(), cpu.thetas, rtol=1e-9, atol=1e-10)
