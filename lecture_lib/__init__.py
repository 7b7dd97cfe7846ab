"""lecture_lib: the library behind the course on optimization landscapes of deep networks.

One abstraction carries it: an *energy* maps a batch of flat parameter vectors
``theta: Tensor[B, d]`` to ``Tensor[B]``, differentiable, on the device and dtype of its
input. Data flows one way::

    data -> models -> energy -> paths / sublevel -> results -> widgets -> book

Submodules are imported explicitly (``from lecture_lib import sublevel``) so that a chapter
only pays for what it uses.
"""

__version__ = "0.1.0"
