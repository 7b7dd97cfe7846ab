"""Tests of the chapter 1 widget: update() against the known structure, every control of the
built widget across its range, and the static view."""

import ipywidgets as w
import numpy as np
import pytest
from matplotlib.figure import Figure

from lecture_lib import surfaces
from lecture_lib.widgets import valleys


def _controls(box):
    (dropdown, slider), out = box.children[0].children, box.children[1]
    assert isinstance(dropdown, w.Dropdown) and isinstance(slider, w.FloatSlider)
    assert isinstance(out, w.Output)
    return dropdown, slider, out


@pytest.mark.parametrize("name, level, n, n_spurious", [
    ("muller_brown", -120.0, 1, 0), ("muller_brown", -100.0, 2, 1), ("muller_brown", -75.0, 3, 2),
    ("muller_brown", -60.0, 2, 1), ("muller_brown", -20.0, 1, 0),
    ("tilted_double_well", 0.7, 2, 1), ("tilted_double_well", 1.5, 1, 0),
    ("escape_channel", 0.25, 2, 1), ("plateau", 0.5, 1, 0), ("bowl", 3.0, 1, 0),
])
def test_update_counts_match_known_structure(name, level, n, n_spurious):
    view = valleys.update(name, level)
    assert (view.n_components, view.n_spurious) == (n, n_spurious)
    assert view.labels.shape == (valleys.RESOLUTION, valleys.RESOLUTION)
    assert view.labels.max() == n and len(view.spurious) == n_spurious
    assert f"N_u = {n}" in view.message


def test_update_rejects_unknown_surface_and_bad_level():
    with pytest.raises(ValueError, match="choose one of"):
        valleys.update("himmelblau", 0.0)
    with pytest.raises(ValueError, match="level must be finite"):
        valleys.update("bowl", float("nan"))


def test_build_draws_a_figure_at_once():
    dropdown, slider, out = _controls(valleys.build())
    assert len(out.outputs) == 1 and out.outputs[0]["data"]["image/png"]
    assert out.outputs[0]["data"]["text/plain"] == valleys.update(dropdown.value, slider.value).message


def test_every_control_across_its_range_refills_the_output(monkeypatch):
    # Every state is drawn; only the PNG encoding (tested above) is skipped to keep this fast.
    drawn = []

    def fake_png(fig, text, dpi=80):
        drawn.append(len(fig.axes))
        return {"output_type": "display_data", "data": {"text/plain": text}, "metadata": {}}

    monkeypatch.setattr(valleys, "png_output", fake_png)
    dropdown, slider, out = _controls(valleys.build())
    assert tuple(dropdown.options) == valleys.CHAPTER_SURFACES
    for name in reversed(dropdown.options):  # the first option is selected at build time
        before = out.outputs
        dropdown.value = name
        s = surfaces.get(name)
        assert (slider.min, slider.max) == pytest.approx(s.level_range)
        assert slider.value == pytest.approx(valleys.default_level(name))
        assert out.outputs is not before
        for u in np.linspace(slider.min, slider.max, 4):
            before = out.outputs
            slider.value = float(u)
            view = valleys.update(name, slider.value)
            assert out.outputs is not before
            assert out.outputs[0]["data"]["text/plain"] == view.message
            if s.has_spurious_valley(slider.value) or abs(slider.value - 0.0866) < 0.05:
                continue  # near an event the grid count may lag the plane's by a cell
            assert view.n_components == s.n_components(slider.value)
            assert view.n_spurious == 0
    assert len(drawn) == 1 + 5 * 5 and set(drawn) == {2}  # map + tree, every time


def test_static_view_has_one_panel_per_level_and_the_tree():
    fig = valleys.static_view("tilted_double_well", [0.0, 0.7, 1.5])
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    assert "N_u$ = 2, 1 spurious" in fig.axes[1].get_title()
    assert len(fig.axes[3].lines) >= 2 + 3  # two branches + three level lines
    fig = valleys.static_view("muller_brown", [-120.0, -100.0, -75.0, -60.0, -30.0])
    assert len(fig.axes) == 6 and fig.axes[5].get_title() == "merge tree"
    assert "N_u$ = 3, 2 spurious" in fig.axes[2].get_title()
    with pytest.raises(ValueError, match="at least one level"):
        valleys.static_view("bowl", [])


def test_merge_tree_leaf_order_never_crosses():
    tree = valleys.update("muller_brown", -75.0).tree
    order = valleys._leaf_order(tree)
    assert sorted(order) == list(range(len(tree.births)))
    pos = {k: n for n, k in enumerate(order)}
    for m in tree.merges:  # no branch alive at a merge level lies strictly between the joined ones
        lo, hi = sorted((pos[m.survivor], pos[m.absorbed]))
        alive = [k for k, b in enumerate(tree.births)
                 if b.level <= m.level < tree.death_level(k) and lo < pos[k] < hi]
        assert alive == []
