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
