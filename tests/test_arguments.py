"""The shared argument checks (lecture_lib.arguments): one clear error per kind of bad input,
numpy and 0-d tensor scalars accepted wherever a plain number is, dtype-aware floors."""

import math

import numpy as np
import pytest
import torch

from lecture_lib import arguments as arg


@pytest.mark.parametrize("value", [3, np.int64(3), np.int32(3), torch.tensor(3), 3.0, np.float64(3.0)])
def test_integers_in_any_scalar_form_are_accepted_as_python_ints(value):
    out = arg.positive_int("steps", value)
    assert out == 3 and type(out) is int


@pytest.mark.parametrize("value, problem", [
    (2.5, "steps must be an integer >= 1, got 2.5"),
    (0, "steps must be an integer >= 1, got 0"),
    (math.inf, "steps must be an integer >= 1, got inf"),
    (math.nan, "steps must be an integer >= 1, got nan"),
])
def test_a_bad_integer_is_refused_with_name_value_and_rule(value, problem):
    with pytest.raises(ValueError, match=problem):
        arg.positive_int("steps", value)


@pytest.mark.parametrize("value, kind", [(True, "bool"), ("5", "str"), (None, "NoneType"),
                                         (1 + 2j, "complex"), ([1], "list")])
def test_non_numbers_are_a_type_error_naming_the_type(value, kind):
    with pytest.raises(TypeError, match=f"steps must be an integer >= 1, got {kind}"):
        arg.positive_int("steps", value)


def test_a_tensor_of_several_values_is_refused_with_its_shape():
    with pytest.raises(TypeError, match=r"lr must be a finite number > 0, got a tensor of shape \(2,\)"):
        arg.positive_float("lr", torch.tensor([0.1, 0.2]))
    with pytest.raises(TypeError, match="got complex"):
        arg.real("level", torch.tensor(1 + 1j))


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, 0.0, -1.0])
def test_positive_float_refuses_infinities_nan_and_non_positive(value):
    with pytest.raises(ValueError, match=f"lr must be a finite number > 0, got {value}"):
        arg.positive_float("lr", value)


def test_nonnegative_checks_accept_zero_and_refuse_negatives():
    assert arg.nonnegative_float("rtol", 0) == 0.0 and arg.nonnegative_int("steps", np.int64(0)) == 0
    with pytest.raises(ValueError, match="rtol must be a finite number >= 0, got -1"):
        arg.nonnegative_float("rtol", -1)
    with pytest.raises(ValueError, match="steps must be an integer >= 0, got -1"):
        arg.nonnegative_int("steps", -1)


@pytest.mark.parametrize("kwargs, value, message", [
    (dict(low=1.0), 0.5, "safety must be a finite number >= 1, got 0.5"),
    (dict(low=0.0, low_open=True), 0.0, "safety must be a finite number > 0, got 0.0"),
    (dict(high=2.0), 3.0, "safety must be a finite number <= 2, got 3.0"),
    (dict(high=2.0, high_open=True), 2.0, "safety must be a finite number < 2, got 2.0"),
    (dict(low=0.0, high=1.0, low_open=True, high_open=True), 1.0,
     r"safety must be a finite number in \(0, 1\), got 1.0"),
    (dict(low=0.0, high=1.9), math.nan, r"safety must be a finite number in \[0, 1.9\], got nan"),
    (dict(), math.inf, "safety must be a finite number, got inf"),
])
def test_real_states_its_interval_in_the_message(kwargs, value, message):
    with pytest.raises(ValueError, match=message):
        arg.real("safety", value, **kwargs)


def test_real_allows_infinity_only_when_asked_and_never_nan():
    assert arg.real("cap", math.inf, finite=False) == math.inf
    with pytest.raises(ValueError, match="cap must be a number, got nan"):
        arg.real("cap", math.nan, finite=False)
    assert arg.real("x", torch.tensor(0.5, dtype=torch.float16), low=0, high=1) == 0.5


def test_seed_accepts_none_and_non_negative_integers():
    assert arg.seed("seed", None) is None and arg.seed("seed", np.uint8(7)) == 7
    with pytest.raises(ValueError, match="seed must be an integer >= 0, got -1"):
        arg.seed("seed", -1)


def test_choice_lists_the_options():
    assert arg.choice("kind", "mean", ("mean", "linear")) == "mean"
    with pytest.raises(ValueError, match="unknown kind 'max'; choose one of 'mean', 'linear'"):
        arg.choice("kind", "max", ("mean", "linear"))
    with pytest.raises(ValueError, match="unknown kind 1"):
        arg.choice("kind", 1, ("mean", "linear"))


def test_optional_passes_none_and_checks_the_rest():
    assert arg.optional(arg.positive_float, "atol", None) is None
    assert arg.optional(arg.integer, "n", np.int64(4), low=2) == 4
    with pytest.raises(ValueError, match="atol must be a finite number > 0, got -1"):
        arg.optional(arg.positive_float, "atol", -1)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_tiny_is_a_positive_floor_in_every_dtype(dtype):
    floor = torch.tensor(arg.tiny(dtype), dtype=dtype)
    assert floor > 0 and torch.isfinite(1 / floor)  # its reciprocal is representable too
    assert torch.tensor(0.0, dtype=dtype).clamp_min(arg.tiny(dtype)) > 0
    if dtype != torch.float64:  # why the helper exists: the old floor vanishes here
        assert torch.tensor(0.0, dtype=dtype).clamp_min(1e-300) == 0


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_divide_or_zero_gives_zero_not_nan_at_a_zero_denominator(dtype):
    num = torch.tensor([1.0, 0.0, 3.0, -2.0], dtype=dtype)
    den = torch.tensor([2.0, 0.0, 0.0, 4.0], dtype=dtype)
    out = arg.divide_or_zero(num, den)
    assert out.dtype == dtype and torch.equal(out, torch.tensor([0.5, 0.0, 0.0, -0.5], dtype=dtype))
    assert torch.equal(num, torch.tensor([1.0, 0.0, 3.0, -2.0], dtype=dtype))  # not mutated
