"""CNN versus MLP on permuted pixels: the permutation, the exact invariance of the MLP, and the
loss of the CNN's advantage."""

import pytest
import torch
import torch.nn.functional as F

from lecture_lib.data import mnist
from lecture_lib.frontiers import cnn_bias
from lecture_lib.train import fit


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_pixel_permutation_is_a_fixed_permutation():
    p, q = cnn_bias.pixel_permutation(784, 3), cnn_bias.pixel_permutation(784, 3)
    assert torch.equal(p, q) and torch.equal(p.sort().values, torch.arange(784))
    assert not torch.equal(p, cnn_bias.pixel_permutation(784, 4))


def test_models_have_similar_parameter_counts():
    n_cnn = cnn_bias.n_parameters(cnn_bias.make_model("cnn"))
    n_mlp = cnn_bias.n_parameters(cnn_bias.make_model("mlp"))
    assert abs(n_cnn - n_mlp) / n_mlp < 0.1
    with pytest.raises(ValueError, match="unknown kind 'rnn'"):
        cnn_bias.make_model("rnn")


def test_permuted_first_layer_computes_the_same_function_on_permuted_inputs():
    torch.manual_seed(0)
    mlp, perm = cnn_bias.make_model("mlp"), cnn_bias.pixel_permutation(784, 0)
    x = torch.rand(16, 784)
    twin = cnn_bias.permuted_first_layer(mlp, perm)
    assert torch.allclose(twin(x[:, perm]), mlp(x), atol=1e-6)


def test_mlp_training_is_exactly_invariant_under_a_pixel_permutation():
    """Trained on permuted pixels from the permuted initialisation, the MLP follows the same
    trajectory: the same test predictions up to rounding (permutation invariance of the MLP)."""
    data = mnist(seed=0)
    x, y, xt = data.x_train[:512], data.y_train[:512], data.x_test[:200]
    perm = cnn_bias.pixel_permutation(784, 1)
    torch.manual_seed(0)
    mlp = cnn_bias.make_model("mlp")
    a = fit(mlp, F.cross_entropy, x, y, steps=40, lr=3e-3, batch_size=64, seed=0, progress=False)
    b = fit(cnn_bias.permuted_first_layer(mlp, perm), F.cross_entropy, x[:, perm], y, steps=40, lr=3e-3,
            batch_size=64, seed=0, progress=False)
    assert torch.allclose(a.model(xt), b.model(xt[:, perm]), atol=1e-4)


@pytest.mark.slow
def test_cnn_advantage_disappears_under_permutation_while_mlp_is_unchanged():
    r = cnn_bias.experiment(n_seeds=2, epochs=1)
    assert r.cnn_advantage[0] > 0.02 and r.cnn_advantage[1] < 0.0
    mlp = r.accuracy["mlp"]
    assert abs(float(mlp[False].mean() - mlp[True].mean())) < 0.03
