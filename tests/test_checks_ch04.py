"""Chapter 4 checkers: right answers in several forms pass, wrong ones and NaN fail with a hint,
stubs are not attempted, assert_correct raises."""

import math

import numpy as np
import pytest
import torch

from lecture_lib.checks import ch04
from lecture_lib.topics import kernels


def _stub(*args):
    raise NotImplementedError("replace this line")


@pytest.mark.parametrize("form", [lambda q: q, float, np.int64, torch.tensor, lambda q: np.array([q])])
def test_dimension_right_answer_in_any_form_passes(form):
    v = ch04.check_dimension(lambda N, p: form(math.comb(N + p, p)))
    assert v.correct and "Correct" in v.message
    v.assert_correct()


def test_dimension_homogeneous_count_fails_with_its_hint():
    v = ch04.check_dimension(lambda N, p: math.comb(N + p - 1, p))
    assert not v.correct and "homogeneous" in v.message
    with pytest.raises(AssertionError):
        v.assert_correct()


@pytest.mark.parametrize("bad", [float("nan"), "10", 2.5])
def test_dimension_non_answers_fail(bad):
    assert not ch04.check_dimension(lambda N, p: bad).correct


def test_dimension_stub_is_not_attempted():
    v = ch04.check_dimension(_stub)
    assert not v.attempted and "Exercise 4.2" in v.message and "functional_dim" in v.message
    with pytest.raises(NotImplementedError):
        v.assert_correct()


@pytest.mark.parametrize("answer", [0.5, 0.51, torch.tensor(0.5), np.float32(0.49), lambda: 0.5])
def test_merge_level_right_answers_pass(answer):
    assert ch04.check_merge_level(answer).correct


@pytest.mark.parametrize("answer, hint", [(1.0, "midpoint"), (0.0, "minima"), (0.3, "scan")])
def test_merge_level_wrong_answers_get_hints_without_the_truth(answer, hint):
    v = ch04.check_merge_level(answer)
    assert not v.correct and hint in v.message and "merge at level" not in v.message


def test_merge_level_nan_and_stub():
    assert not ch04.check_merge_level(float("nan")).correct
    v = ch04.check_merge_level(_stub)
    assert not v.attempted and "Exercise 4.3" in v.message


def _pieces(center, radius):
    return kernels.ball_pieces(kernels.parabola(np.linspace(-4, 4, 40001)), center, radius)


@pytest.mark.parametrize("form", [int, float, np.int32, torch.tensor])
def test_ball_pieces_right_answers_pass(form):
    assert ch04.check_ball_pieces(lambda c, r: form(_pieces(c, r))).correct


def test_ball_pieces_wrong_answers_fail():
    assert not ch04.check_ball_pieces(lambda c, r: 1).correct  # "it is connected"
    v = ch04.check_ball_pieces(lambda c, r: _pieces(c, r) + 1)
    assert not v.correct and "too many" in v.message
    assert not ch04.check_ball_pieces(lambda c, r: float("nan")).correct


def test_ball_pieces_stub_is_not_attempted():
    v = ch04.check_ball_pieces(_stub)
    assert not v.attempted and "Exercise 4.5" in v.message
