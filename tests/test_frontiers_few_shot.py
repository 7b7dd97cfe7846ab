"""MAML on sinusoids: task sampling, the inner step, and MAML beating both baselines at small K."""

import math

import pytest
import torch

from lecture_lib.frontiers import few_shot


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_tasks_are_sinusoids_with_parameters_in_range():
    t = few_shot.sample_tasks(20, 5, 7, seed=1)
    assert t.x_support.shape == (20, 5, 1) and t.x_query.shape == (20, 7, 1)
    assert ((0.1 <= t.amplitude) & (t.amplitude <= 5.0)).all() and ((0 <= t.phase) & (t.phase <= math.pi)).all()
    y = t.amplitude[:, None, None] * torch.sin(t.x_query.double() - t.phase[:, None, None])
    assert torch.allclose(t.y_query.double(), y, atol=1e-5)


def test_one_inner_step_is_a_gradient_step_and_does_not_mutate():
    net = few_shot.make_net(0)
    params = {k: v.detach().clone() for k, v in net.named_parameters()}
    before = {k: v.clone() for k, v in params.items()}
    t = few_shot.sample_tasks(1, 10, seed=0)
    x, y = t.x_support[0], t.y_support[0]
    adapted = few_shot.adapt(net, params, x, y, alpha=0.01, n_inner=1)
    loss = (net(x) - y).square().mean()
    grads = torch.autograd.grad(loss, list(net.parameters()))
    for (k, p), g in zip(net.named_parameters(), grads):
        assert torch.allclose(adapted[k], p.detach() - 0.01 * g, atol=1e-6)
        assert torch.equal(params[k], before[k])


def test_post_adaptation_mse_batched_over_tasks_equals_one_task_at_a_time():
    net = few_shot.make_net(0)
    params = dict(net.named_parameters())
    t = few_shot.sample_tasks(3, 5, 10, seed=2)
    batched = few_shot.post_adaptation_mse(net, params, t, alpha=0.01, n_inner=2)
    one = few_shot.Tasks(t.x_support[1:2], t.y_support[1:2], t.x_query[1:2], t.y_query[1:2],
                         t.amplitude[1:2], t.phase[1:2])
    assert torch.allclose(batched[1:2], few_shot.post_adaptation_mse(net, params, one, alpha=0.01, n_inner=2))


def test_maml_beats_pretraining_and_scratch_at_small_k():
    r = few_shot.experiment(k_shots=(5,), iterations=600, n_test_tasks=60)
    assert r.maml_wins == (True,)
    assert r.mse["maml"][0] < 0.8 * r.mse["pretrained"][0]
