import ipywidgets as w
import pytest
import torch
from matplotlib.figure import Figure

from lecture_lib.topics import lifting
from lecture_lib.widgets import quadratic

FAST = dict(n_seeds=3, steps=40)


@pytest.mark.parametrize("target", quadratic.TARGETS)
@pytest.mark.parametrize("N", quadratic.N_RANGE)
def test_update_over_the_whole_range_of_every_control_never_beats_the_lifted_optimum(N, target):
    for M in quadratic.width_range(N):
        r = quadratic.update(M, N, target, **FAST)
        assert (r.width, r.n_in, r.target) == (M, N, target)
        assert r.final_losses.shape == (3,) and r.thetas.shape == (3, M * N + M)
        assert bool((r.gaps >= -1e-9).all())  # no network goes below the convex lifted optimum
        assert 0.0 <= r.fraction_reached <= 1.0 and len(r.run_ranks) == 3
        assert all(rank <= min(M, N) for rank in r.run_ranks)  # rank(W^T diag(u) W) <= M
        assert r.path is not None and r.straight is not None and r.level > min(r.final_losses)


def test_update_is_cached_on_its_arguments():
    assert quadratic.update(2, 2, "random", **FAST) is quadratic.update(2, 2, "random", **FAST)


def test_planted_problem_needs_width_n_and_wide_networks_all_reach_it():
    narrow, wide = quadratic.update(2, 3, "planted"), quadratic.update(7, 3, "planted")
    assert narrow.fraction_reached == 0.0  # rank 2 < rank N = 3 of the teacher's lifted matrix
    assert float(narrow.gaps.min()) > 0.05
    assert wide.fraction_reached == 1.0  # M = 7 > 2N
    assert wide.path.connected and wide.path.max_energy <= wide.level * (1 + 1e-3)


def test_problems_are_scaled_and_have_the_stated_optimum():
    x, y = quadratic.problem(4, "planted")
    sol = lifting.lifted_solution(x, y)
    assert sol.loss < 1e-20 and sol.ranks == (4,) and len(x) == 30
    assert float(y.square().mean()) == pytest.approx(1.0)
    eig = sol.eigenvalues[0].abs()
    assert float(eig.max() / eig.min()) == pytest.approx(1.0, rel=1e-8)  # well conditioned teacher
    x, y = quadratic.problem(4, "random")
    assert lifting.lifted_solution(x, y).loss > 0.3


def test_update_rejects_values_outside_the_controls():
    with pytest.raises(ValueError, match="1 <= M <= 3N"):
        quadratic.update(0, 3)
    with pytest.raises(ValueError, match="1 <= M <= 3N"):
        quadratic.update(10, 3)
    with pytest.raises(ValueError, match="1 <= M <= 3N"):
        quadratic.update(1, 7)
    with pytest.raises(ValueError, match="options"):
        quadratic.update(2, 2, "teacher")


def test_draw_static_view_and_sweep_plot_make_figures():
    r = quadratic.update(2, 2, "planted", **FAST)
    assert isinstance(quadratic.draw(r), Figure) and len(quadratic.draw(r).axes) == 2
    fig = quadratic.static_view(2, widths=(1, 2), **FAST)
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    fig = Figure()
    ax1, ax2 = fig.subplots(1, 2)
    quadratic.plot_sweep(quadratic.sweep(2, (1, 2), "random", **FAST), ax1, ax2)
    assert len(ax1.lines) >= 3


def test_default_widths_surround_n_and_end_at_3n():
    assert quadratic.default_widths(4) == (2, 3, 4, 6, 9, 12)
    assert quadratic.default_widths(2, M=5) == (1, 2, 3, 5, 6)


def test_build_precomputes_a_figure_for_every_target_and_width():
    box = quadratic.build(M=2, N=2, widths=(1, 2), **FAST)
    (title, dropdown, m_slider), grid = box.children[0].children, box.children[1]
    assert isinstance(m_slider, w.SelectionSlider) and list(m_slider.options) == [1, 2]
    assert m_slider.value == 2 and "N = 2" in title.value
    assert box.children[0].layout.flex_flow == "row wrap"
    assert len(grid.children) == len(quadratic.TARGETS)
    for target, page in zip(quadratic.TARGETS, grid.children):
        for M, out in zip((1, 2), page.children):
            text = out.outputs[0]["data"]["text/plain"]
            assert text == quadratic.update(M, 2, target, **FAST).message
            assert out.outputs[0]["data"]["image/png"]
    with pytest.raises(ValueError):
        quadratic.build(M=2, N=2, widths=(1, 7), **FAST)
