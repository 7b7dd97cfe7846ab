import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils import parameters_to_vector

from lecture_lib import models, symmetry
from lecture_lib.energy import model_energy


def _deep_linear(widths=(3, 4, 5, 2), seed=0):
    torch.manual_seed(seed)
    return models.DeepLinear(list(widths)).double()


def test_gl_action_leaves_product_unchanged():
    net = _deep_linear()
    Us = symmetry.random_gl(net.widths, seed=1)
    acted = symmetry.gl_act(list(net.weights), Us)
    assert not torch.allclose(acted[0], net.weights[0])
    torch.testing.assert_close(symmetry.product(acted), symmetry.product(net), rtol=1e-12, atol=1e-12)


def test_gl_action_matches_closed_form_with_explicit_inverses():
    net = _deep_linear((2, 3, 2))
    (U,) = symmetry.random_gl(net.widths, seed=2)
    W1, W2 = symmetry.gl_act(net.weights, [U])
    torch.testing.assert_close(W1, U @ net.weights[0])
    torch.testing.assert_close(W2, net.weights[1] @ torch.linalg.inv(U))


def test_gl_action_leaves_the_energy_unchanged():
    net = _deep_linear()
    x = torch.randn(20, 3, dtype=torch.float64)
    y = torch.randn(20, 2, dtype=torch.float64)
    energy = model_energy(net, F.mse_loss, x, y)
    acted = symmetry.gl_act_module(net, symmetry.random_gl(net.widths, seed=3))
    theta = torch.stack([parameters_to_vector(m.parameters()) for m in (net, acted)]).detach()
    values = energy(theta)  # (2,)
    assert not torch.allclose(theta[0], theta[1])
    torch.testing.assert_close(values[0], values[1], rtol=1e-12, atol=1e-12)


def test_ridge_penalty_is_invariant_only_under_orthogonal_action():
    net = _deep_linear()
    net.ridge = 1.0
    g = torch.Generator().manual_seed(0)
    Qs = [torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))[0] for n in net.widths[1:-1]]
    orth = symmetry.gl_act_module(net, Qs)
    general = symmetry.gl_act_module(net, symmetry.random_gl(net.widths, seed=4))
    torch.testing.assert_close(orth.penalty(), net.penalty(), rtol=1e-12, atol=1e-12)
    assert abs(general.penalty().item() - net.penalty().item()) > 1e-3


def test_gl_act_module_does_not_mutate_the_model():
    net = _deep_linear()
    before = parameters_to_vector(net.parameters()).detach().clone()
    symmetry.gl_act_module(net, symmetry.random_gl(net.widths, seed=5))
    assert torch.equal(parameters_to_vector(net.parameters()), before)


def test_gl_bad_matrices_raise_clear_errors():
    net = _deep_linear()
    Us = symmetry.random_gl(net.widths, seed=0)
    with pytest.raises(ValueError, match="one U per hidden layer: 2"):
        symmetry.gl_act(net.weights, Us[:1])
    with pytest.raises(ValueError, match=r"U_1 must be square of shape \(4, 4\)"):
        symmetry.gl_act(net.weights, [torch.ones(4, 3, dtype=torch.float64), Us[1]])
    with pytest.raises(ValueError, match="U_2 is singular"):
        symmetry.gl_act(net.weights, [Us[0], torch.zeros(5, 5, dtype=torch.float64)])
    with pytest.raises(ValueError, match="W_2 has shape"):
        symmetry.product([torch.ones(3, 2), torch.ones(2, 2)])
    with pytest.raises(TypeError, match="needs a DeepLinear"):
        symmetry.gl_act_module(models.MLP([2, 2]), [])


def _relu_models():
    torch.manual_seed(0)
    return [models.TwoLayer(3, 6, 2, bias=True).double(),
            models.TwoLayer(3, 6, 1, activation="leaky", slopes=(1.0, 0.3)).double(),
            models.MLP([3, 5, 4, 2]).double()]


def _random_perms(model, seed):
    g = torch.Generator().manual_seed(seed)
    hidden = model.widths[1:-1]
    return [torch.randperm(n, generator=g) for n in hidden]


@pytest.mark.parametrize("model", _relu_models(), ids=lambda m: type(m).__name__)
def test_relu_outputs_invariant_under_permutation_and_positive_rescaling(model):
    x = torch.randn(30, 3, dtype=torch.float64)
    perms = _random_perms(model, seed=1)
    g = torch.Generator().manual_seed(2)
    scales = [torch.exp(torch.randn(n, generator=g, dtype=torch.float64)) for n in model.widths[1:-1]]
    permuted, rescaled = symmetry.permute_hidden(model, perms), symmetry.rescale_hidden(model, scales)
    for new in (permuted, rescaled):
        assert not torch.equal(parameters_to_vector(new.parameters()), parameters_to_vector(model.parameters()))
        torch.testing.assert_close(new(x), model(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("model", _relu_models(), ids=lambda m: type(m).__name__)
def test_weight_matching_recovers_a_planted_permutation_exactly(model):
    planted = _random_perms(model, seed=7)
    shuffled = symmetry.permute_hidden(model, planted)
    result = symmetry.weight_matching(model, shuffled)
    assert result.converged and "converged" in result.message
    for p, q in zip(result.perms, planted):
        assert torch.equal(p, torch.argsort(q))  # undoes the planted permutation
    for pa, pm in zip(model.parameters(), result.model.parameters()):
        assert torch.equal(pa, pm)


def test_weight_matching_recovers_the_permutation_of_a_noisy_copy():
    model = _relu_models()[2]
    planted = _random_perms(model, seed=3)
    noisy = symmetry.permute_hidden(model, planted)
    with torch.no_grad():
        for p in noisy.parameters():
            p.add_(0.01 * torch.randn_like(p))
    result = symmetry.weight_matching(model, noisy)
    assert all(torch.equal(p, torch.argsort(q)) for p, q in zip(result.perms, planted))
    x = torch.randn(10, 3, dtype=torch.float64)
    torch.testing.assert_close(result.model(x), noisy(x), rtol=1e-12, atol=1e-12)


def test_symmetry_bad_input_raises_clear_errors():
    model = _relu_models()[0]
    with pytest.raises(ValueError, match="scales must be positive"):
        symmetry.rescale_hidden(model, torch.tensor([1.0, -1.0, 1.0, 1.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="scales must be positive"):
        symmetry.rescale_hidden(model, torch.zeros(6))
    with pytest.raises(ValueError, match=r"shape \(6,\)"):
        symmetry.rescale_hidden(model, torch.ones(5))
    with pytest.raises(ValueError, match="positively homogeneous"):
        symmetry.rescale_hidden(models.MLP([2, 3, 1], activation="tanh"), torch.ones(3))
    with pytest.raises(ValueError, match="permutation of range\\(6\\)"):
        symmetry.permute_hidden(model, [0, 0, 1, 2, 3, 4])
    with pytest.raises(ValueError, match="one permutation per hidden layer \\(2\\)"):
        symmetry.permute_hidden(models.MLP([3, 5, 4, 2]), [torch.arange(5)])
    with pytest.raises(ValueError, match="different layer shapes"):
        symmetry.weight_matching(model, models.TwoLayer(3, 5, 2, bias=True))
    with pytest.raises(TypeError, match="TwoLayer or MLP"):
        symmetry.permute_hidden(models.DeepLinear([2, 2]), [torch.arange(2)])
