"""Build the student edition of the book: no solutions anywhere, exercises as stubs.

The instructor sources (``book/*.ipynb`` and the pages ``book/*.md``) carry the solutions.
Following the chapters' conventions (README.md, the exercise rules of the team guide), the
student edition

* drops every ```` ```{solution} ````, ``~~~{solution}`` and ``:::{solution}`` directive
  (any case; the markdown cell holding it too when the directive was all it held), every
  cell tagged ``solution``, and every raw cell tagged so;
* replaces, in code cells, the lines between ``### BEGIN SOLUTION`` and
  ``### END SOLUTION`` (markers included) by one ``raise NotImplementedError(...)`` line at
  the indentation of the BEGIN marker, the way nbgrader does, and deletes nbgrader's
  ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` blocks;
* gives every markdown cell marked ``nbgrader.solution`` nbgrader's text stub
  ``YOUR ANSWER HERE`` (its metadata and tags are kept);
* keeps the check cells, clears outputs, execution counts and stored widget state.

It **fails closed**: any other text that mentions a solution marker or directive in a
spelling some tool accepts (``#### BEGIN SOLUTION``, ``### BEGIN SOLUTION (part a)``, an
inline ``x = 1  ### BEGIN SOLUTION``, ``# begin solution``, ``{solution-start}``,
``.. solution::``, a directive inside a block quote, ...) raises ``ValueError`` naming the
file, the cell and the line, and so stops the build. Every page copied into the student
tree is treated the same way. After the HTML build the whole output tree (pages, search
index, ``_sources``, notebooks, ``jupyter_execute``) is scanned for the distinctive lines of
every instructor solution (:func:`solution_fragments`); a hit fails the build. The rules for
what a solution is, and the scan, live in ``tools/solution_text.py``.

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
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tools/ is not a package
from solution_text import (  # noqa: E402  (re-exported: student.BEGIN_MARKER etc.)
    _PAGE_SUFFIXES, BEGIN_HIDDEN, BEGIN_MARKER, END_HIDDEN, END_MARKER, MIN_FRAGMENT, STUB_LINE,
    TEXT_STUB, SOLUTION_TAG, _is_solution_cell, _refuse_mentions, book_secrets, instructor_sources,
    remove_solution_directives, scan_for_leaks, solution_fragments, stub_solution_code)

_TOP_FILES = ("_config.yml", "_toc.yml", "references.bib")
_DATA_SUFFIXES = {".bib", ".yml", ".yaml", ".json", ".css", ".js", ".csv"}  # never parsed as MyST
__all__ = ["BEGIN_HIDDEN", "BEGIN_MARKER", "END_HIDDEN", "END_MARKER", "MIN_FRAGMENT", "STUB_LINE",
           "TEXT_STUB", "SOLUTION_TAG", "StudentEdition", "book_secrets", "build_student_edition",
           "instructor_sources", "remove_solution_directives", "scan_for_leaks",
           "solution_fragments", "student_notebook", "student_page", "stub_solution_code",
           "write_student_notebooks", "main"]


@dataclass(frozen=True)
class StudentEdition:
    """Where the student edition was written and how its HTML build went.

    ``returncode`` is the exit status of ``jupyter-book build`` (``None`` when the HTML was
    not built; 1 when the build passed but the leak scan found solution text); ``log`` its
    combined output; ``leaks`` the ``(fragment, file)`` pairs the scan found; ``message`` a
    one-line summary.
    """

    notebooks: tuple[Path, ...]
    notebooks_dir: Path
    html_dir: Path | None
    executed_dir: Path | None
    returncode: int | None
    log: str
    message: str
    leaks: tuple[tuple[str, str], ...] = ()


def _drop_unused_attachments(cell) -> None:
    """Attachments (images pasted into a cell) that only a removed solution showed go too."""
    attachments = cell.get("attachments")
    if attachments:
        cell["attachments"] = {k: v for k, v in attachments.items() if f"attachment:{k}" in cell.source}
        if not cell["attachments"]:
            del cell["attachments"]


def _student_cell(cell):
    """The student version of one cell (a copy), or ``None`` to drop it."""
    solution = _is_solution_cell(cell)
    if cell.cell_type == "markdown":
        if cell.metadata.get("nbgrader", {}).get("solution", False):
            cell.source = TEXT_STUB  # nbgrader's written-answer cell: keep it (and its metadata), empty it
            return cell
        if solution:
            return None
        cell.source = remove_solution_directives(cell.source)
        _drop_unused_attachments(cell)
        return cell if cell.source.strip() else None
    if cell.cell_type == "code":
        if solution and BEGIN_MARKER not in {line.strip() for line in cell.source.splitlines()}:
            raise ValueError(f"marked as a solution but has no {BEGIN_MARKER!r} line: "
                             "mark the lines that give the answer away")
        cell.source = stub_solution_code(cell.source)
        cell.outputs = []
        cell.execution_count = None
        return cell
    if solution:  # raw (or unknown) cells: drop a solution, strip directives from the rest
        return None
    for number, line in enumerate(cell.source.splitlines(), start=1):
        _refuse_mentions(line, number, directives=False)
    cell.source = remove_solution_directives(cell.source)
    return cell if cell.source.strip() else None


def student_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Return the student version of an instructor notebook (the input is not modified).

    Raises ``ValueError`` naming the cell (and line) when a solution is marked in a way the
    student edition cannot hide: unmatched or misspelt markers, gated or nested directives,
    a solution-marked code cell without markers.
    """
    nb = copy.deepcopy(nb)
    cells = []
    for index, cell in enumerate(nb.cells):
        try:
            kept = _student_cell(cell)
        except ValueError as error:
            raise ValueError(f"cell {index} ({cell.cell_type}): {error}") from None
        if kept is not None:
            cells.append(kept)
    nb.cells = cells
    nb.metadata.pop("widgets", None)
    return nb


def student_page(text: str) -> str:
    """The student version of a MyST page: solution directives removed, mentions refused."""
    stripped = remove_solution_directives(text)
    return stripped + "\n" if stripped else ""


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


def _student_text_file(path: Path, shown: Path) -> None:
    """Make a copied page safe in place: pages are stripped, other text files checked."""
    try:
        text = path.read_text()
    except (UnicodeDecodeError, ValueError):
        return  # binary (an image): no MyST parser reads it
    if path.suffix.lower() in _DATA_SUFFIXES:
        return
    try:
        if path.suffix.lower() in _PAGE_SUFFIXES:
            path.write_text(student_page(text))
        else:
            for number, line in enumerate(text.splitlines(), start=1):
                _refuse_mentions(line, number)
    except ValueError as error:
        raise ValueError(f"{shown}: {error}") from None


def _prepare_source_tree(root: Path, src: Path, notebooks: tuple[Path, ...]) -> None:
    if src.exists():
        shutil.rmtree(src)
    ignore = shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints", "__pycache__", "_build")
    shutil.copytree(root / "book", src / "book", ignore=ignore)
    for path in sorted((src / "book").rglob("*")):
        if path.is_file():
            _student_text_file(path, root / path.relative_to(src))
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
    """Write the student notebooks and (when ``html``) build the student HTML.

    Both outputs are scanned for the solutions' distinctive lines; any hit makes the
    edition fail (``returncode`` 1, ``leaks`` listed), whatever the build said.
    """
    root, out = root.resolve(), out.resolve()
    secrets = book_secrets(root / "book")
    notebooks = write_student_notebooks(root / "book", out / "notebooks")
    if not html:
        leaks = scan_for_leaks([out / "notebooks"], secrets)
        message = (f"wrote {len(notebooks)} student notebooks to {out / 'notebooks'}" if not leaks
                   else f"FAILED: solution text in {len(leaks)} places, e.g. {leaks[0]}")
        return StudentEdition(notebooks, out / "notebooks", None, None, 1 if leaks else None, "",
                              message, leaks)
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
    trees = [t for t in (out / "notebooks", html_dir, executed_dir, src) if t is not None]
    leaks = scan_for_leaks(trees, secrets)
    returncode = run.returncode or (1 if leaks else 0)
    status = ("built" if returncode == 0 else
              f"FAILED (exit {run.returncode})" if run.returncode else
              f"FAILED: solution text in {len(leaks)} places, e.g. {leaks[0]}")
    message = f"student edition {status}: {len(notebooks)} notebooks, HTML in {html_dir}"
    return StudentEdition(notebooks, out / "notebooks", html_dir, executed_dir, returncode, log,
                          message, leaks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("."), help="the book's root")
    parser.add_argument("--out", type=Path, default=Path("_build/student"))
    parser.add_argument("--no-html", action="store_true", help="write notebooks only")
    args = parser.parse_args(argv)
    try:
        edition = build_student_edition(args.root, args.out, html=not args.no_html)
    except ValueError as error:  # a solution the edition cannot hide: stop, name the place
        print(f"student edition refused: {error}", file=sys.stderr)
        return 2
    if edition.returncode:
        print(edition.log[-20000:], file=sys.stderr)
    print(edition.message)
    if edition.html_dir is not None:
        print(f"open {edition.html_dir / 'index.html'}")
    return 0 if edition.returncode in (0, None) else 1


if __name__ == "__main__":
    sys.exit(main())
