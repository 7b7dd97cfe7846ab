"""Tests of lecture_lib.topics.resnets: Shamir's model, its linear slice, and the constructions
of chapter 6."""

import pytest
import torch
from torch.func import functional_call

from lecture_lib.energy import flatten, unflatten
from lecture_lib.topics import resnets


@pytest.fixture(scope="module")
def task():
    return resnets.regression_task(n=64, seed=1)


def _net(width=4, skip=True, seed=0):
    torch.manual_seed(seed)
    return resnets.ShamirNet(5, width, skip=skip).double()


@pytest.mark.parametrize("skip", [True, False])
def test_batched_forward_equals_functional_call_point_by_point(skip):
    net = _net(skip=skip)
    theta = torch.randn(7, flatten(net).numel(), dtype=torch.float64)
    x = torch.randn(11, 5, dtype=torch.float64)
    expected = torch.stack([functional_call(net, unflatten(t, net), (x,)) for t in theta])
    assert torch.allclose(net.forward_batched(theta, x), expected, atol=1e-12)


def test_plain_network_is_the_resnet_without_its_identity_term():
    res, plain = _net(skip=True), _net(skip=False)
    x = torch.randn(9, 5, dtype=torch.float64)
    assert torch.allclose(res(x) - plain(x), (x @ res.w)[:, None], atol=1e-12)


def test_on_the_slice_V_zero_the_loss_is_the_linear_loss_for_every_theta(task):
    net = _net()
    E = resnets.task_energy(net, task)
    w = torch.randn(5, dtype=torch.float64)
    points = torch.stack([resnets.embed_linear(net, w, torch.randn(flatten(net).numel(), dtype=torch.float64))
                          for _ in range(4)])
    linear = float((task.x_train @ w - task.y_train[:, 0]).square().mean())
    assert torch.allclose(E(points), torch.full((4,), linear, dtype=torch.float64), rtol=1e-12)


def test_embed_linear_sets_w_and_zeroes_V_without_touching_its_input():
    net = _net()
    theta = torch.randn(flatten(net).numel(), dtype=torch.float64)
    before = theta.clone()
    parts = resnets.split(net, resnets.embed_linear(net, torch.ones(5), theta)[None])
    assert torch.equal(theta, before)
    assert torch.equal(parts["w"][0], torch.ones(5, dtype=torch.float64)) and not parts["V"].any()
    assert torch.equal(parts["A"][0].reshape(-1), theta[5 + 20:5 + 40])


def test_best_linear_solves_the_normal_equations(task):
    fit = resnets.best_linear(task.x_train, task.y_train)
    X, y = task.x_train, task.y_train[:, 0]
    assert (X.T @ (X @ fit.w - y)).abs().max() < 1e-10
    assert fit.loss == pytest.approx(float((X @ fit.w - y).square().mean()), rel=1e-12)
    worse = float((X @ (fit.w + 0.01) - y).square().mean())
    assert worse > fit.loss


def test_gradient_at_the_embedded_linear_predictor_vanishes_in_w_and_theta_not_in_V(task):
    net = _net()
    fit = resnets.best_linear(task.x_train, task.y_train)
    theta = resnets.embed_linear(net, fit.w).requires_grad_(True)
    (g,) = torch.autograd.grad(resnets.task_energy(net, task)(theta[None])[0], theta)
    parts = resnets.split(net, g[None])
    assert parts["w"].abs().max() < 1e-10 and parts["A"].abs().max() == 0 and parts["b"].abs().max() == 0
    F = torch.relu(task.x_train @ net.A.detach().T + net.b.detach())  # (N, k)
    r = task.x_train @ fit.w - task.y_train[:, 0]
    closed_form = 2 * torch.outer(fit.w, F.T @ r) / len(r)  # w* E[l' F]^T
    assert torch.allclose(parts["V"][0], closed_form, atol=1e-12) and closed_form.abs().max() > 1e-3


@pytest.mark.parametrize("V_norm", [1.0, 50.0])
def test_inactive_point_is_a_stationary_point_with_the_linear_loss_at_any_norm(task, V_norm):
    net = _net()
    fit = resnets.best_linear(task.x_train, task.y_train)
    theta = resnets.inactive_point(net, task.x_train, fit.w, V_norm)
    parts = resnets.split(net, theta[None])
    assert float(torch.linalg.matrix_norm(parts["V"][0], ord=2)) == pytest.approx(V_norm)
    pre = task.x_train @ parts["A"][0].T + parts["b"][0]
    assert float(pre.max()) == pytest.approx(-1.0)  # every unit off, with the margin
    st = resnets.stationarity(resnets.task_energy(net, task), theta)
    assert st.loss == pytest.approx(fit.loss, rel=1e-12)
    assert st.grad_norm < 1e-10 and st.lambda_min > -1e-10 and st.epsilon < 1e-10


def test_plain_inactive_point_is_stationary_with_the_zero_predictor_loss(task):
    net = _net(skip=False)
    fit = resnets.best_linear(task.x_train, task.y_train)
    st = resnets.stationarity(resnets.task_energy(net, task), resnets.inactive_point(net, task.x_train, fit.w, 10.0))
    assert st.loss == pytest.approx(float(task.y_train.square().mean()), rel=1e-12)
    assert st.loss > fit.loss and st.grad_norm == 0 and st.lambda_min == 0


def test_stationarity_of_a_known_quadratic():
    c = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    energy = lambda theta: (theta * c).square().sum(1)  # noqa: E731  Hessian diag(2 c^2)
    st = resnets.stationarity(energy, torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64))
    assert st.loss == pytest.approx(1.0) and st.grad_norm == pytest.approx(2.0)
    assert torch.allclose(st.eigenvalues, torch.tensor([2.0, 8.0, 18.0], dtype=torch.float64))


def test_each_run_of_an_ensemble_trains_as_if_alone(task):
    alone = resnets.train_many(task, 3, n_seeds=1, steps=(20,))
    together = resnets.train_many(task, 3, n_seeds=3, steps=(20,))
    assert torch.allclose(together.thetas[0], alone.thetas[0], atol=1e-12)
    assert not torch.allclose(together.thetas[1], together.thetas[0])


def test_recorded_norms_and_losses_are_those_of_the_final_points(task):
    run = resnets.train_many(task, 3, n_seeds=4, steps=(5, 15), init_scale=0.5)
    net = resnets.ShamirNet(5, 3).double()
    parts = resnets.split(net, run.thetas)
    assert run.losses.shape == run.norm_V.shape == (2, 4) and run.steps == (5, 15)
    assert torch.allclose(run.norm_w[-1], parts["w"].norm(dim=1))
    assert torch.allclose(run.norm_V[-1], torch.linalg.matrix_norm(parts["V"], ord=2))
    assert torch.allclose(run.losses[-1], resnets.task_energy(net, task)(run.thetas))


def test_trained_resnets_end_at_or_below_the_best_linear_predictor(task):
    run = resnets.train_many(task, 4, n_seeds=4, steps=(400,))
    assert bool(run.beats_linear().all()), run.message  # Shamir: no local minimum is worse


def test_training_restores_the_thread_count(task):
    before = torch.get_num_threads()
    resnets.train_many(task, 2, n_seeds=1, steps=(1,))
    assert torch.get_num_threads() == before


def test_barrier_from_the_linear_slice_starts_at_the_linear_loss(task):
    net = _net(3)
    fit = resnets.best_linear(task.x_train, task.y_train)
    run = resnets.train_many(task, 3, n_seeds=1, steps=(200,))
    E = resnets.task_energy(net, task)
    b = resnets.barrier_from_linear(E, net, run.thetas[0], fit.w, max_iter=30)
    assert b.start_loss == pytest.approx(fit.loss, rel=1e-10)
    assert b.end_loss == pytest.approx(float(run.losses[-1, 0]), rel=1e-10)
    assert b.climb >= 0 and b.straight_climb >= 0 and b.gain == pytest.approx(b.start_loss - b.end_loss)
    assert torch.equal(b.path.path.nodes[-1], run.thetas[0])


def test_digits_task_is_a_centred_parity_regression():
    ds = resnets.digits_task()
    assert ds.x_train.shape == (1348, 64) and set(ds.y_train.unique().tolist()) == {-1.0, 1.0}
    assert ds.x_train.mean(0).abs().max() < 1e-12


@pytest.mark.parametrize("kwargs, match", [
    (dict(width=0), "width must be an integer >= 1"),
    (dict(width=2, steps=(10, 5)), "increasing"),
    (dict(width=2, init_scale=-1.0), "init_scale must be a finite number > 0"),
    (dict(width=2, lr=float("nan")), "lr must be a finite number > 0"),
])
def test_train_many_rejects_bad_arguments_by_name(task, kwargs, match):
    with pytest.raises(ValueError, match=match):
        resnets.train_many(task, **kwargs)


def test_inactive_point_rejects_a_non_positive_margin(task):
    with pytest.raises(ValueError, match="margin"):
        resnets.inactive_point(_net(), task.x_train, torch.zeros(5), 1.0, margin=0.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_training_and_the_constructions_run_on_the_device_of_the_data():
    cpu = resnets.regression_task(n=32, seed=2)
    gpu = type(cpu)(*(t.cuda() for t in (cpu.x_train, cpu.y_train, cpu.x_test, cpu.y_test)),
                    cpu.description, teacher=cpu.teacher)
    run = resnets.train_many(gpu, 3, n_seeds=2, steps=(10,))
    assert run.thetas.device.type == "cuda"
    assert torch.allclose(run.thetas.cpu(), resnets.train_many(cpu, 3, n_seeds=2, steps=(10,)).thetas, atol=1e-8)
    net = resnets.ShamirNet(5, 3).double()
    fit = resnets.best_linear(gpu.x_train, gpu.y_train)
    st = resnets.stationarity(resnets.task_energy(net, gpu), resnets.inactive_point(net, gpu.x_train, fit.w, 5.0))
    assert st.loss == pytest.approx(fit.loss, rel=1e-10) and st.grad_norm < 1e-10
