"""Tests of the chapter 1 checkers: right answers in every reasonable form pass, wrong ones,
NaN and non-numbers fail with a hint and without the expected value, stubs are reported as
not attempted (naming the exercise), and the truth cannot be moved by the student."""

import dataclasses

import numpy as np
import pytest
import torch

from lecture_lib import sublevel, surfaces
from lecture_lib.checks import ch01
from lecture_lib.checks.verdict import Verdict


def _stub():
    raise NotImplementedError("replace this line with your code")


def _tree(name, res=151):
    s = surfaces.get(name)
    return sublevel.merge_tree(sublevel.grid(s.energy, s.extent, res))


def _merged(intervals):
    out = []
    for lo, hi in sorted(intervals):
        if out and lo <= out[-1][1]:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return out


def test_merge_level_from_the_library_passes_and_assert_correct_returns_the_verdict():
    level = _tree("tilted_double_well", 201).merges[0].level
    v = ch01.check_merge_level(lambda: level)
    assert isinstance(v, Verdict) and v.correct and "Correct" in repr(v)
    assert v.assert_correct() is v


@pytest.mark.parametrize("form", [float, np.float64, np.float32, torch.tensor,
                                  lambda u: torch.tensor([u]), lambda u: np.array(u), lambda u: [u]])
def test_merge_level_accepts_numbers_tensors_and_numpy(form):
    assert ch01.check_merge_level(form(1.03)).correct


def test_merge_level_wrong_answer_fails_with_a_hint_and_never_states_the_truth():
    v = ch01.check_merge_level(0.4833)
    assert not v.correct and "shallow minimum" in v.message and "1.03" not in v.message
    with pytest.raises(AssertionError, match="Not quite"):
        v.assert_correct()
    assert "merge_tree" in ch01.check_merge_level(2.5).message
    assert "1.0315" not in ch01.check_merge_level(2.5).message


def test_merge_level_stub_names_the_exercise_and_the_function():
    v = ch01.check_merge_level(_stub)
    assert not v.attempted and "Exercise 1.3" in v.message and "merge_level()" in v.message
    with pytest.raises(NotImplementedError, match="Exercise 1.3"):
        v.assert_correct()


@pytest.mark.parametrize("bad", ["1.03", None, float("nan"), torch.tensor(float("nan")), True,
                                 (1.0, 2.0), {"u": 1.03}])
def test_merge_level_rejects_non_numbers_and_nan(bad):
    v = ch01.check_merge_level(bad)
    assert not v.correct and "Expected one finite number" in v.message


def test_spurious_interval_from_the_tree_passes_in_several_forms():
    lo, hi = _merged(_tree("muller_brown").spurious_intervals())[0]
    for form in ((lo, hi), [lo, hi], np.array([lo, hi]), torch.tensor([lo, hi])):
        assert ch01.check_spurious_interval(form).correct


@pytest.mark.parametrize("answer, hint", [
    ((-80.77, -40.66), "another valley is born"),
    ((-146.7, -40.66), "second-deepest minimum"),
    ((-108.17, -72.25), "still spurious"),
    ((-108.17, -10.0), "until the last merge"),
    ((-40.66, -108.17), "reversed"),
])
def test_spurious_interval_wrong_answers_fail_with_hints(answer, hint):
    v = ch01.check_spurious_interval(answer)
    assert not v.correct and "Not quite" in v.message and hint in v.message
    assert "-108.17" not in v.message.replace(f"{answer[0]}", "") or answer[0] == -108.17


def test_spurious_interval_stub_nan_and_bad_shape():
    assert "Exercise 1.4" in ch01.check_spurious_interval(_stub).message
    for bad in (-100.0, (float("nan"), -40.66), ("-108", "-40"), {"lo": 1, "hi": 2}):
        v = ch01.check_spurious_interval(bad)
        assert not v.correct and "Expected a pair" in v.message


def test_rewriting_the_surfaces_cannot_move_the_truth(monkeypatch):
    """A student who overwrites surfaces.SURFACES (or surfaces.get) in the same kernel makes
    neither a wrong answer pass nor a right one fail."""
    s = surfaces.get("muller_brown")
    fake = dataclasses.replace(s, minima=((s.minima[0][0], -500.0),) + s.minima[1:],
                               spurious_levels=((-10.0, -5.0),), saddles=())
    monkeypatch.setitem(surfaces.SURFACES, "muller_brown", fake)
    monkeypatch.setitem(surfaces.SURFACES, "tilted_double_well", fake)
    monkeypatch.setattr(surfaces, "get", lambda name: fake)
    assert not ch01.check_spurious_interval((-10.0, -5.0)).correct
    assert ch01.check_spurious_interval((-108.17, -40.66)).correct
    assert ch01.check_merge_level(1.0315).correct


def test_the_private_truth_matches_the_library_surfaces():
    s = surfaces.get("muller_brown")
    levels = ch01._muller_brown_levels()
    assert np.allclose(levels[:3], [v for _, v in s.minima], atol=1e-9)
    assert np.allclose(sorted(levels[3:]), sorted(v for _, v in s.saddles), atol=1e-9)
    t = surfaces.get("tilted_double_well")
    assert abs(ch01._double_well_levels()[2] - t.saddles[0][1]) < 1e-12


def test_new_surface_merge_tree_on_a_grid_passes():
    """Exercise 1.5 needs the chapter's tool on data not in the text: the merge tree of the
    checker's surface on a 151 x 151 grid, its branch intervals merged, passes."""
    energy, extent = ch01.exercise_surface()
    spans = _merged(sublevel.merge_tree(sublevel.grid(energy, extent, 151)).spurious_intervals())
    assert len(spans) == 2
    assert ch01.check_new_surface(spans).correct
    assert ch01.check_new_surface(lambda: np.array(spans)).correct
    assert ch01.check_new_surface(torch.tensor(spans)).correct


def test_new_surface_truth_is_two_disjoint_intervals_from_the_critical_values():
    spans, minima, saddles = ch01._exercise_truth()
    energy, _ = ch01.exercise_surface()
    assert len(minima) == 3 and len(saddles) == 2
    assert spans[0][1] < spans[1][0]  # a range of levels with no spurious valley in between
    # every critical value is the energy at a critical point (y = s(x)), with zero gradient
    r = np.roots(ch01._P.deriv())
    xs = np.sort(r.real[np.abs(r.imag) < 1e-9])
    pts = torch.tensor([[x, 0.8 * np.sin(1.5 * x)] for x in xs], requires_grad=True)
    E = energy(pts)
    (grad,) = torch.autograd.grad(E.sum(), pts)
    assert float(grad.abs().max()) < 1e-6
    assert np.allclose(sorted(E.detach().numpy()), sorted(minima + saddles))


@pytest.mark.parametrize("answer, fragment", [
    ([(-0.03, 1.785)], "not the right number"),
    ([(-0.03, 0.63), (0.9, 1.785)], "interval 2 lower end"),
    ([(0.99, 1.785), (-0.03, 0.63)], "increasing order"),
    ([(-0.03, 0.63), (0.99, 1.2), (1.3, 1.785)], "merge them"),
])
def test_new_surface_wrong_answers_fail(answer, fragment):
    v = ch01.check_new_surface(answer)
    assert not v.correct and fragment in v.message and "0.632" not in v.message


def test_new_surface_stub_and_nan():
    assert "Exercise 1.5" in ch01.check_new_surface(_stub).message
    assert not ch01.check_new_surface([(float("nan"), 0.63), (0.99, 1.785)]).correct


def test_checker_docstrings_hold_no_answers():
    text = " ".join(f.__doc__ or "" for f in (ch01, ch01.check_merge_level, ch01.check_spurious_interval,
                                               ch01.check_new_surface))
    for answer in ("1.0315", "1.03", "-108.17", "-40.66", "0.632", "1.785"):
        assert answer not in text
