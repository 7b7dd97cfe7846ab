"""One module per lecture topic: the mathematics a chapter computes, on top of the engine.

A topic may import the engine (``energy``, ``paths``, ``sublevel``, ``surfaces``) and the
models (``models``, ``data``, ``train``, ``symmetry``); the engine never imports a topic.
"""
