"""Tests of lecture_lib.checks.ch05: right answers in any form pass, wrong ones fail."""

import math

import numpy as np
import pytest
import torch

from lecture_lib.checks import ch05
from lecture_lib.topics import barriers


def _minrisk(x, y):
    return barriers.least_squares_quadratic(x, y)[1]


def _length(nodes):
    return torch.linalg.vector_norm(nodes.diff(dim=0), dim=1).sum() / torch.linalg.vector_norm(nodes[-1] - nodes[0])


def _kink(x, y, slopes, a, b, v):
    return barriers.kink_coefficients(x, y, slopes, a.tolist(), b, v)


@pytest.mark.parametrize("form", [float, lambda v: torch.tensor(v), np.float64, lambda v: np.array([v])])
def test_right_answers_pass_in_any_form(form):
    assert ch05.check_min_quadratic_risk(lambda x, y: form(_minrisk(x, y))).correct
    assert ch05.check_normalized_length(lambda n: form(float(_length(n)))).correct


def test_kink_answer_accepts_tuple_tensor_and_array():
    assert ch05.check_kink_coefficients(_kink).correct
    assert ch05.check_kink_coefficients(lambda *a: torch.tensor(_kink(*a))).correct
    assert ch05.check_kink_coefficients(lambda *a: np.array(_kink(*a))).correct


def test_wrong_answers_fail_without_revealing_the_truth():
    v = ch05.check_min_quadratic_risk(lambda x, y: 1.1 * _minrisk(x, y))
    assert not v.correct and "off by" in v.message
    v = ch05.check_normalized_length(lambda n: 0.9)
    assert not v.correct and "never below 1" in v.message
    v = ch05.check_kink_coefficients(lambda *a: (1.0, 1.0))
    assert not v.correct and "opposite" in v.message


def test_nan_is_not_an_answer():
    assert not ch05.check_normalized_length(lambda n: math.nan).correct
    assert not ch05.check_kink_coefficients(lambda *a: (math.nan, 0.0)).correct


def test_stub_is_not_attempted_and_names_the_exercise():
    def stub(*args):
        raise NotImplementedError
    for check, name in ((ch05.check_min_quadratic_risk, "5.3"), (ch05.check_kink_coefficients, "5.4"),
                        (ch05.check_normalized_length, "5.5")):
        v = check(stub)
        assert not v.attempted and f"Exercise {name}" in v.message
        with pytest.raises(NotImplementedError):
            v.assert_correct()


def test_assert_correct_raises_on_a_wrong_answer():
    with pytest.raises(AssertionError):
        ch05.check_normalized_length(lambda n: 3.0).assert_correct()
