"""Shared fixtures for the book tests.

Offers (for any test file):

* ``ROOT`` (the repository root) and ``toc_files()`` / ``chapter_notebooks()`` (the
  ``_toc.yml`` entries, and those that are notebooks, as ``Path``s under ``ROOT``);
* ``one_thread`` (module scope): torch on one CPU thread for the module's tests
  (``lecture_lib.runtime.one_thread``: the course's small models run faster that way);
* ``book_build`` (session scope): builds the book ONCE per pytest run with
  ``jupyter-book build . -W -n --keep-going --all`` into a fresh ``_build/html``; returns a
  ``BookBuild``; the browser and student tests reuse it. The build log is kept in
  ``_build/book_build.log`` and the notebook execution times in ``_build/exec_times.txt``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"
_SPHINX_PROBLEM = re.compile(r"(WARNING|ERROR|CRITICAL): ")
_EXECUTED = re.compile(r"(\S+\.ipynb): Executed notebook in ([0-9.]+) seconds")


def _entries(node: dict) -> list[str]:
    files = [node["file"]] if "file" in node else []
    for key in ("chapters", "sections", "parts"):
        for child in node.get(key, []):
            files.extend(_entries(child))
    return files


def toc_files() -> list[str]:
    """The documents of ``_toc.yml`` in reading order, without suffix (``book/intro``)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [toc["root"], *_entries(toc)]


def chapter_notebooks() -> list[Path]:
    """The ``.ipynb`` chapters listed in ``_toc.yml``."""
    paths = [ROOT / f"{name}.ipynb" for name in toc_files()]
    return [path for path in paths if path.exists()]


@dataclass(frozen=True)
class BookBuild:
    """Outcome of one ``jupyter-book build`` of the whole book.

    ``problems`` holds the warning/error lines of the log; ``exec_seconds`` maps each
    executed notebook to its execution time.
    """

    returncode: int
    log: str
    html_dir: Path
    executed_dir: Path
    problems: tuple[str, ...]
    exec_seconds: dict[str, float]
    message: str


def sphinx_problems(log: str) -> tuple[str, ...]:
    """Warning and error lines of a Sphinx log (not the kernel's own ``WARNING |`` lines)."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", log)
    return tuple(line for line in plain.splitlines() if _SPHINX_PROBLEM.search(line))


def run_jupyter_book(source: Path, *extra: str) -> subprocess.CompletedProcess:
    """Run the venv's ``jupyter-book build SOURCE -W -n --keep-going --all EXTRA...``."""
    exe = Path(sys.executable).with_name("jupyter-book")
    command = [str(exe), "build", str(source), "-W", "-n", "--keep-going", "--all", *extra]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True)


@pytest.fixture(scope="session")
def book_build() -> BookBuild:
    for stale in ("html", "jupyter_execute", ".doctrees"):  # so no old page passes a test
        shutil.rmtree(BUILD / stale, ignore_errors=True)
    run = run_jupyter_book(ROOT)
    log = run.stdout + run.stderr
    BUILD.mkdir(exist_ok=True)
    (BUILD / "book_build.log").write_text(log)
    exec_seconds = {Path(p).name: float(s) for p, s in _EXECUTED.findall(log)}
    table = "".join(f"{name}\t{sec:.1f} s\n" for name, sec in exec_seconds.items())
    (BUILD / "exec_times.txt").write_text(table)
    problems = sphinx_problems(log)
    message = f"jupyter-book exit {run.returncode}, {len(problems)} warnings/errors"
    return BookBuild(
        run.returncode,
        log,
        BUILD / "html",
        BUILD / "jupyter_execute",
        problems,
        exec_seconds,
        message,
    )


@pytest.fixture(scope="module")
def one_thread():
    """Run the tests of a module on one torch thread (``lecture_lib.runtime.one_thread``)."""
    from lecture_lib.runtime import one_thread as block

    with block():
        yield
