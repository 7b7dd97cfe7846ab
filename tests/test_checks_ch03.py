import pytest
import torch

from lecture_lib.topics import lifting
from lecture_lib.checks import ch03


def _stub(*_):
    raise NotImplementedError("write your solution here")


def _eig_factors(A):
    lam, V = torch.linalg.eigh(A)
    return lam, V.T


@pytest.mark.parametrize("check", [ch03.check_lift, ch03.check_factorization, ch03.check_global_minimum,
                                   ch03.check_min_width])
def test_unsolved_stub_is_reported_as_not_attempted(check, capsys):
    assert check(_stub) is False
    assert "Not attempted yet" in capsys.readouterr().out


def test_check_lift_accepts_the_lifting_and_explains_common_mistakes(capsys):
    assert ch03.check_lift(lambda U, W: (W.T * U) @ W) is True
    assert "Correct" in capsys.readouterr().out
    assert ch03.check_lift(lambda U, W: W.T @ W) is False
    assert "forgets the output weights" in capsys.readouterr().out
    assert ch03.check_lift(lambda U, W: (W * U[:, None]) @ W.T) is False
    assert "W^T diag(U) W" in capsys.readouterr().out


def test_check_factorization_accepts_eigendecomposition_and_catches_column_rows(capsys):
    assert ch03.check_factorization(_eig_factors) is True
    assert ch03.check_factorization(lambda A: torch.linalg.eigh(A)) is False
    assert "transpose your W" in capsys.readouterr().out
    assert ch03.check_factorization(lambda A: lifting.factorize(A, 6)[::-1]) is False


def test_check_global_minimum_accepts_lifted_optimum_and_names_wrong_answers(capsys):
    x, y = ch03.exercise_data()
    truth = lifting.lifted_solution(x, y).loss
    assert ch03.check_global_minimum(truth) is True
    assert ch03.check_global_minimum(lambda: torch.tensor(truth)) is True
    capsys.readouterr()
    assert ch03.check_global_minimum(float(y.square().mean())) is False
    assert "zero network" in capsys.readouterr().out
    assert ch03.check_global_minimum("0.3") is False
    assert "Expected one number" in capsys.readouterr().out


def test_check_min_width_is_the_rank_of_the_planted_optimum(capsys):
    assert ch03.check_min_width(3) is True
    assert ch03.check_min_width(5) is False
    assert "M = N = 5 always suffices" in capsys.readouterr().out
    assert ch03.check_min_width(11) is False
    assert "no spurious valleys" in capsys.readouterr().out


def test_exercise_data_are_fixed_and_returned_as_copies():
    x1, y1 = ch03.exercise_data()
    x1.zero_()
    x2, _ = ch03.exercise_data()
    assert float(x2.abs().sum()) > 0 and x2.shape == (40, 3) and y1.shape == (40, 1)
