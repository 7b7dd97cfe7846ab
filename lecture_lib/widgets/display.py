"""What every widget shares: figures as notebook outputs that need no kernel.

The HTML book has no kernel, so a control wired to a Python callback would move without
changing anything there. These helpers make every control honest: the figure for each
option is rendered when the chapter runs, kept in ``Output`` widgets inside
``ipywidgets.Stack``s, and the controls are ``jslink``-ed to the stacks'
``selected_index``. The widget embed manager of the HTML book and JupyterLab both run
``jslink`` in the browser, so switching needs no kernel anywhere (verified in Chromium by
``tests/test_browser.py`` and ``tests/test_live_lab.py``).

    >>> import ipywidgets as w
    >>> from matplotlib.figure import Figure
    >>> level = w.SelectionSlider(options=[0.5, 1.0, 2.0], value=1.0)
    >>> stack = precomputed_stack(level, lambda u: (Figure(figsize=(1, 1)), f"u = {u}"))
    >>> len(stack.children), stack.selected_index
    (3, 1)
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Sequence

from matplotlib.figure import Figure

#: Layout of a row of controls: it wraps on a narrow screen instead of clipping a slider.
ROW_LAYOUT = {"flex_flow": "row wrap", "align_items": "center"}


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


def option_values(control) -> list:
    """The values of a selection widget's options (``(label, value)`` pairs or plain)."""
    return [o[1] if isinstance(o, tuple) else o for o in control.options]


def figure_output(fig: Figure, text: str, dpi: int = 80):
    """An ``ipywidgets.Output`` holding ``fig`` as a PNG (the figure is closed)."""
    import ipywidgets as w
    import matplotlib.pyplot as plt

    out = w.Output()
    out.outputs = (png_output(fig, text, dpi=dpi),)
    plt.close(fig)
    return out


def linked_stack(control, pages: Sequence):
    """``ipywidgets.Stack(pages)`` whose ``selected_index`` follows ``control.index``."""
    import ipywidgets as w

    if len(pages) != len(control.options):
        raise ValueError(f"pages has {len(pages)} entries, control has "
                         f"{len(control.options)} options")
    stack = w.Stack(list(pages), selected_index=control.index or 0)
    w.jslink((control, "index"), (stack, "selected_index"))
    return stack


def precomputed_stack(control, render: Callable, dpi: int = 80):
    """One figure per option of ``control``, switched in the browser with no kernel.

    ``control`` is a selection widget with an ``index`` trait (``SelectionSlider``,
    ``Dropdown``, ``ToggleButtons``); ``render(value)`` returns ``(fig, text)`` for one of
    its options. Returns an ``ipywidgets.Stack`` of ``Output`` widgets, one per option,
    whose ``selected_index`` is ``jslink``-ed to ``control.index``: the widget embed manager
    runs the link client-side, so in the HTML book moving the control changes the figure
    without a kernel (the controls do not lie), and in Jupyter it works the same.
    """
    return precomputed_grid([control], lambda value: render(value), dpi=dpi)


def precomputed_grid(controls: Sequence, render: Callable, dpi: int = 80):
    """A figure for every combination of options of ``controls``, switched with no kernel.

    ``render(*values)`` returns ``(fig, text)`` for one value of each control. Builds
    nested ``Stack``s, the first control choosing among the outermost; each control is
    ``jslink``-ed to every stack of its level, so all the controls can sit in one row
    above the figure. It renders ``prod(len(c.options))`` figures: keep that small.
    """
    controls = list(controls)
    if not controls:
        raise ValueError("controls must hold at least one selection widget")

    def level(k: int, chosen: tuple):
        control = controls[k]
        if k == len(controls) - 1:
            pages = [figure_output(*render(*chosen, v), dpi=dpi) for v in option_values(control)]
        else:
            pages = [level(k + 1, (*chosen, v)) for v in option_values(control)]
        return linked_stack(control, pages)

    return level(0, ())


def control_row(*controls):
    """An ``HBox`` of controls that wraps on a narrow screen (no clipped slider)."""
    import ipywidgets as w

    return w.HBox(list(controls), layout=w.Layout(**ROW_LAYOUT))


def busy_note(text: str = "computing…"):
    """A small label a slow widget shows while it computes (hidden when idle)."""
    import ipywidgets as w

    return w.HTML(f"<i>{text}</i>", layout=w.Layout(visibility="hidden"))
