"""Widgets of the course: each module holds a plain `update` function (tested without a browser), a static view for the HTML, and a `build` that wires ipywidgets to them."""
