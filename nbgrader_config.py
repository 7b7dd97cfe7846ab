"""nbgrader's configuration for this course (nbgrader 0.9.x reads it from the repo root).

The course folder and the gradebook live under ``_build/nbgrader`` (override with the
environment variable ``NBGRADER_COURSE``, as the tests do), so nothing is written outside
``_build/``. Solutions are stubbed with the same line as ``tools/student.py`` writes: the
released notebooks are the student notebooks (see ``tools/assign.py``).
"""

import os
import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(_ROOT / "tools"))
from student import STUB_LINE  # noqa: E402  (the one stub line of the student edition)

_COURSE = Path(os.environ.get("NBGRADER_COURSE", _ROOT / "_build" / "nbgrader")).resolve()

c = get_config()  # noqa: F821  (defined by traitlets when it loads this file)
c.CourseDirectory.root = str(_COURSE)
c.CourseDirectory.db_url = f"sqlite:///{_COURSE / 'gradebook.db'}"
c.ClearSolutions.code_stub = {"python": STUB_LINE}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
c.Execute.timeout = 600          # seconds per cell, as the book build allows
c.Execute.interrupt_on_timeout = True
