"""Tests of the chapter 6 checkers: right answers in several forms pass, wrong ones fail with a
hint and without the expected value, stubs are reported as not attempted."""

import numpy as np
import pytest
import torch

from lecture_lib.checks import ch06
from lecture_lib.topics import resnets


def _stub():
    raise NotImplementedError("replace this line with your code")


def _truth_loss():
    x, y = ch06.exercise_data()
    return resnets.best_linear(x, y).loss


def _truth_grad():
    x, y = ch06.exercise_data()
    A, b = ch06.exercise_features()
    net = resnets.ShamirNet(3, 4).double()
    with torch.no_grad():
        net.A.copy_(A), net.b.copy_(b)
    fit = resnets.best_linear(x, y)
    theta = resnets.embed_linear(net, fit.w).requires_grad_(True)
    energy = resnets.model_energy(net, resnets.square_loss, x, y)
    (g,) = torch.autograd.grad(energy(theta[None])[0], theta)
    return resnets.split(net, g[None])["V"][0]


@pytest.mark.parametrize("form", [float, torch.tensor, np.float64, lambda v: (lambda: v)])
def test_best_linear_loss_accepts_the_value_in_any_form(form):
    v = ch06.check_best_linear_loss(form(_truth_loss()))
    assert v and "Correct" in repr(v)
    v.assert_correct()


@pytest.mark.parametrize("wrong, hint", [
    (lambda x, y: float(y.square().mean()), "zero predictor"),
    (lambda x, y: resnets.best_linear(torch.cat([x, torch.ones(40, 1, dtype=x.dtype)], 1), y).loss, "intercept"),
    (lambda x, y: 40 * resnets.best_linear(x, y).loss, "mean, not sum"),
    (lambda x, y: 0.5 * resnets.best_linear(x, y).loss, "smaller loss than the least-squares"),
])
def test_best_linear_loss_wrong_answers_fail_with_a_hint_and_no_expected_value(wrong, hint):
    truth = _truth_loss()
    v = ch06.check_best_linear_loss(wrong(*ch06.exercise_data()))
    assert not v and v.attempted and hint in repr(v)
    assert f"{truth:.6g}" not in repr(v)
    with pytest.raises(AssertionError):
        v.assert_correct()


@pytest.mark.parametrize("bad", [float("nan"), "0.5", None, (1.0, 2.0)])
def test_best_linear_loss_rejects_non_numbers(bad):
    v = ch06.check_best_linear_loss(bad)
    assert not v and "Expected one finite number" in repr(v)


@pytest.mark.parametrize("check, name", [(ch06.check_best_linear_loss, "Exercise 6.3"),
                                         (ch06.check_grad_V, "Exercise 6.2")])
def test_stub_is_not_attempted_and_names_the_exercise(check, name):
    v = check(_stub)
    assert not v and not v.attempted and name in repr(v)
    with pytest.raises(NotImplementedError, match=name):
        v.assert_correct()


@pytest.mark.parametrize("form", [lambda g: g, lambda g: g.numpy(), lambda g: g.tolist(), lambda g: (lambda: g)])
def test_grad_V_accepts_the_autograd_gradient_in_any_form(form):
    v = ch06.check_grad_V(form(_truth_grad()))
    assert v and "not zero" in repr(v)


@pytest.mark.parametrize("wrong, hint", [
    (lambda g: g.T, "transpose"), (lambda g: -g, "sign"), (lambda g: g / 2, "factor 2"),
    (lambda g: torch.zeros(3, 4), "differentiate Phi"), (lambda g: g + 0.1, "average"),
    (lambda g: torch.zeros(2, 2), "shape of V"),
])
def test_grad_V_wrong_answers_fail_with_a_hint(wrong, hint):
    v = ch06.check_grad_V(wrong(_truth_grad()))
    assert not v and hint in repr(v)


def test_grad_V_rejects_nan():
    g = _truth_grad().clone()
    g[0, 0] = float("nan")
    assert not ch06.check_grad_V(g)


def test_exercise_data_are_fixed_copies():
    x, y = ch06.exercise_data()
    x.zero_(), y.zero_()
    x2, y2 = ch06.exercise_data()
    assert x2.shape == (40, 3) and y2.shape == (40, 1) and x2.abs().sum() > 0
    A, b = ch06.exercise_features()
    A.zero_()
    assert ch06.exercise_features()[0].abs().sum() > 0
