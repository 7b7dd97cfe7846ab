"""Tests of the chapter 1 widget: update() against the known structure, every control of the
built widget across its range, and the static view."""

import ipywidgets as w
from ipywidgets.widgets.widget import _instances  # live widgets (Widget.widgets is deprecated)
from ipywidgets.widgets.widget_link import Link
import numpy as np
import pytest
from matplotlib.figure import Figure

from lecture_lib import surfaces
from lecture_lib.widgets import valleys


def _structure(box):
    """(dropdown, outer stack, [(slider, stack of outputs)] per surface) of the widget."""
    (dropdown,), outer = box.children[0].children, box.children[1]
    assert isinstance(dropdown, w.Dropdown) and isinstance(outer, w.Stack)
    pages = []
    for page in outer.children:
        (slider,), stack = page.children[0].children, page.children[1]
        assert isinstance(slider, w.SelectionSlider) and isinstance(stack, w.Stack)
        assert all(isinstance(out, w.Output) for out in stack.children)
        pages.append((slider, stack))
    return dropdown, outer, pages


def _links(widget_ids):
    """Live jslinks as (source model id, source trait, target model id, target trait)."""
    found = set()
    for widget in list(_instances.values()):
        if isinstance(widget, Link) and widget.source[0].model_id in widget_ids:
            found.add((widget.source[0].model_id, widget.source[1],
                       widget.target[0].model_id, widget.target[1]))
    return found


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


def test_level_options_cover_the_range_and_hold_the_default_level():
    for name in valleys.CHAPTER_SURFACES:
        levels = valleys.level_options(name)
        lo, hi = surfaces.get(name).level_range
        assert list(levels) == sorted(set(levels)) and lo < levels[0] and levels[-1] < hi
        assert round(valleys.default_level(name), 3) in levels
        assert len(levels) in (valleys.N_LEVELS, valleys.N_LEVELS + 1)


def test_every_option_has_its_precomputed_figure_and_a_browser_link():
    box = valleys.build(surface_names=("tilted_double_well", "muller_brown"), n_levels=3)
    dropdown, outer, pages = _structure(box)
    assert len(outer.children) == len(dropdown.options) == 2
    links = _links({dropdown.model_id} | {s.model_id for s, _ in pages})
    assert (dropdown.model_id, "index", outer.model_id, "selected_index") in links
    for name, (slider, stack) in zip(dropdown.options, pages):
        assert (slider.model_id, "index", stack.model_id, "selected_index") in links
        assert [v for _, v in slider.options] == list(valleys.level_options(name, 3))
        assert stack.selected_index == slider.index
        texts = [out.outputs[0]["data"]["text/plain"] for out in stack.children]
        assert texts == [valleys.update(name, u).message for _, u in slider.options]
        pngs = {out.outputs[0]["data"]["image/png"] for out in stack.children}
        assert len(pngs) == len(texts), "two options show the same picture"
    # the controls wrap on a narrow screen instead of clipping a slider
    assert box.children[0].layout.flex_flow == "row wrap"


def test_the_default_widget_offers_every_chapter_surface():
    dropdown, outer, pages = _structure(valleys.build())
    assert tuple(dropdown.options) == valleys.CHAPTER_SURFACES
    for name, (slider, _) in zip(dropdown.options, pages):
        assert slider.value == min(valleys.level_options(name),
                                   key=lambda u: abs(u - valleys.default_level(name)))


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
