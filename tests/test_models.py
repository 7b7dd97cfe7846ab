import pytest
import torch
from torch.func import functional_call
from torch.nn.utils import parameters_to_vector

from lecture_lib import models


def _batched_models():
    torch.manual_seed(0)
    return [
        models.DeepLinear([3, 4, 5, 2], ridge=0.1),
        models.QuadraticNet(3, 6),
        models.QuadraticNet(3, 6, n_out=2),
        models.PolynomialNet([3, 4, 4, 2]),
        models.TwoLayer(3, 5, 2),
        models.TwoLayer(3, 5, 2, activation="leaky", slopes=(1.5, 0.2), bias=True),
        models.MLP([3, 6, 5, 2]),
        models.MLP([3, 6, 2], activation="tanh", bias=False),
        models.SigmoidNet1441(),
    ]


def _unflatten(theta_row, model):
    out, start = {}, 0
    for name, p in model.named_parameters():
        out[name] = theta_row[start:start + p.numel()].view_as(p)
        start += p.numel()
    return out


@pytest.mark.parametrize("model", _batched_models(), ids=lambda m: type(m).__name__)
def test_forward_batched_equals_functional_call_per_point_with_gradients(model):
    model = model.double()
    x = torch.randn(9, model.widths[0], dtype=torch.float64)
    d = sum(p.numel() for p in model.parameters())
    theta = torch.randn(4, d, dtype=torch.float64, requires_grad=True)  # (B, d)
    out = model.forward_batched(theta, x)  # (B, N, n_out)
    assert out.shape == (4, 9, model.widths[-1])
    weights = torch.randn_like(out)
    (grad,) = torch.autograd.grad((out * weights).sum(), theta)
    for b in range(4):
        row = theta[b].detach().clone().requires_grad_(True)
        ref = functional_call(model, _unflatten(row, model), (x,))
        torch.testing.assert_close(out[b], ref, rtol=1e-12, atol=1e-12)
        (g,) = torch.autograd.grad((ref * weights[b]).sum(), row)
        torch.testing.assert_close(grad[b], g, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("model", _batched_models(), ids=lambda m: type(m).__name__)
def test_theta_layout_is_parameters_to_vector(model):
    model = model.double()
    x = torch.randn(5, model.widths[0], dtype=torch.float64)
    theta = parameters_to_vector(model.parameters())[None]  # (1, d)
    torch.testing.assert_close(model.forward_batched(theta, x)[0], model(x), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("model", _batched_models(), ids=lambda m: type(m).__name__)
def test_per_row_inputs_and_stacked_parameters_match_shared_forward(model):
    model = model.double()
    d = sum(p.numel() for p in model.parameters())
    theta = torch.randn(3, d, dtype=torch.float64)
    xs = torch.randn(3, 5, model.widths[0], dtype=torch.float64)  # (B, N, n_in)
    per_row = model.forward_batched(theta, xs)
    stacked = model.forward_stacked(model.split_theta(theta), xs)
    for b in range(3):
        torch.testing.assert_close(per_row[b], model.forward_batched(theta[b:b + 1], xs[b])[0])
    torch.testing.assert_close(stacked, per_row)
    with pytest.raises(ValueError, match="per-row inputs must have shape"):
        model.forward_batched(theta, xs[:2])
    with pytest.raises(ValueError, match="params must be stacked tensors"):
        model.forward_stacked(model.split_theta(theta)[:-1], xs)


def test_deep_linear_is_product_of_weights_and_penalty_is_ridge_frobenius():
    net = models.DeepLinear([3, 4, 2], ridge=0.5).double()
    W1, W2 = net.weights
    assert W1.shape == (4, 3) and W2.shape == (2, 4)
    x = torch.randn(6, 3, dtype=torch.float64)
    torch.testing.assert_close(net(x), x @ (W2 @ W1).T)
    expected = 0.5 * (W1.square().sum() + W2.square().sum())
    torch.testing.assert_close(net.penalty(), expected)
    theta = parameters_to_vector(net.parameters())[None]
    torch.testing.assert_close(net.penalty_batched(theta)[0], expected)


def test_quadratic_net_is_quadratic_form_of_lifted_matrix():
    net = models.QuadraticNet(3, 5).double()
    M = net.W.T @ torch.diag(net.U[0]) @ net.W  # the lifted parameter (n_in, n_in)
    x = torch.randn(7, 3, dtype=torch.float64)
    out = net(x)
    assert out.shape == (7, 1)
    torch.testing.assert_close(out[:, 0], torch.einsum("ni,ij,nj->n", x, M, x))


def test_two_layer_leaky_uses_both_slopes():
    net = models.TwoLayer(1, 1, 1, activation="leaky", slopes=(2.0, 0.5))
    with torch.no_grad():
        net.W1.fill_(1.0)
        net.W2.fill_(1.0)
    torch.testing.assert_close(net(torch.tensor([[3.0], [-4.0]])), torch.tensor([[6.0], [-2.0]]))


def test_resnet_with_zero_residual_is_linear_predictor():
    net = models.ResNetShamir(4, 3, zero_residual=True)
    x = torch.randn(5, 4)
    torch.testing.assert_close(net(x), (x @ net.w)[:, None])


def test_linear_resnet_is_product_of_identity_plus_blocks():
    net = models.LinearResNet(3, 2).double()
    A1, A2 = net.blocks
    eye = torch.eye(3, dtype=torch.float64)
    x = torch.randn(4, 3, dtype=torch.float64)
    torch.testing.assert_close(net(x), x @ ((eye + A2) @ (eye + A1)).T)


def test_sigmoid_net_has_33_parameters():
    assert sum(p.numel() for p in models.SigmoidNet1441().parameters()) == 33


def test_image_and_sequence_models_output_shapes():
    assert models.SmallCNN()(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    assert models.SmallCNN(image_size=8)(torch.randn(3, 64)).shape == (3, 10)
    assert models.CNN1D()(torch.randn(3, 40)).shape == (3, 10)
    assert models.CharLSTM(20, hidden=16)(torch.randint(0, 20, (2, 7))).shape == (2, 7, 20)


def test_bad_input_raises_clear_errors():
    net = models.DeepLinear([3, 2])
    with pytest.raises(ValueError, match=r"shape \(N, 3\)"):
        net(torch.zeros(4, 5))
    with pytest.raises(ValueError, match=r"theta must have shape \(B, 6\)"):
        net.forward_batched(torch.zeros(2, 7), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="widths"):
        models.DeepLinear([3])
    with pytest.raises(ValueError, match="widths"):
        models.MLP([3, 0, 2])
    with pytest.raises(ValueError, match="unknown activation 'swish'; options"):
        models.MLP([3, 2], activation="swish")
    with pytest.raises(ValueError, match="unknown activation"):
        models.TwoLayer(3, 4, 1, activation="gelu")
    with pytest.raises(ValueError, match="use activation='leaky'"):
        models.TwoLayer(3, 4, 1, slopes=(1.0, 0.5))
    with pytest.raises(ValueError, match="slopes must be a pair"):
        models.TwoLayer(3, 4, 1, activation="leaky", slopes=(1.0,))
    with pytest.raises(ValueError, match="ridge"):
        models.DeepLinear([3, 2], ridge=-1.0)
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        models.SmallCNN()(torch.zeros(2, 1, 8, 8))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_forward_batched_on_cuda_matches_cpu():
    model = models.MLP([3, 16, 2]).double()
    theta = torch.randn(8, sum(p.numel() for p in model.parameters()), dtype=torch.float64)
    x = torch.randn(10, 3, dtype=torch.float64)
    on_gpu = model.cuda().forward_batched(theta.cuda(), x.cuda())
    torch.testing.assert_close(on_gpu.cpu(), model.cpu().forward_batched(theta, x), rtol=1e-10, atol=1e-12)


def _conv_and_lstm_models():
    torch.manual_seed(0)
    return [
        models.SmallCNN(image_size=8, channels=(3, 4)),
        models.CNN1D(channels=4),
        models.CharLSTM(7, hidden=5, embed=3),
        models.CharLSTM(7, hidden=4, embed=3, n_layers=2),
    ]


def _inputs(model, n, generator):
    if isinstance(model, models.CharLSTM):
        return torch.randint(0, model.vocab_size, (n, 6), generator=generator)
    if isinstance(model, models.SmallCNN):
        return torch.randn(n, 1, 8, 8, generator=generator)
    return torch.randn(n, 40, generator=generator)


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)], ids=["float32", "float64"])
@pytest.mark.parametrize("model", _conv_and_lstm_models(), ids=lambda m: f"{type(m).__name__}")
def test_conv_and_lstm_forward_batched_match_a_loop_over_parameter_sets_with_gradients(model, dtype, tol):
    """forward_batched (grouped convolutions, hand-written LSTM) equals the module's own forward
    (cuDNN-free nn.Conv / nn.LSTM) run once per parameter set, in values and in gradients."""
    g = torch.Generator().manual_seed(1)
    model = model.to(dtype)
    x = _inputs(model, 5, g)
    x = x if not x.is_floating_point() else x.to(dtype)
    d = sum(p.numel() for p in model.parameters())
    theta = (0.5 * torch.randn(4, d, generator=g, dtype=torch.float64)).to(dtype).requires_grad_(True)
    out = model.forward_batched(theta, x)
    weights = torch.randn(out.shape, generator=g, dtype=torch.float64).to(dtype)
    (grad,) = torch.autograd.grad((out * weights).sum(), theta)
    for b in range(4):
        row = theta[b].detach().clone().requires_grad_(True)
        ref = functional_call(model, _unflatten(row, model), (x,))
        assert out.shape[1:] == ref.shape
        assert (out[b] - ref).abs().max() <= tol
        (g_ref,) = torch.autograd.grad((ref * weights[b]).sum(), row)
        assert (grad[b] - g_ref).abs().max() <= tol * max(1.0, float(g_ref.abs().max()))


@pytest.mark.parametrize("model", _conv_and_lstm_models(), ids=lambda m: type(m).__name__)
def test_model_energy_auto_uses_forward_batched_for_convs_and_lstm_and_agrees(model):
    from lecture_lib.energy import flatten, model_energy

    g = torch.Generator().manual_seed(2)
    model = model.double()
    x = _inputs(model, 6, g)
    x = x if not x.is_floating_point() else x.double()
    if isinstance(model, models.CharLSTM):
        y = torch.randint(0, model.vocab_size, x.shape, generator=g)
        loss = lambda z, t: torch.nn.functional.cross_entropy(z.reshape(-1, z.shape[-1]), t.reshape(-1))  # noqa: E731
    else:
        y, loss = torch.randint(0, 10, (6,), generator=g), torch.nn.functional.cross_entropy
    fast = model_energy(model, loss, x, y)
    assert fast.method == "forward_batched"
    theta = flatten(model) + 0.1 * torch.randn(3, fast.dim, generator=g, dtype=torch.float64)
    loop = torch.stack([loss(functional_call(model, _unflatten(row, model), (x,)), y) for row in theta])
    torch.testing.assert_close(fast(theta), loop, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(fast(flatten(model)[None]), loss(model(x), y)[None], rtol=1e-10, atol=1e-12)


def test_conv_and_lstm_forward_batched_reject_bad_inputs_by_name():
    cnn, cnn1d, lstm = models.SmallCNN(image_size=8, channels=(2, 3)), models.CNN1D(channels=2), models.CharLSTM(5, hidden=3, embed=2)
    theta = lambda m: torch.zeros(2, sum(p.numel() for p in m.parameters()))  # noqa: E731
    with pytest.raises(ValueError, match=r"SmallCNN: x must be \(N, 1, 8, 8\) or \(N, 64\)"):
        cnn.forward_batched(theta(cnn), torch.zeros(3, 1, 28, 28))
    with pytest.raises(ValueError, match=r"CNN1D: x must be \(N, 40\)"):
        cnn1d.forward_batched(theta(cnn1d), torch.zeros(3, 39))
    with pytest.raises(ValueError, match=r"CharLSTM: idx must be an integer tensor \(N, T\)"):
        lstm.forward_batched(theta(lstm), torch.zeros(3, 4))
    with pytest.raises(ValueError, match=r"CharLSTM: theta must have shape \(B, "):
        lstm.forward_batched(torch.zeros(2, 3), torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="params must be stacked tensors"):
        cnn.forward_stacked(cnn.split_theta(theta(cnn))[:-1], torch.zeros(3, 64))


@pytest.mark.parametrize("model", _conv_and_lstm_models(), ids=lambda m: type(m).__name__)
def test_conv_and_lstm_per_row_inputs_match_each_row_alone(model):
    """x (B, N, ...): row b of theta sees only its own inputs (fit_ensemble's per-member batches)."""
    g = torch.Generator().manual_seed(3)
    model = model.double()
    xs = torch.stack([_inputs(model, 4, g) for _ in range(3)])  # (B=3, N=4, ...)
    xs = xs if not xs.is_floating_point() else xs.double()
    theta = torch.randn(3, sum(p.numel() for p in model.parameters()), generator=g, dtype=torch.float64)
    per_row = model.forward_batched(theta, xs)
    for b in range(3):
        torch.testing.assert_close(per_row[b], model.forward_batched(theta[b:b + 1], xs[b])[0], rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="per-row inputs must have shape"):
        model.forward_batched(theta, xs[:2])
