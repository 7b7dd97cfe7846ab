"""Chapter 5a's widget: one honest figure per width, drawn from the runs it is given."""

from types import SimpleNamespace

import numpy as np
import pytest

from lecture_lib.widgets import beta as wbeta

BETAS = {1: SimpleNamespace(upper=2.0, lower=0.1, q=1), 3: SimpleNamespace(upper=0.5, lower=0.1, q=6)}
STALLS = {1: np.array([2.0, 2.5, 3.0]), 3: np.array([0.4, 0.45, 0.9])}


def test_summary_counts_the_runs_above_the_bound():
    assert wbeta.summary(BETAS, STALLS, 1).startswith("M = 1 (q = 1): 2 of 3 runs above")
    assert "1 of 3 runs above the bound 0.5" in wbeta.summary(BETAS, STALLS, 3)


def test_render_refuses_a_width_it_has_no_runs_for():
    with pytest.raises(ValueError, match="M must be one of the widths"):
        wbeta.render(BETAS, STALLS, 2)
    with pytest.raises(ValueError, match="same widths"):
        wbeta.render(BETAS, {1: STALLS[1]}, 1)


def test_the_slider_switches_between_one_figure_per_width():
    box = wbeta.build(BETAS, STALLS)
    slider, stack = box.children[0].children[0], box.children[1]
    assert len(stack.children) == 2 and stack.selected_index == 0
    texts = [page.outputs[0]["data"]["text/plain"] for page in stack.children]
    assert texts == [wbeta.summary(BETAS, STALLS, m) for m in (1, 3)]
    assert slider.options == (1, 3)
