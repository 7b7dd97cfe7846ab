"""Chapter 4's widget: the update function, the figure, the precomputed stacks."""

import pytest

from lecture_lib.topics import relu_rate
from lecture_lib.widgets import relu as relu_widget


@pytest.fixture(scope="module")
def small():
    return relu_rate.rate_experiment(n_ins=(1, 2), widths=(4, 8, 16), n_pairs=2, n_samples=32, steps=40,
                                n_images=3, max_iter=10)


def test_update_picks_the_first_pair_at_the_requested_point(small):
    v = relu_widget.update(2, 8, small)
    assert (v.point.n_in, v.point.width, v.point.pair) == (2, 8, 0)
    assert v.barriers.shape == (3, 2) and v.widths == (4, 8, 16)
    assert "n=2, m=8" in v.message


def test_update_rejects_points_outside_the_sweep(small):
    with pytest.raises(ValueError, match="n_in"):
        relu_widget.update(3, 8, small)


def test_draw_has_profiles_and_barrier_panels(small):
    fig = relu_widget.draw(relu_widget.update(1, 16, small))
    left, right = fig.axes
    assert len(left.lines) == 3  # straight, NEB, level
    assert right.get_xscale() == "log" and right.get_yscale() == "log"


def test_build_precomputes_one_page_per_width_and_dimension(small):
    import ipywidgets as w

    box = relu_widget.build(2, 4, small)
    controls, outer = box.children
    n_control, m_control = controls.children
    assert len(outer.children) == 2 and all(len(s.children) == 3 for s in outer.children)
    assert outer.selected_index == 1 and outer.children[1].selected_index == 0
    assert all(len(o.outputs) == 1 and "image/png" in o.outputs[0]["data"]
               for s in outer.children for o in s.children)


def test_static_view_has_one_panel_per_point(small):
    assert len(relu_widget.static_view(small).axes) == 6
