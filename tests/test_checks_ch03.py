"""Tests of the chapter 3 checkers: right answers in several forms pass, wrong ones and NaN
fail without the expected value, stubs name their exercise, the failure table is compared
complete, and the truth is private."""

import numpy as np
import pytest
import torch

from lecture_lib.checks import ch03
from lecture_lib.topics import lifting
from lecture_lib.widgets import quadratic


def _stub(*_):
    raise NotImplementedError("write your solution here")


def _eig_factors(A):
    lam, V = torch.linalg.eigh(A)
    return lam, V.T


@pytest.mark.parametrize("check, exercise", [(ch03.check_lift, "Exercise 3.1"),
                                             (ch03.check_factorization, "Exercise 3.2"),
                                             (ch03.check_global_minimum, "Exercise 3.3"),
                                             (ch03.check_min_width, "Exercise 3.4"),
                                             (ch03.check_failure_table, "Exercise 3.5")])
def test_unsolved_stub_is_reported_as_not_attempted_naming_the_exercise(check, exercise):
    v = check(_stub)
    assert not v.attempted and "Not attempted yet" in v.message and exercise in v.message
    with pytest.raises(NotImplementedError, match=exercise):
        v.assert_correct()


def test_check_lift_accepts_tensors_and_numpy_and_explains_common_mistakes():
    assert ch03.check_lift(lambda U, W: (W.T * U) @ W).correct
    assert ch03.check_lift(lambda U, W: ((W.T * U) @ W).numpy()).correct
    assert ch03.check_lift(lambda U, W: ((W.T * U) @ W).tolist()).correct
    v = ch03.check_lift(lambda U, W: W.T @ W)
    assert not v.correct and "forgets the output weights" in v.message
    assert "W^T diag(U) W" in ch03.check_lift(lambda U, W: (W * U[:, None]) @ W.T).message
    with pytest.raises(AssertionError):
        v.assert_correct()


def test_check_lift_fails_an_all_nan_and_a_partly_nan_matrix():
    assert not ch03.check_lift(lambda U, W: torch.full((W.shape[1],) * 2, float("nan"))).correct
    def partly(U, W):
        A = (W.T * U) @ W
        A[0, 0] = float("nan")
        return A
    v = ch03.check_lift(partly)
    assert not v.correct and "finite" in v.message


def test_check_factorization_accepts_eigendecomposition_in_torch_and_numpy():
    assert ch03.check_factorization(_eig_factors).correct
    assert ch03.check_factorization(lambda A: tuple(t.numpy() for t in _eig_factors(A))).correct
    assert ch03.check_factorization(lambda A: (lifting.factorize(A, 4)[0][0], lifting.factorize(A, 4)[1])).correct


def test_check_factorization_tests_indefinite_and_rank_deficient_matrices():
    kinds = []
    for A, rank in ch03._factorization_cases():
        lam = np.linalg.eigvalsh(A)
        big = np.abs(lam) > 1e-9 * np.abs(lam).max()
        kinds.append((int(big.sum()), bool((lam[big] > 0).any() and (lam[big] < 0).any())))
        assert int(big.sum()) == rank
    assert (4, True) in kinds and (2, False) in kinds and (3, True) in kinds


def test_check_factorization_catches_mistakes_on_each_kind():
    v = ch03.check_factorization(lambda A: torch.linalg.eigh(A))
    assert not v.correct and "transpose your W" in v.message
    assert not ch03.check_factorization(lambda A: lifting.factorize(A, 6)[::-1]).correct
    # square roots of |eigenvalues| only work for semidefinite A: fails on the indefinite one
    def psd_only(A):
        lam, V = torch.linalg.eigh(A)
        return torch.ones(4, dtype=A.dtype), (V * lam.abs().sqrt()).T
    v = ch03.check_factorization(psd_only)
    assert not v.correct and "indefinite" in v.message
    # dropping the smallest eigenvalue (width N - 1) fails on the full-rank matrix
    def drop_smallest(A):
        lam, V = torch.linalg.eigh(A)
        keep = lam.abs().argsort()[1:]
        return lam[keep], V[:, keep].T
    v = ch03.check_factorization(drop_smallest)
    assert not v.correct and "full rank" in v.message
    # right on full rank only: the rank-deficient cases are checked too
    for bad_rank in (2, 3):
        def right_on_full_rank_only(A, bad_rank=bad_rank):
            lam, V = _eig_factors(A)
            return (lam, V) if torch.linalg.matrix_rank(A) != bad_rank else (lam, V.T)
        v = ch03.check_factorization(right_on_full_rank_only)
        assert not v.correct and f"rank {bad_rank}" in v.message
    too_wide = lambda A: (torch.zeros(5, dtype=A.dtype), torch.zeros(5, 4, dtype=A.dtype))  # noqa: E731
    assert "at most N = 4" in ch03.check_factorization(too_wide).message


def test_check_global_minimum_accepts_every_form_and_names_wrong_answers():
    x, y = ch03.exercise_data()
    truth = lifting.lifted_solution(x, y).loss
    for form in (truth, np.float64(truth), torch.tensor(truth), lambda: torch.tensor([truth]), np.array(truth)):
        assert ch03.check_global_minimum(form).correct
    v = ch03.check_global_minimum(float(y.square().mean()))
    assert not v.correct and "zero network" in v.message and f"{truth:.6f}" not in v.message
    assert "Expected one number" in ch03.check_global_minimum("0.3").message
    assert not ch03.check_global_minimum(float("nan")).correct


def test_check_min_width_is_the_rank_of_the_planted_optimum():
    for form in (3, np.int64(3), torch.tensor(3), 3.0):
        assert ch03.check_min_width(form).correct
    v = ch03.check_min_width(5)
    assert not v.correct and "M = N = 5 always suffices" in v.message
    assert "no spurious valleys" in ch03.check_min_width(11).message
    assert "integer" in ch03.check_min_width(3.5).message


def test_exercise_data_are_fixed_and_returned_as_copies():
    x1, y1 = ch03.exercise_data()
    x1.zero_()
    x2, _ = ch03.exercise_data()
    assert float(x2.abs().sum()) > 0 and x2.shape == (40, 3) and y1.shape == (40, 1)


def test_the_truth_does_not_use_the_lifting_module(monkeypatch):
    """A student who replaces lifting.lifted_solution cannot move the checkers' truth."""
    x, y = ch03.exercise_data()
    truth = lifting.lifted_solution(x, y).loss
    monkeypatch.setattr(lifting, "lifted_solution", lambda *a: None)
    monkeypatch.setattr(lifting, "lift", lambda U, W: torch.zeros(W.shape[1], W.shape[1]))
    assert ch03.check_global_minimum(truth).correct
    assert ch03.check_lift(lambda U, W: (W.T * U) @ W).correct


def _table(widths=range(3, 10)):
    rows = []
    for r in quadratic.sweep(3, widths, "random"):
        stuck = [r.sign_counts[i] for i in range(r.n_seeds) if not r.reached[i]]
        rows.append((r.width, r.fraction_reached, r.inertia, stuck))
    return rows


@pytest.mark.slow
def test_check_failure_table_compares_the_complete_table():
    rows = _table()
    assert ch03.check_failure_table(lambda: rows).correct
    as_arrays = [(np.int64(M), torch.tensor(f), np.array(i), np.array(s)) for M, f, i, s in rows]
    assert ch03.check_failure_table(as_arrays).correct
    one = ch03.check_failure_table(rows[:1])
    assert not one.correct and "missing M = [4, 5, 6, 7, 8, 9]" in one.message
    truncated = ch03.check_failure_table([(3.7,) + tuple(rows[0][1:])] + rows[1:])
    assert not truncated.correct and "integer" in truncated.message
    repeated = ch03.check_failure_table(rows + rows[-1:])
    assert not repeated.correct and "repeated" in repeated.message
    bad = list(rows)
    bad[1] = (4, 0.5, rows[1][2], rows[1][3])
    v = ch03.check_failure_table(bad)
    assert not v.correct and "M = 4 (fraction)" in v.message
    # the message never prints the expected table
    assert f"{rows[1][1]:.0%}" not in v.message and str(rows[0][3][:1]) not in v.message
    nan = [(M, float("nan"), i, s) for M, _, i, s in rows]
    assert not ch03.check_failure_table(nan).correct


@pytest.mark.slow
def test_check_failure_table_truth_survives_mutating_the_widget_results():
    rows = _table()
    for r in quadratic.sweep(3, range(3, 10), "random"):
        r.reached[:] = True  # a student rewriting the cached results in place
    assert ch03.check_failure_table(rows).correct


def test_checker_docstrings_hold_no_answers():
    text = " ".join(f.__doc__ or "" for f in (ch03, ch03.check_lift, ch03.check_factorization,
                                               ch03.check_global_minimum, ch03.check_min_width,
                                               ch03.check_failure_table))
    for answer in ("0.200529", "E* = 0.2", "rank 3", "(W.T * U)"):
        assert answer not in text
