"""The games widget: its update function gives the known dynamics, the figures draw, and every
control option has a precomputed page linked in the browser."""

import matplotlib
import pytest

matplotlib.use("Agg")

from lecture_lib.widgets import games as wg  # noqa: E402


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_update_without_adjustment_makes_sga_equal_to_plain_descent():
    v = wg.update(0.02, 0.0)
    for p, q in zip(v.plain, v.sga):
        assert (p == q).all()


def test_update_bilinear_plain_diverges_and_sga_contracts_at_small_lr():
    v = wg.update(0.01, 0.01)
    assert v.plain_ratio[0] > 1 > v.sga_ratio[0]
    assert v.sga_ratio[1] < v.plain_ratio[1] < 1  # the mixed game: both contract, SGA faster


def test_update_refuses_settings_off_the_grid():
    with pytest.raises(ValueError, match="widget's grid"):
        wg.update(0.03, 0.01)


def test_draw_and_static_view_make_figures_with_both_games():
    fig = wg.draw(wg.update(0.032, 0.01))
    assert len(fig.axes) == 2 and "bilinear" in fig.axes[0].get_title()
    assert len(wg.static_view().axes) == 10


def test_build_links_every_option_to_a_precomputed_page():
    box = wg.build()
    controls, top = box.children
    lr, lam = controls.children
    assert len(top.children) == len(lr.options) and all(len(s.children) == len(lam.options) for s in top.children)
    assert top.selected_index == lr.index and top.children[0].selected_index == lam.index
    assert all(page.outputs[0]["data"]["image/png"] for s in top.children for page in s.children)
