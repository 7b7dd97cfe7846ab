"""Tests of the chapter 2 widget: update() against the closed-form structure of the small
linear landscapes, every control of the built widget across its range, and the static view."""

import ipywidgets as w
from ipywidgets.widgets.widget import _instances  # live widgets (Widget.widgets is deprecated)
from ipywidgets.widgets.widget_link import Link
import numpy as np
import pytest
from matplotlib.figure import Figure

from lecture_lib.widgets import linear

LEVELS = np.linspace(*linear.LEVEL_RANGE, 9)
RIDGES = np.linspace(*linear.RIDGE_RANGE, 7)


@pytest.mark.parametrize("depth", linear.DEPTHS)
@pytest.mark.parametrize("ridge", RIDGES)
def test_update_over_the_whole_range_of_every_control(depth, ridge):
    for u in LEVELS:
        view = linear.update(u, ridge, depth)
        assert view.labels.shape == (linear.RESOLUTION,) * 2 and view.labels.max() == view.n_components
        assert (view.n_components == 0) == (u < view.grid.values.min())
        assert f"N_u = {view.n_components}" in view.message
        if view.merge_level is not None:  # the minima's valleys are apart exactly below the merge
            nodes = [view.grid.index(p) for p in view.minimizers]
            n_in = sum(view.grid.values[i] <= u for i in nodes)
            held = {view.labels[i] for i in nodes} - {0}
            assert len(held) == (n_in if u < view.merge_level else min(n_in, 1))
            assert view.path_energies.max() <= view.merge_level + 1e-12
            assert np.allclose(view.path[[0, -1]], [view.grid.point(view.grid.index(p)) for p in view.minimizers])


@pytest.mark.parametrize("ridge", [0.0, 0.2, 0.5, 0.8])
def test_depth_two_has_two_valleys_below_the_saddle_and_none_spurious(ridge):
    view = linear.update((1 + 2 * ridge - ridge ** 2) / 2, ridge, 2)
    assert view.min_value == pytest.approx(2 * ridge - ridge ** 2)
    assert view.merge_level == pytest.approx(1.0, abs=1e-3)  # the saddle at the origin
    assert view.n_components == 2 and view.spurious == ()
    assert linear.update(1.01, ridge, 2).n_components == 1


def test_depth_two_with_large_ridge_has_one_minimum_at_the_origin():
    view = linear.update(1.5, 1.1, 2)
    assert view.minimizers == ((0.0, 0.0),) and view.min_value == pytest.approx(1.0)
    assert view.merge_level is None and view.path is None


def spurious_range(lam):
    """Closed form on the balanced line w_k = t: f(t) = (t^3 - 1)^2 + 3 lam t^2. For a small
    ridge the origin (f = 1) is a poor local minimum whose valley lasts up to the barrier
    max f on [0, t*], t* the other minimum (dense scan)."""
    t = np.linspace(0.0, 2.0, 400_001)
    f = (t ** 3 - 1) ** 2 + 3 * lam * t ** 2
    t_star = np.argmin(f)
    assert f[t_star] < f[0] == 1.0
    return 1.0, float(f[:t_star + 1].max())


def test_depth_three_ridge_has_a_spurious_valley_at_the_origin():
    lo, hi = spurious_range(0.3)
    view = linear.update((lo + hi) / 2, 0.3, 3)
    assert len(view.spurious) == 1
    assert view.labels[view.grid.index((0.0, 0.0))] == view.spurious[0]
    assert view.merge_level == pytest.approx(hi, abs=2e-3)
    assert linear.update(1.0, 0.0, 3).spurious == ()  # no ridge: the origin is a degenerate saddle


def test_orbits_have_constant_product():
    for depth in linear.DEPTHS:
        for c in linear.update(0.5, 0.0, depth).orbits:
            prod = c[:, 0] * c[:, 1] if depth == 2 else c[:, 0] ** 2 * c[:, 1]
            assert np.allclose(prod, prod[0])


def test_update_rejects_bad_controls():
    with pytest.raises(ValueError, match="choose one of"):
        linear.update(0.5, 0.0, 4)
    with pytest.raises(ValueError, match="ridge"):
        linear.update(0.5, -0.1, 2)
    with pytest.raises(ValueError, match="level must be finite"):
        linear.update(float("inf"), 0.0, 2)


def test_update_returns_a_frozen_result():
    view = linear.update(0.5)
    with pytest.raises(AttributeError):
        view.level = 1.0


def test_draw_and_static_view_make_figures():
    assert isinstance(linear.draw(linear.update(1.2, 1.1, 2)), Figure)  # single minimum panel
    fig = linear.static_view()
    assert isinstance(fig, Figure) and len([a for a in fig.axes if a.has_data()]) == 6
    with pytest.raises(ValueError, match="settings"):
        linear.static_view(())


def _stacks_at_depth(stack, depth):
    return [stack] if depth == 0 else [s for c in stack.children for s in _stacks_at_depth(c, depth - 1)]


def test_built_widget_precomputes_every_combination_of_controls():
    box = linear.build(levels=(0.5, 1.2), ridges=(0.0, 0.3))
    (depth, ridge, level), grid = box.children[0].children, box.children[1]
    assert isinstance(depth, w.Dropdown) and isinstance(level, w.SelectionSlider)
    assert isinstance(grid, w.Stack) and list(depth.options) == list(linear.DEPTHS)
    assert box.children[0].layout.flex_flow == "row wrap"
    leaves = _stacks_at_depth(grid, 2)
    assert len(leaves) == len(linear.DEPTHS) * 2
    texts = []
    for i, K in enumerate(linear.DEPTHS):
        for j, lam in enumerate((0.0, 0.3)):
            outs = grid.children[i].children[j].children
            for out, u in zip(outs, (0.5, 1.2)):
                texts.append(out.outputs[0]["data"]["text/plain"])
                assert texts[-1] == linear.update(u, lam, K).message
                assert out.outputs[0]["data"]["image/png"]
    assert len(set(texts)) == len(texts) == 8
    links = {(l.source[0].model_id, l.target[0].model_id) for l in _instances.values()
             if isinstance(l, Link)}
    for control, stacks in ((depth, [grid]), (ridge, grid.children), (level, leaves)):
        assert all((control.model_id, s.model_id) in links for s in stacks)
