"""Tests of the chapter 6 widget: its update function over every control, its figures, and the
nested stacks that make all three controls work in the HTML without a kernel."""

import ipywidgets
import pytest
from matplotlib.figure import Figure

from lecture_lib.widgets import resnets as widget

FAST = 2  # seeds per setting in these tests


def test_update_over_every_setting_reports_runs_against_the_linear_baseline():
    for k in widget.WIDTHS:
        for scale in widget.INIT_SCALES:
            for steps in widget.STEPS:
                v = widget.update(k, scale, steps, FAST)
                assert (v.width, v.init_scale, v.steps) == (k, scale, steps)
                assert v.losses.shape == v.norm_w.shape == v.norm_V.shape == (FAST,)
                assert bool((v.beats == (v.losses <= v.linear_loss * (1 + 1e-9))).all())
                assert v.fraction_beating == float(v.beats.double().mean())
                assert bool((v.norm_V > 0).all()) and f"{v.fraction_beating:.0%}" in v.message


def test_training_lengths_share_one_cached_training():
    short, long = widget.update(2, 1.0, widget.STEPS[0], FAST), widget.update(2, 1.0, widget.STEPS[-1], FAST)
    assert widget.runs(2, 1.0, FAST) is widget.runs(2, 1.0, FAST)
    assert short.linear_loss == long.linear_loss
    assert float(long.losses.max()) < float(short.losses.max())  # training lowers the loss


def test_long_training_puts_every_run_at_or_below_the_linear_baseline():
    assert widget.update(8, 1.0, widget.STEPS[-1], FAST).fraction_beating == 1.0


@pytest.mark.parametrize("args, name", [((5, 1.0, 600), "width"), ((8, 2.0, 600), "init_scale"),
                                        ((8, 1.0, 601), "steps")])
def test_update_rejects_values_that_are_not_options(args, name):
    with pytest.raises(ValueError, match=f"unknown {name}"):
        widget.update(*args, FAST)


def test_draw_and_static_view_make_figures():
    fig = widget.draw(widget.update(8, 1.0, 600, FAST))
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert fig.axes[0].get_yscale() == "log"
    static = widget.static_view(n_seeds=FAST)
    assert len(static.axes) == len(widget.WIDTHS) * len(widget.INIT_SCALES)


@pytest.mark.filterwarnings("ignore:Widget.widgets is deprecated")
def test_build_nests_one_precomputed_figure_per_setting_linked_to_the_sliders():
    box = widget.build(n_seeds=FAST)
    controls, top = box.children
    width, scale, steps = controls.children
    assert controls.layout.flex_flow == "row wrap"
    assert [s.options for s in (width, scale, steps)] == [widget.WIDTHS, widget.INIT_SCALES, widget.STEPS]
    assert isinstance(top, ipywidgets.Stack) and len(top.children) == len(widget.WIDTHS)
    assert top.selected_index == width.index
    for i, k in enumerate(widget.WIDTHS):
        for j, s in enumerate(widget.INIT_SCALES):
            for m, t in enumerate(widget.STEPS):
                page = top.children[i].children[j].children[m]
                assert page.outputs[0]["data"]["text/plain"] == widget.update(k, s, t, FAST).message
                assert page.outputs[0]["data"]["image/png"]
    links = [w for w in ipywidgets.Widget.widgets.values() if isinstance(w, ipywidgets.widgets.widget_link.Link)]
    sources = {id(link.source[0]) for link in links if link.target[1] == "selected_index"}
    assert {id(width), id(scale), id(steps)} <= sources
