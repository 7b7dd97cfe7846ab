"""Tests of the chapter 1 checkers: right answers pass, wrong ones fail with a hint, stubs are
reported as not attempted."""

import pytest

from lecture_lib import sublevel, surfaces
from lecture_lib.checks import ch01


def _stub():
    raise NotImplementedError("replace this line with your code")


def test_merge_level_from_the_library_passes(capsys):
    s = surfaces.get("tilted_double_well")
    tree = sublevel.merge_tree(sublevel.grid(s.energy, s.extent, 201))
    assert ch01.check_merge_level(lambda: tree.merges[0].level) is True
    assert "Correct" in capsys.readouterr().out


def test_merge_level_wrong_answer_fails_with_the_matching_hint(capsys):
    assert ch01.check_merge_level(0.4833) is False
    out = capsys.readouterr().out
    assert "Not quite" in out and "got 0.4833" in out and "shallow minimum" in out
    assert ch01.check_merge_level(2.5) is False
    assert "merge_tree" in capsys.readouterr().out


def test_merge_level_stub_is_reported_as_not_attempted(capsys):
    assert ch01.check_merge_level(_stub) is False
    assert "Not attempted yet" in capsys.readouterr().out


@pytest.mark.parametrize("bad", ["1.03", None, float("nan"), True, (1.0, 2.0)])
def test_merge_level_rejects_non_numbers_with_a_message(bad, capsys):
    assert ch01.check_merge_level(bad) is False
    assert "Expected one finite number" in capsys.readouterr().out


def test_spurious_interval_from_the_tree_passes(capsys):
    s = surfaces.get("muller_brown")
    tree = sublevel.merge_tree(sublevel.grid(s.energy, s.extent, 151))
    assert ch01.check_spurious_interval(tree.spurious_intervals()[0]) is True
    assert "Correct" in capsys.readouterr().out


@pytest.mark.parametrize("answer, hint", [
    ((-80.77, -40.66), "a third valley appears"),
    ((-146.7, -40.66), "second-deepest minimum"),
    ((-108.17, -72.25), "still spurious"),
    ((-108.17, -10.0), "until the last merge"),
    ((-40.66, -108.17), "reversed"),
])
def test_spurious_interval_wrong_answers_fail_with_hints(answer, hint, capsys):
    assert ch01.check_spurious_interval(answer) is False
    out = capsys.readouterr().out
    assert "Not quite" in out and hint in out


def test_spurious_interval_stub_and_bad_shape(capsys):
    assert ch01.check_spurious_interval(_stub) is False
    assert "Not attempted yet" in capsys.readouterr().out
    assert ch01.check_spurious_interval(-100.0) is False
    assert "Expected a pair" in capsys.readouterr().out
