"""Tests of the chapter 2 checkers: right answers in several forms pass, wrong ones, strings,
dicts and NaN fail without the expected value, stubs name their exercise, and the truths are
computed independently of the exercises' intended formulas."""

import numpy as np
import sympy
import pytest
import torch

from lecture_lib import symmetry
from lecture_lib.checks import ch02
from lecture_lib.topics import linear_networks as ln
from lecture_lib.widgets import linear


def _stub(*args):
    raise NotImplementedError("replace this line with your code")


def test_hessian_eigenvalues_are_the_closed_form():
    assert ch02._hessian_eigenvalues(2) == (-2.0, 2.0)
    assert ch02._hessian_eigenvalues(3) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize("form", [list, tuple, np.array, torch.tensor,
                                  lambda v: [sympy.Integer(int(x)) for x in v], sympy.Matrix])
def test_hessian_checker_accepts_any_container_in_any_order(form):
    v = ch02.check_hessian_at_origin(lambda K: form([2.0, -2.0] if K == 2 else [0.0] * 3))
    assert v.correct and v.assert_correct() is v


@pytest.mark.parametrize("answer, fragment", [
    (lambda K: [0.0, 2.0] if K == 2 else [0.0] * 3, "Not quite for K = 2"),
    (lambda K: [-2.0, 2.0], "Expected K = 3 numbers"),
    (lambda K: ["-2", "2"] if K == 2 else ["0"] * 3, "must be real numbers"),
    (lambda K: {"a": -2, "b": 2}, "must be numbers"),
    (lambda K: [float("nan")] * K, "finite"),
])
def test_hessian_checker_refuses_wrong_answers_strings_dicts_and_nan(answer, fragment):
    v = ch02.check_hessian_at_origin(answer)
    assert not v.correct and fragment in v.message
    with pytest.raises(AssertionError):
        v.assert_correct()


def test_stubs_name_their_exercise_and_function():
    for check, exercise, fn in ((ch02.check_gl_action, "Exercise 2.2", "act("),
                                (ch02.check_hessian_at_origin, "Exercise 2.3", "hessian_at_origin("),
                                (ch02.check_ridge_merge, "Exercise 2.4", "ridge_merge("),
                                (ch02.check_spurious_range, "Exercise 2.5", "spurious_range("),
                                (ch02.check_join, "Exercise 2.6", "join(")):
        v = check(_stub)
        assert not v.attempted and exercise in v.message and fn in v.message
        with pytest.raises(NotImplementedError, match=exercise):
            v.assert_correct()


def test_ridge_merge_closed_form_and_the_widget_grid_both_pass():
    assert ch02.check_ridge_merge(lambda lam: (2 * lam - lam ** 2, 1.0)).correct
    assert ch02.check_ridge_merge(lambda lam: np.array([2 * lam - lam ** 2, 1.0])).correct
    grid = lambda lam: (linear.update(1.0, lam, 2).min_value, linear.update(1.0, lam, 2).merge_level)  # noqa: E731
    assert ch02.check_ridge_merge(grid).correct


@pytest.mark.parametrize("answer, fragment", [
    (lambda lam: (lam, 1.0), "minimum value is off"),
    (lambda lam: (2 * lam - lam ** 2, 1.0 - lam), "merge level is off"),
    (lambda lam: 1.0, "Expected a pair"),
    (lambda lam: ("0.19", "1"), "Expected a pair"),
    (lambda lam: {"min": 0.19, "merge": 1.0}, "Expected a pair"),
    (lambda lam: (float("nan"), 1.0), "Expected a pair"),
])
def test_ridge_merge_wrong_answers_fail_without_the_expected_value(answer, fragment):
    v = ch02.check_ridge_merge(answer)
    assert not v.correct and fragment in v.message
    assert "expected" not in v.message.lower().replace("expected a pair", "")


def test_gl_action_accepts_torch_and_numpy_answers():
    assert ch02.check_gl_action(symmetry.gl_act).correct
    assert ch02.check_gl_action(lambda Ws, Us: [W.numpy() for W in symmetry.gl_act(Ws, Us)]).correct
    assert ch02.check_gl_action(lambda Ws, Us: tuple(symmetry.gl_act(Ws, Us))).correct


def test_gl_action_wrong_answers_fail():
    wrong = lambda Ws, Us: [Us[0] @ Ws[0]] + [U @ W for U, W in zip(Us[1:], Ws[1:-1])] + [Ws[-1]]  # noqa: E731
    v = ch02.check_gl_action(wrong)
    assert not v.correct and "W_2 differs" in v.message
    assert "Expected a list" in ch02.check_gl_action(lambda Ws, Us: "W").message
    assert "Expected a list" in ch02.check_gl_action(lambda Ws, Us: {"W": Ws}).message
    nan = lambda Ws, Us: [W * float("nan") for W in Ws]  # noqa: E731
    assert "finite" in ch02.check_gl_action(nan).message


def _roots_formula(lam):
    """The exercise's closed form, a different route from the checker's scan."""
    r = [z.real for z in np.roots([1, 0, 0, -1, lam]) if abs(z.imag) < 1e-12 and z.real > 0]
    if not r:
        return None
    f = lambda t: (t ** 3 - 1) ** 2 + 3 * lam * t ** 2  # noqa: E731
    t_s, t_star = min(r), max(r)  # the saddle and the balanced minimum
    return max(f(0.0), f(t_star)), f(t_s)  # the poorer of the two minima, up to the saddle


def test_spurious_truth_agrees_with_the_closed_form_and_changes_minimum_at_lambda_c():
    for lam in (0.05, 0.1, 0.2, 0.3, 0.38, 0.4, 0.45, 0.6):
        truth, formula = ch02._spurious_truth(lam), _roots_formula(lam)
        assert (truth is None) == (formula is None)
        if truth is not None:
            assert np.allclose(truth, formula, atol=1e-9)
    assert ch02._spurious_truth(0.3)[0] == 1.0       # the origin is the poor minimum
    assert ch02._spurious_truth(0.4)[0] > 1.0        # now the balanced minima are poor
    assert ch02._spurious_truth(0.6) is None         # beyond 3/4 4^(-1/3) no other minimum


def test_spurious_range_closed_form_passes_including_lambda_without_a_valley():
    assert ch02.check_spurious_range(_roots_formula).correct
    assert ch02.check_spurious_range(_roots_formula, lambdas=(0.6,)).correct


def test_spurious_range_the_grid_route_of_the_widget_passes():
    """Bisection in u on the widget's grid (161 x 161, the slice w_1 = w_2): the tolerance
    must admit what that route achieves."""
    def grid_route(lam):
        spur = lambda u: len(linear.update(u, lam, 3).spurious) > 0  # noqa: E731
        us = np.linspace(0.9, 1.2, 61)
        flags = [spur(u) for u in us]
        if not any(flags):
            return None
        k, j = flags.index(True), len(flags) - 1 - flags[::-1].index(True)

        def edge(a, b, inside_at_a):
            while b - a > 2e-5:
                m = (a + b) / 2
                a, b = (m, b) if spur(m) == inside_at_a else (a, m)
            return (a + b) / 2
        return edge(us[k - 1], us[k], False), edge(us[j], us[j + 1], True)

    assert ch02.check_spurious_range(grid_route, lambdas=(0.1, 0.4, 0.6)).correct


@pytest.mark.parametrize("answer, fragment", [
    (lambda lam: (1.0, 1.0 + lam), "upper end is off"),
    (lambda lam: None, "found no spurious valley"),
    (lambda lam: (1.0, 1.05), "upper end is off"),
    (lambda lam: ["1", "1.1"], "Expected a pair"),
    (lambda lam: {"lo": 1.0}, "Expected a pair"),
])
def test_spurious_range_wrong_answers_fail(answer, fragment):
    v = ch02.check_spurious_range(answer)
    assert not v.correct and fragment in v.message


def test_spurious_range_the_old_formula_fails_where_the_origin_is_global():
    """At lambda = 0.4 the origin is the global minimum: the valley starting at E(0) = 1 is
    not the spurious one."""
    old = lambda lam: (1.0, _roots_formula(lam)[1]) if _roots_formula(lam) else None  # noqa: E731
    v = ch02.check_spurious_range(old, lambdas=(0.4,))
    assert not v.correct and "lower end" in v.message


def test_join_with_the_constructive_path_passes_and_the_straight_segment_fails():
    x, y, a, b = ch02.join_data()
    E = ln.deep_linear_energy(x, y, [3, 5, 4, 2])
    assert ch02.check_join(lambda a, b, x, y: ln.construct_path(a, b, 401, energy=E)).correct
    assert ch02.check_join(lambda a, b, x, y: ln.constructive_path(a, b, 401).nodes.numpy()).correct
    flat = lambda L: torch.cat([W.reshape(-1) for W in L])  # noqa: E731
    v = ch02.check_join(lambda a, b, x, y: torch.stack([flat(a), flat(b)]))
    assert not v.correct and "climbs" in v.message and "factorize back" in v.message
    coarse = ch02.check_join(lambda a, b, x, y: ln.construct_path(a, b, 60, energy=E))
    assert not coarse.correct and "more nodes" in coarse.message


def test_join_rejects_wrong_endpoints_and_bad_input():
    x, y, a, b = ch02.join_data()
    flat = lambda L: torch.cat([W.reshape(-1) for W in L])  # noqa: E731
    assert "first node" in ch02.check_join(lambda *_: torch.stack([flat(b), flat(a)])).message
    assert "Expected the nodes" in ch02.check_join(lambda *_: "path").message
    assert "finite" in ch02.check_join(lambda *_: torch.full((3, 47), float("nan"))).message


def test_join_data_are_copies_the_student_cannot_change():
    x, y, a, b = ch02.join_data()
    x.zero_(); a[0].zero_()
    x2, _, a2, _ = ch02.join_data()
    assert float(x2.abs().sum()) > 0 and float(a2[0].abs().sum()) > 0


def test_checker_docstrings_hold_no_answers():
    text = " ".join(f.__doc__ or "" for f in (ch02, ch02.check_hessian_at_origin, ch02.check_ridge_merge,
                                               ch02.check_spurious_range, ch02.check_gl_action, ch02.check_join))
    for answer in ("[-2, 2]", "-2, 2", "2 lam - lam", "2 lambda - lambda", "t^4 - t"):
        assert answer not in text
