"""The student edition hides every solution and keeps every exercise runnable."""

from __future__ import annotations

import html as html_lib
import json
import re
import sys
import zlib
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup

from conftest import BUILD, ROOT, chapter_notebooks, sphinx_problems

sys.path.insert(0, str(ROOT / "tools"))
import student  # noqa: E402  (tools/student.py)

MIN_FRAGMENT = 20  # characters; shorter lines ("return x") occur everywhere
_MARKUP = re.compile(r"[$`*{}\\\[\]|]")
_FENCE = re.compile(r"^\s*(`{3,}|:{3,})")


# ---------------------------------------------------------------- unit: the transformation
def _nb(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    return nb


def test_markers_become_a_stub_at_the_marker_indentation():
    source = ("def f(x):\n    y = 2 * x\n    ### BEGIN SOLUTION\n    z = y + 1\n"
              "    return z\n    ### END SOLUTION\n\nprint('after')")
    stubbed = student.stub_solution_code(source)
    assert stubbed.splitlines() == ["def f(x):", "    y = 2 * x",
                                    "    " + student.STUB_LINE, "", "print('after')"]
    namespace = {}
    exec(stubbed.replace("print('after')", ""), namespace)
    with pytest.raises(NotImplementedError, match="Exercise"):
        namespace["f"](1)


@pytest.mark.parametrize("source, problem", [
    ("### BEGIN SOLUTION\nx = 1", "without a matching"),
    ("x = 1\n### END SOLUTION", "without a"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "nested"),
])
def test_unbalanced_markers_are_refused(source, problem):
    with pytest.raises(ValueError, match=problem):
        student.stub_solution_code(source)


def test_solution_cells_are_dropped_and_others_kept():
    exercise = nbformat.v4.new_markdown_cell("```{exercise} E\n:label: ex-09-e\n\nDo it.\n```")
    solution = nbformat.v4.new_markdown_cell(
        "```{solution} ex-09-e\n:label: sol-09-e\n:class: dropdown\n\nThe answer is 42.\n```")
    tagged = nbformat.v4.new_markdown_cell("Hint with the answer", metadata={"tags": ["solution"]})
    mixed = nbformat.v4.new_markdown_cell(
        "Before.\n\n````{solution} ex-09-e\n```python\nsecret()\n```\n````\n\nAfter.")
    code = nbformat.v4.new_code_cell("def g():\n    ### BEGIN SOLUTION\n    return 42\n"
                                     "    ### END SOLUTION", metadata={"tags": ["solution"]})
    code.outputs = [nbformat.v4.new_output("stream", text="42")]
    check = nbformat.v4.new_code_cell("check(g)")
    nb = _nb(exercise, solution, tagged, mixed, code, check)
    nb.metadata["widgets"] = {"state": 1}
    out = student.student_notebook(nb)
    assert [c.source for c in out.cells] == [
        exercise.source, "Before.\n\n\nAfter.",
        "def g():\n    " + student.STUB_LINE, "check(g)"]
    assert out.cells[2].outputs == [] and "widgets" not in out.metadata
    assert len(nb.cells) == 6 and code.outputs, "the instructor notebook was modified"


@pytest.mark.parametrize("cell, problem", [
    (nbformat.v4.new_markdown_cell("```{solution-start} ex-09-e\n```"), "gated"),
    (nbformat.v4.new_markdown_cell("```{solution} ex-09-e\nopen"), "not closed"),
    (nbformat.v4.new_code_cell("x = 42", metadata={"tags": ["solution"]}), "no '### BEGIN"),
])
def test_solutions_that_cannot_be_hidden_are_refused(cell, problem):
    with pytest.raises(ValueError, match=problem) as error:
        student.student_notebook(_nb(cell))
    assert "cell 0" in str(error.value)


# ------------------------------------------------------------ integration: the real chapters
def _solution_fragments(notebook: Path) -> set[str]:
    """Text runs of >= MIN_FRAGMENT characters that only the solutions contain."""
    nb = nbformat.read(notebook, as_version=4)
    secret, public = [], []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            hidden = "solution" in cell.metadata.get("tags", []) or "{solution}" in cell.source
            lines = [line for line in cell.source.splitlines() if not _FENCE.match(line)
                     and not line.strip().startswith(":")]
            (secret if hidden else public).extend(lines)
        elif cell.cell_type == "code":
            inside = False
            for line in cell.source.splitlines():
                if line.strip() in (student.BEGIN_MARKER, student.END_MARKER):
                    inside = line.strip() == student.BEGIN_MARKER
                    continue
                (secret if inside else public).append(line)
    public_text = "\n".join(public)
    fragments = set()
    for line in secret:
        pieces = [line.strip()] if not _MARKUP.search(line) else _MARKUP.split(line)
        fragments.update(p.strip() for p in pieces if len(p.strip()) >= MIN_FRAGMENT)
    return {f for f in fragments if f not in public_text}


def _solution_labels(notebook: Path) -> set[str]:
    nb = nbformat.read(notebook, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    return set(re.findall(r":label:\s*(sol-[\w-]+)", text))


def _searchable_text(path: Path) -> str:
    if path.suffix == ".inv":  # Sphinx inventory: four header lines, then zlib
        lines = path.read_bytes().split(b"\n", 4)
        return zlib.decompress(lines[4]).decode(errors="replace")
    raw = path.read_text(errors="replace")
    if path.suffix == ".html":
        soup = BeautifulSoup(raw, "html.parser")
        raw = raw + "\n" + soup.get_text("\n")
    elif path.suffix == ".ipynb":
        nb = json.loads(raw)
        raw = raw + "\n" + "\n".join("".join(c.get("source", "")) for c in nb["cells"])
    return html_lib.unescape(raw)


def _texts(tree: Path) -> dict[str, str]:
    suffixes = {".html", ".js", ".ipynb", ".md", ".txt", ".json", ".py", ".inv"}
    return {str(p): _searchable_text(p) for p in tree.rglob("*")
            if p.is_file() and p.suffix in suffixes}


@pytest.fixture(scope="module")
def edition():
    made = student.build_student_edition(ROOT, BUILD / "student")
    assert made.returncode == 0, made.log[-4000:]
    return made


CHAPTERS = chapter_notebooks()


@pytest.mark.slow
def test_student_build_warns_only_about_removed_solutions(edition):
    """References to a removed solution may dangle; anything else is a real problem."""
    problems = [line for line in sphinx_problems(edition.log) if "sol-" not in line]
    assert not problems, "student build warnings:\n" + "\n".join(problems)


@pytest.mark.slow
def test_solution_fragments_are_found_in_the_instructor_book(book_build):
    """Guards the leak test below: the same search does find the solutions where they are."""
    assert book_build.html_dir.is_dir(), book_build.message
    texts = "\n".join(_texts(book_build.html_dir).values())
    for notebook in CHAPTERS:
        fragments = _solution_fragments(notebook)
        assert fragments, f"{notebook.name}: no solution text found (no exercises?)"
        missing = sorted(f for f in fragments if f not in texts)
        assert not missing, f"{notebook.name}: search misses solution text: {missing[:5]}"


@pytest.mark.slow
def test_no_solution_text_in_the_student_edition(edition):
    texts = _texts(edition.html_dir) | _texts(edition.notebooks_dir)
    for notebook in CHAPTERS:
        secrets = _solution_fragments(notebook) | _solution_labels(notebook)
        leaks = sorted((s, path) for s in secrets for path, text in texts.items() if s in text)
        assert not leaks, f"{notebook.name}: solution text in the student edition: {leaks[:5]}"


@pytest.mark.slow
@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_stubs_replace_markers_and_checks_remain(edition, notebook):
    instructor = nbformat.read(notebook, as_version=4)
    pupil = nbformat.read(edition.notebooks_dir / notebook.name, as_version=4)
    n_blocks = sum(c.source.count(student.BEGIN_MARKER) for c in instructor.cells
                   if c.cell_type == "code")
    stubs = sum(c.source.count(student.STUB_LINE) for c in pupil.cells)
    assert n_blocks > 0, f"{notebook.name} has no {student.BEGIN_MARKER!r} block"
    assert stubs == n_blocks
    assert not any(student.BEGIN_MARKER in c.source for c in pupil.cells)
    checks = [c.source for c in instructor.cells if c.cell_type == "code"
              and "check" in c.source and student.BEGIN_MARKER not in c.source]
    pupil_code = [c.source for c in pupil.cells]
    assert checks and all(c in pupil_code for c in checks), "a check cell went missing"
    assert all(c.get("outputs", []) == [] for c in pupil.cells if c.cell_type == "code")


@pytest.mark.slow
@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_student_notebooks_fail_only_where_a_stub_is_called(edition, notebook):
    executed = nbformat.read(edition.executed_dir / notebook.relative_to(ROOT), as_version=4)
    errors = [(i, out.get("ename"), out.get("evalue")) for i, cell in enumerate(executed.cells)
              if cell.cell_type == "code" for out in cell.get("outputs", [])
              if out.get("output_type") == "error"]
    unexpected = [e for e in errors
                  if e[1] != "NotImplementedError" or "Exercise" not in (e[2] or "")]
    assert not unexpected, f"{notebook.name}: cells failing for another reason: {unexpected}"
