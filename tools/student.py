"""Build the student edition of the book: no solutions anywhere, exercises as stubs.

The instructor sources (``book/*.ipynb``) carry the solutions. Following the chapters'
conventions (see README.md), the student edition

* drops every ```` ```{solution} ```` directive (and the markdown cell holding it, when the
  directive was all it held) and every markdown cell tagged ``solution``;
* replaces, in code cells, the lines between ``### BEGIN SOLUTION`` and
  ``### END SOLUTION`` (markers included) by one ``raise NotImplementedError(...)`` line at
  the indentation of the BEGIN marker, the way nbgrader does;
* keeps the check cells, clears outputs, execution counts and stored widget state.

It writes the student notebooks to ``<out>/notebooks`` and builds the student HTML in
``<out>/html`` from a copy of the book tree (``<out>/src``) whose ``_config.yml`` allows
errors: a cell that calls a stub raises ``NotImplementedError`` and the page shows it, while
a checker catches the error itself and prints a hint. The executed student notebooks are
kept in ``<out>/jupyter_execute`` for the tests.

Usage: ``python tools/student.py [--root .] [--out _build/student] [--no-html]``.
"""

from __future__ import annotations

import argparse
import copy
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import yaml

BEGIN_MARKER = "### BEGIN SOLUTION"
END_MARKER = "### END SOLUTION"
STUB_LINE = 'raise NotImplementedError("Exercise: replace this line with your solution")'
SOLUTION_TAG = "solution"
# Opening fence of a solution directive: ```{solution} label  or  :::{solution} label
_OPEN_FENCE = re.compile(r"^\s*(?P<fence>`{3,}|:{3,})\{(?P<name>solution(?:-start|-end)?)\}")
_TOP_FILES = ("_config.yml", "_toc.yml", "references.bib")


@dataclass(frozen=True)
class StudentEdition:
    """Where the student edition was written and how its HTML build went.

    ``returncode`` is the exit status of ``jupyter-book build`` (``None`` when the HTML was
    not built); ``log`` its combined output; ``message`` a one-line summary.
    """

    notebooks: tuple[Path, ...]
    notebooks_dir: Path
    html_dir: Path | None
    executed_dir: Path | None
    returncode: int | None
    log: str
    message: str


def stub_solution_code(source: str) -> str:
    """Replace each ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` block by a stub line.

    The stub ``raise NotImplementedError(...)`` takes the indentation of the BEGIN marker,
    so a block inside a function body stays inside it.

    >>> stub_solution_code("def f():\\n    ### BEGIN SOLUTION\\n    return 1\\n    ### END SOLUTION")
    'def f():\\n    raise NotImplementedError("Exercise: replace this line with your solution")'
    """
    out: list[str] = []
    indent: str | None = None
    for number, line in enumerate(source.splitlines(), start=1):
        stripped = line.strip()
        if stripped == BEGIN_MARKER:
            if indent is not None:
                raise ValueError(f"line {number}: nested {BEGIN_MARKER!r} inside another block")
            indent = line[: len(line) - len(line.lstrip())]
        elif stripped == END_MARKER:
            if indent is None:
                raise ValueError(f"line {number}: {END_MARKER!r} without a {BEGIN_MARKER!r}")
            out.append(indent + STUB_LINE)
            indent = None
        elif indent is None:
            out.append(line)
    if indent is not None:
        raise ValueError(f"{BEGIN_MARKER!r} without a matching {END_MARKER!r}")
    return "\n".join(out)


def remove_solution_directives(source: str) -> str:
    """Remove every ```` ```{solution} ```` / ``:::{solution}`` block from MyST markdown.

    A block ends at a line holding only the fence character repeated at least as often as
    the opening fence (the CommonMark rule), so fenced code inside a solution stays inside.
    The gated ``{solution-start}`` / ``{solution-end}`` form spans cells and is refused.
    """
    out: list[str] = []
    closing: tuple[str, int] | None = None
    for number, line in enumerate(source.splitlines(), start=1):
        if closing is not None:
            char, count = closing
            stripped = line.strip()
            if len(stripped) >= count and set(stripped) == {char}:
                closing = None
            continue
        match = _OPEN_FENCE.match(line)
        if match is None:
            out.append(line)
            continue
        if match["name"] != "solution":
            raise ValueError(
                f"line {number}: the gated {{{match['name']}}} form is not supported; "
                "write the solution as one plain {solution} directive in its own cell"
            )
        fence = match["fence"]
        closing = (fence[0], len(fence))
    if closing is not None:
        raise ValueError("a {solution} directive is not closed")
    return "\n".join(out).strip("\n")


def _tags(cell) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def student_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Return the student version of an instructor notebook (the input is not modified).

    Raises ``ValueError`` naming the cell when a solution is marked in a way the student
    edition cannot hide (unmatched markers, gated directives, a solution-tagged code cell
    without markers).
    """
    nb = copy.deepcopy(nb)
    cells = []
    for index, cell in enumerate(nb.cells):
        where = f"cell {index} ({cell.cell_type})"
        try:
            if cell.cell_type == "markdown":
                if SOLUTION_TAG in _tags(cell):
                    continue
                cell.source = remove_solution_directives(cell.source)
                if not cell.source.strip():
                    continue
            elif cell.cell_type == "code":
                has_markers = BEGIN_MARKER in cell.source
                if SOLUTION_TAG in _tags(cell) and not has_markers:
                    raise ValueError(
                        f"tagged {SOLUTION_TAG!r} but has no {BEGIN_MARKER!r} markers: "
                        "mark the lines that give the answer away"
                    )
                cell.source = stub_solution_code(cell.source)
                cell.outputs = []
                cell.execution_count = None
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
        cells.append(cell)
    nb.cells = cells
    nb.metadata.pop("widgets", None)
    return nb


def write_student_notebooks(book_dir: Path, out_dir: Path) -> tuple[Path, ...]:
    """Write the student version of every ``book_dir/*.ipynb`` to ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(book_dir.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        try:
            student = student_notebook(nb)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
        target = out_dir / path.name
        nbformat.write(student, target)
        written.append(target)
    return tuple(written)


def student_config(config_text: str) -> str:
    """The student ``_config.yml``: errors allowed, solutions hidden, title marked."""
    config = yaml.safe_load(config_text)
    config["title"] = f"{config.get('title', 'Book')} (student edition)"
    execute = config.setdefault("execute", {})
    execute["allow_errors"] = True
    execute["raise_on_error"] = False
    sphinx_config = config.setdefault("sphinx", {}).setdefault("config", {}) or {}
    sphinx_config["hide_solutions"] = True
    config["sphinx"]["config"] = sphinx_config
    return yaml.safe_dump(config, sort_keys=False)


def _prepare_source_tree(root: Path, src: Path, notebooks: tuple[Path, ...]) -> None:
    if src.exists():
        shutil.rmtree(src)
    ignore = shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints", "__pycache__", "_build")
    shutil.copytree(root / "book", src / "book", ignore=ignore)
    for path in notebooks:
        shutil.copy2(path, src / "book" / path.name)
    if (root / "_static").is_dir():
        shutil.copytree(root / "_static", src / "_static")
    for name in _TOP_FILES:
        shutil.copy2(root / name, src / name)
    (src / "_config.yml").write_text(student_config((root / "_config.yml").read_text()))


def _replace(source: Path, target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    shutil.move(str(source), str(target))


def build_student_edition(root: Path, out: Path, html: bool = True) -> StudentEdition:
    """Write the student notebooks and (when ``html``) build the student HTML."""
    root, out = root.resolve(), out.resolve()
    notebooks = write_student_notebooks(root / "book", out / "notebooks")
    if not html:
        message = f"wrote {len(notebooks)} student notebooks to {out / 'notebooks'}"
        return StudentEdition(notebooks, out / "notebooks", None, None, None, "", message)
    src = out / "src"
    _prepare_source_tree(root, src, notebooks)
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    command = [str(jupyter_book), "build", str(src), "--all", "-n", "--keep-going"]
    run = subprocess.run(command, cwd=root, capture_output=True, text=True)
    log = run.stdout + run.stderr
    html_dir, executed_dir = None, None
    if (src / "_build" / "html").is_dir():
        html_dir, executed_dir = out / "html", out / "jupyter_execute"
        _replace(src / "_build" / "html", html_dir)
        _replace(src / "_build" / "jupyter_execute", executed_dir)
    status = "built" if run.returncode == 0 else f"FAILED (exit {run.returncode})"
    message = f"student edition {status}: {len(notebooks)} notebooks, HTML in {html_dir}"
    return StudentEdition(
        notebooks, out / "notebooks", html_dir, executed_dir, run.returncode, log, message
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("."), help="the book's root")
    parser.add_argument("--out", type=Path, default=Path("_build/student"))
    parser.add_argument("--no-html", action="store_true", help="write notebooks only")
    args = parser.parse_args(argv)
    edition = build_student_edition(args.root, args.out, html=not args.no_html)
    if edition.returncode:
        print(edition.log, file=sys.stderr)
    print(edition.message)
    if edition.html_dir is not None:
        print(f"open {edition.html_dir / 'index.html'}")
    return 0 if edition.returncode in (0, None) else 1


if __name__ == "__main__":
    sys.exit(main())
