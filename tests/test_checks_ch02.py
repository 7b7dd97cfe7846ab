"""Tests of the chapter 2 checkers: right answers pass, wrong ones fail with a hint, stubs are
reported as not attempted."""

import pytest
import torch

from lecture_lib import symmetry
from lecture_lib.checks import ch02


def _stub(*args):
    raise NotImplementedError("replace this line with your code")


def test_hessian_eigenvalues_are_the_closed_form():
    assert ch02.hessian_eigenvalues_at_origin(2) == [-2, 2]
    assert ch02.hessian_eigenvalues_at_origin(3) == [0, 0, 0]


def test_hessian_checker(capsys):
    assert ch02.check_hessian_at_origin(lambda K: [-2.0, 2.0] if K == 2 else [0.0] * 3)
    assert "Correct" in capsys.readouterr().out
    assert not ch02.check_hessian_at_origin(lambda K: [0.0, 2.0] if K == 2 else [0.0] * 3)
    assert "Not quite for K = 2" in capsys.readouterr().out
    assert not ch02.check_hessian_at_origin(lambda K: [-2.0, 2.0])
    assert "expected 3 eigenvalues" in capsys.readouterr().out
    assert not ch02.check_hessian_at_origin(_stub)
    assert "Not attempted yet" in capsys.readouterr().out


def test_ridge_merge_checker(capsys):
    assert ch02.check_ridge_merge(lambda lam: (2 * lam - lam ** 2, 1.0))
    assert "Correct" in capsys.readouterr().out
    assert not ch02.check_ridge_merge(lambda lam: (lam, 1.0))
    assert "balanced" in capsys.readouterr().out
    assert not ch02.check_ridge_merge(lambda lam: 1.0)
    assert "Expected a pair" in capsys.readouterr().out
    assert not ch02.check_ridge_merge(_stub)


def test_gl_action_checker(capsys):
    assert ch02.check_gl_action(symmetry.gl_act)
    assert "Correct" in capsys.readouterr().out
    wrong = lambda Ws, Us: [Us[0] @ Ws[0]] + [U @ W for U, W in zip(Us[1:], Ws[1:-1])] + [Ws[-1]]
    assert not ch02.check_gl_action(wrong)
    assert "Not quite: W_2" in capsys.readouterr().out
    assert not ch02.check_gl_action(_stub)


def test_spurious_range_is_born_at_one_and_dies_at_the_balanced_saddle():
    for lam in (0.1, 0.3):
        lo, hi = ch02.spurious_range(lam)
        t = min(r.real for r in __import__("numpy").roots([1, 0, 0, -1, lam]) if abs(r.imag) < 1e-12 and r.real > 0)
        assert lo == 1.0 and hi > 1.0 and abs(t ** 4 - t + lam) < 1e-12
    assert ch02.spurious_range(0.6) is None  # beyond 3/4 * 4^(-1/3) the origin is the global minimum


def test_spurious_range_checker(capsys):
    assert ch02.check_spurious_range(ch02.spurious_range)
    assert "Correct" in capsys.readouterr().out
    assert not ch02.check_spurious_range(lambda lam: (1.0, 1.0 + lam))
    assert "balanced saddle" in capsys.readouterr().out
    assert not ch02.check_spurious_range(_stub)
    assert "Not attempted yet" in capsys.readouterr().out
