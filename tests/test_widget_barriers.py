"""Tests of lecture_lib.widgets.barriers: the update function and the static views, no browser."""

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from lecture_lib import paths  # noqa: E402
from lecture_lib.widgets import barriers as wb  # noqa: E402


class _Task:
    name = "ring"

    @staticmethod
    def energy(theta):  # an annulus: the straight segment through the hole leaves {E <= 0.5}
        return (theta.pow(2).sum(1) - 1.0) ** 2


def _entry():
    a, b = torch.tensor([-1.0, 0.0], dtype=torch.float64), torch.tensor([1.0, 0.0], dtype=torch.float64)
    r = paths.string_sampling(_Task.energy, a, b, 0.5, progress=False)
    return dict(task=_Task, level=0.5, a=a, b=b, result=r, curve=[(0.5, r.normalized_length)], stored=[])


def test_update_shows_length_and_beads_of_the_result():
    e = _entry()
    fig, text, result = wb.update(e)
    assert result is e["result"] and f"{result.normalized_length:.4f}" in text
    assert len(fig.axes) == 3 and fig.axes[1].get_lines()[-1].get_ydata()[0] == 0.5  # the level line


def test_rerun_changes_seed_but_stays_under_the_level():
    fig, text, result = wb.update(_entry(), rerun=True, seed=5)
    assert result.connected and result.normalized_length > 1.0


def test_plane_puts_collinear_nodes_on_the_axis():
    nodes = torch.linspace(0, 1, 5)[:, None] * torch.tensor([[1.0, 2.0, 2.0]])
    xy = wb.plane(nodes)
    assert xy[:, 1] == pytest.approx([0.0] * 5) and xy[-1, 0] == pytest.approx(3.0)


def test_widget_stacks_one_page_per_option_and_links_the_control():
    e = _entry()
    box = wb.barrier_widget({"ring, u0 = 0.5": e, "ring again": e})
    controls, stack, _ = box.children
    assert len(stack.children) == 2 and controls.layout.flex_flow == "row wrap"


def test_four_panels_and_small_multiples_draw_every_task():
    recs = [dict(task=t, level=u, connected=True, normalized_length=1.0 + u, n_beads=1)
            for t in ("cubic", "mnist") for u in (0.5, 0.2)]
    fig = wb.four_panels(recs, recs, tasks=("cubic", "mnist"))
    assert len(fig.axes) == 4
    assert len(wb.small_multiples({"a": _entry()}).axes) == 1
