import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from lecture_lib import models
from lecture_lib.energy import METHODS, ModelEnergy, flatten, model_energy, unflatten
from lecture_lib.paths import CountedEnergy

f64 = torch.float64


def _pointwise(model, loss_fn, x, y, theta):
    """Reference: load each row into a copy of the module (eval mode) and run it."""
    ref = copy.deepcopy(model).eval()
    out = []
    for row in theta:
        vector_to_parameters(row.detach().clone(), ref.parameters())
        with torch.no_grad():
            out.append(loss_fn(ref(x), y))
    return torch.stack(out)


def _problem(kind, seed=0):
    """(model, loss_fn, x, y) in float64."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    if kind == "mlp_ce":
        model = models.MLP([5, 7, 3]).double()
        x, y = torch.randn(11, 5, generator=g, dtype=f64), torch.randint(0, 3, (11,), generator=g)
        return model, F.cross_entropy, x, y
    if kind == "deep_linear_mse":
        model = models.DeepLinear([4, 3, 2, 2]).double()
    elif kind == "quadratic_mse":
        model = models.QuadraticNet(4, 5, n_out=2).double()
    elif kind == "two_layer_mse":
        model = models.TwoLayer(4, 6, 2, activation="leaky", bias=True).double()
    elif kind == "sequential_mse":  # no forward_batched: functional_call path
        model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2)).double()
    else:
        raise AssertionError(kind)
    x, y = torch.randn(9, 4, generator=g, dtype=f64), torch.randn(9, 2, generator=g, dtype=f64)
    return model, F.mse_loss, x, y


KINDS = ["mlp_ce", "deep_linear_mse", "quadratic_mse", "two_layer_mse", "sequential_mse"]


def _theta(model, B, seed=1):
    g = torch.Generator().manual_seed(seed)
    d = sum(p.numel() for p in model.parameters())
    return flatten(model) + 0.5 * torch.randn(B, d, generator=g, dtype=f64)  # (B, d)


@pytest.mark.parametrize("kind", KINDS)
def test_energy_equals_point_by_point_module_evaluation(kind):
    model, loss_fn, x, y = _problem(kind)
    E = model_energy(model, loss_fn, x, y)
    theta = _theta(model, 5)
    torch.testing.assert_close(E(theta), _pointwise(model, loss_fn, x, y, theta), rtol=1e-12, atol=1e-12)
    assert E.method == ("functional_call" if kind == "sequential_mse" else "forward_batched")


@pytest.mark.parametrize("kind", KINDS[:4])
def test_forward_batched_path_equals_functional_call_path_equals_pointwise(kind):
    model, loss_fn, x, y = _problem(kind)
    theta = _theta(model, 4)
    fb = model_energy(model, loss_fn, x, y, method="forward_batched")(theta)
    fc = model_energy(model, loss_fn, x, y, method="functional_call")(theta)
    torch.testing.assert_close(fb, fc, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fb, _pointwise(model, loss_fn, x, y, theta), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method", ["forward_batched", "functional_call"])
@pytest.mark.parametrize("kind", ["mlp_ce", "two_layer_mse"])
def test_gradient_matches_pointwise_autograd(kind, method):
    model, loss_fn, x, y = _problem(kind)
    E = model_energy(model, loss_fn, x, y, method=method)
    theta = _theta(model, 3).requires_grad_(True)
    (grad,) = torch.autograd.grad(E(theta).sum(), theta)  # (B, d)
    for b in range(3):
        ref = copy.deepcopy(model)
        vector_to_parameters(theta[b].detach().clone(), ref.parameters())
        gs = torch.autograd.grad(loss_fn(ref(x), y), list(ref.parameters()))
        torch.testing.assert_close(grad[b], torch.cat([g.reshape(-1) for g in gs]), rtol=1e-10, atol=1e-12)


def test_fast_cross_entropy_matches_loss_module_and_ignore_index_falls_back():
    model, _, x, y = _problem("mlp_ce")
    theta = _theta(model, 4)
    ref = _pointwise(model, F.cross_entropy, x, y, theta)
    torch.testing.assert_close(model_energy(model, nn.CrossEntropyLoss(), x, y)(theta), ref,
                               rtol=1e-12, atol=1e-12)
    y_ignored = y.clone()
    y_ignored[:3] = -100  # F.cross_entropy skips these; the fast path must not be used
    E = model_energy(model, F.cross_entropy, x, y_ignored)
    torch.testing.assert_close(E(theta), _pointwise(model, F.cross_entropy, x, y_ignored, theta),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["mlp_ce", "sequential_mse"])
def test_module_is_unchanged_by_building_and_evaluating(kind):
    model, loss_fn, x, y = _problem(kind)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    params = [id(p) for p in model.parameters()]
    x0, y0 = x.clone(), y.clone()
    E = model_energy(model, loss_fn, x, y)
    theta = _theta(model, 3).requires_grad_(True)
    E(theta).sum().backward()
    assert model.training
    assert [id(p) for p in model.parameters()] == params
    assert all(p.grad is None for p in model.parameters())
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert torch.equal(x, x0) and torch.equal(y, y0)


@pytest.mark.parametrize("kind", ["mlp_ce", "sequential_mse"])
def test_chunking_does_not_change_the_energy(kind):
    model, loss_fn, x, y = _problem(kind)
    theta = _theta(model, 7)
    values = [model_energy(model, loss_fn, x, y, chunk_size=c)(theta) for c in (1, 3, 7)]
    for v in values[1:]:
        torch.testing.assert_close(v, values[0], rtol=1e-13, atol=1e-13)


def test_default_chunk_keeps_a_chunk_activation_near_eight_mebibytes():
    model = models.MLP([64, 128, 10])
    x, y = torch.randn(128, 64), torch.randint(0, 10, (128,))
    assert model_energy(model, F.cross_entropy, x, y).chunk_size == 128  # 8 MiB / (128 * 128 * 4 B)
    x, y = torch.randn(1797, 64), torch.randint(0, 10, (1797,))
    assert model_energy(model, F.cross_entropy, x, y).chunk_size == 9  # 8 MiB / (1797 * 128 * 4 B)


def test_batchnorm_energy_uses_frozen_running_stats_in_eval_mode():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 1)).double()
    bn = model[1]
    with torch.no_grad():
        bn.running_mean.copy_(torch.tensor([0.5, -1.0, 2.0, 0.0]))
        bn.running_var.copy_(torch.tensor([2.0, 0.5, 1.0, 3.0]))
    model.train()
    x, y = torch.randn(10, 3, dtype=f64), torch.randn(10, 1, dtype=f64)
    E = model_energy(model, F.mse_loss, x, y)
    assert E.method == "functional_call"
    stats = (bn.running_mean.clone(), bn.running_var.clone(), bn.num_batches_tracked.clone())
    theta = _theta(model, 4)
    values = E(theta)
    torch.testing.assert_close(values, _pointwise(model, F.mse_loss, x, y, theta), rtol=1e-12, atol=1e-12)
    assert model.training and bn.training
    assert all(torch.equal(a, b) for a, b in zip(stats, (bn.running_mean, bn.running_var, bn.num_batches_tracked)))
    with torch.no_grad():  # the buffers were frozen when the energy was built
        bn.running_mean.add_(10.0)
    torch.testing.assert_close(E(theta), values, rtol=0, atol=0)
    with pytest.raises(ValueError, match="forward_batched"):
        model_energy(model, F.mse_loss, x, y, method="forward_batched")


def test_flatten_and_unflatten_round_trip_in_parameter_order():
    model = models.MLP([3, 4, 2]).double()
    theta = flatten(model)
    assert torch.equal(theta, parameters_to_vector(model.parameters()))
    theta.add_(1.0)  # a copy: the module is untouched
    assert not torch.equal(theta, parameters_to_vector(model.parameters()))
    parts = unflatten(theta, model)
    assert list(parts) == [n for n, _ in model.named_parameters()]
    for (name, p), v in zip(model.named_parameters(), parts.values()):
        assert v.shape == p.shape and v.data_ptr() >= theta.data_ptr()  # views into theta
    torch.testing.assert_close(torch.cat([v.reshape(-1) for v in parts.values()]), theta)
    with pytest.raises(ValueError, match="length 26"):
        unflatten(theta[:-1], model)
    with pytest.raises(ValueError, match="length 26"):
        unflatten(theta[None], model)
    with pytest.raises(TypeError, match="nn.Module"):
        flatten("not a model")


def test_bad_input_raises_clear_errors():
    model, loss_fn, x, y = _problem("mlp_ce")
    E = model_energy(model, loss_fn, x, y)
    with pytest.raises(ValueError, match=r"shape \(B, 66\).*theta\[None\]"):
        E(flatten(model))
    with pytest.raises(ValueError, match=r"shape \(B, 66\)"):
        E(torch.zeros(2, 65, dtype=f64))
    with pytest.raises(ValueError, match="float32"):
        E(torch.zeros(2, 66, dtype=torch.float32))
    with pytest.raises(TypeError, match="torch.Tensor"):
        E([[0.0] * 66])
    with pytest.raises(ValueError, match="11 inputs, 10 targets"):
        model_energy(model, loss_fn, x, y[:10])
    with pytest.raises(ValueError, match="forward_batched"):
        model_energy(model, loss_fn, x, y, method="vmap")
    with pytest.raises(ValueError, match="chunk_size"):
        model_energy(model, loss_fn, x, y, chunk_size=0)
    with pytest.raises(ValueError, match="scalar"):
        model_energy(model, lambda o, t: F.cross_entropy(o, t, reduction="none"), x, y)
    with pytest.raises(ValueError, match="no parameters"):
        model_energy(nn.ReLU(), loss_fn, x, y)
    with pytest.raises(TypeError, match="callable"):
        model_energy(model, "mse", x, y)
    assert set(METHODS) == {"auto", "forward_batched", "functional_call"}


@pytest.mark.parametrize("kind", ["mlp_ce", "sequential_mse"])
def test_energy_owns_copies_of_inputs_and_targets(kind):
    model, loss_fn, x, y = _problem(kind)
    E = model_energy(model, loss_fn, x, y)
    theta = _theta(model, 3)
    before = E(theta).clone()
    x.mul_(10.0)  # the caller scales X in place afterwards
    if y.is_floating_point():
        y.add_(1.0)
    assert torch.equal(E(theta), before)
    assert E.inputs.data_ptr() != x.data_ptr() and E.targets.data_ptr() != y.data_ptr()


@pytest.mark.parametrize("make, loss_fn", [
    (lambda: models.MLP([5, 7, 3]).double(), F.cross_entropy),  # forward_batched, fast CE
    (lambda: models.MLP([5, 7, 3]).double(), nn.CrossEntropyLoss()),
    (lambda: nn.Sequential(nn.Linear(5, 3)).double(), F.cross_entropy),  # functional_call
    (lambda: nn.Sequential(nn.Linear(5, 3)).double(), lambda o, t: F.cross_entropy(o, t)),
])
def test_a_label_out_of_range_is_reported_as_such_not_as_a_vmap_problem(make, loss_fn):
    x = torch.randn(6, 5, dtype=f64)
    y = torch.tensor([0, 1, 2, 7, 0, 1])  # label 7 for 3 classes
    with pytest.raises(ValueError) as error:
        model_energy(make(), loss_fn, x, y)
    text = str(error.value)
    assert "7" in text and ("3 outputs" in text or "out of bounds" in text), text
    assert not text.startswith("evaluating") and "vmap" not in text


def test_a_loss_that_is_not_vmap_able_is_still_blamed_on_vmap():
    model, _, x, y = _problem("sequential_mse")
    with pytest.raises(ValueError, match="vmap-able.*no .item"):
        model_energy(model, lambda o, t: F.mse_loss(o, t) * float(o.sum().item() > 0), x, y)


def test_a_complex_loss_is_refused():
    model, _, x, y = _problem("sequential_mse")
    with pytest.raises(ValueError, match="real scalar per point, got the complex"):
        model_energy(model, lambda o, t: F.mse_loss(o, t) * (1 + 1j), x, y)


def test_method_and_chunk_size_errors_name_the_value_and_the_choices():
    model, loss_fn, x, y = _problem("mlp_ce")
    with pytest.raises(ValueError, match="unknown method 'vmap'; choose one of 'auto'"):
        model_energy(model, loss_fn, x, y, method="vmap")
    with pytest.raises(ValueError, match="chunk_size must be an integer >= 1, got 2.5"):
        model_energy(model, loss_fn, x, y, chunk_size=2.5)
    assert model_energy(model, loss_fn, x, y, chunk_size=torch.tensor(4)).chunk_size == 4


def test_model_energy_is_an_energy_for_the_paths_core():
    model, loss_fn, x, y = _problem("mlp_ce")
    E = CountedEnergy(model_energy(model, loss_fn, x, y))
    theta = _theta(model, 6)
    values, grads = E.value_and_grad(theta)
    assert values.shape == (6,) and grads.shape == theta.shape and E.n_evaluations == 6
    assert isinstance(E.energy, ModelEnergy) and E.energy.dim == 66


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_energy_runs_on_the_models_cuda_device():
    model, loss_fn, x, y = _problem("mlp_ce")
    theta = _theta(model, 5)
    ref = _pointwise(model, loss_fn, x, y, theta)
    gpu = copy.deepcopy(model).cuda()
    E = model_energy(gpu, loss_fn, x, y)  # data moved to the model's device
    assert E.device.type == "cuda" and E.inputs.is_cuda
    values = E(theta.cuda())
    assert values.is_cuda
    torch.testing.assert_close(values.cpu(), ref, rtol=1e-10, atol=1e-10)
