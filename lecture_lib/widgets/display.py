"""What every widget shares: a figure as a notebook output that needs no kernel."""

from __future__ import annotations

import base64
import io

from matplotlib.figure import Figure


def png_output(fig: Figure, text: str, dpi: int = 80) -> dict:
    """``fig`` as a ``display_data`` output (PNG plus a text fallback).

    Widgets put it into ``ipywidgets.Output.outputs`` directly, which works with or
    without a kernel and is kept in the notebook's embedded widget state, so the HTML
    book shows a widget's figure without one.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    data = {"image/png": base64.b64encode(buf.getvalue()).decode("ascii"), "text/plain": text}
    return {"output_type": "display_data", "data": data, "metadata": {}}


def precomputed_stack(control, render, dpi: int = 80):
    """One figure per option of ``control``, switched in the browser with no kernel.

    ``control`` is a selection widget with an ``index`` trait (``SelectionSlider``,
    ``Dropdown``, ``ToggleButtons``); ``render(value)`` returns ``(fig, text)`` for one of
    its options. Returns an ``ipywidgets.Stack`` of ``Output`` widgets, one per option,
    whose ``selected_index`` is ``jslink``-ed to ``control.index``: the widget embed manager
    runs the link client-side, so in the HTML book moving the control changes the figure
    without a kernel (the controls do not lie), and in Jupyter it works the same.
    """
    import ipywidgets as w
    import matplotlib.pyplot as plt

    pages = []
    for value in control.options:
        value = value[1] if isinstance(value, tuple) else value
        fig, text = render(value)
        out = w.Output()
        out.outputs = (png_output(fig, text, dpi=dpi),)
        plt.close(fig)
        pages.append(out)
    stack = w.Stack(pages, selected_index=control.index or 0)
    w.jslink((control, "index"), (stack, "selected_index"))
    return stack
