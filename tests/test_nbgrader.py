"""The chapters are nbgrader assignments: conventions, release, autograde, gradebook.

The convention tests read every chapter of ``_toc.yml`` (cheap). The grading test releases
chapter 1 with ``tools/assign.py`` (``nbgrader generate_assignment``), fabricates three
submissions (every answer right; every answer wrong; every answer wrong with the check
cells edited to pass), autogrades them with ``nbgrader autograde`` (which runs the chapter
three times) and reads the exported gradebook CSV.
"""

from __future__ import annotations

import csv
import re
import sys

import nbformat
import pytest

from conftest import ROOT, chapter_notebooks

sys.path.insert(0, str(ROOT / "tools"))
import assign  # noqa: E402
import student  # noqa: E402

CHAPTERS = chapter_notebooks()
_CHECK_CALL = re.compile(r"\.assert_correct\(\)\s*$")
_GRADE_ID = re.compile(r"^ex-(\d\d)-[a-z0-9_-]+$")


def _nbgrader_cells(nb):
    return [(i, c, c.metadata["nbgrader"]) for i, c in enumerate(nb.cells)
            if "nbgrader" in c.get("metadata", {})]


def convention_problems(nb, number: str) -> list[str]:
    """Every way ``nb`` breaks the exercise conventions of README.md (empty: none)."""
    problems, seen = [], set()
    for index, cell, meta in _nbgrader_cells(nb):
        where = f"cell {index}"
        grade_id = meta.get("grade_id", "")
        if meta.get("schema_version") != 3:
            problems.append(f"{where}: nbgrader schema_version must be 3")
        match = _GRADE_ID.match(grade_id)
        if not match or match[1] != number:
            problems.append(f"{where}: grade_id {grade_id!r} is not ex-{number}-<name>-...")
        if grade_id in seen:
            problems.append(f"{where}: grade_id {grade_id!r} used twice")
        seen.add(grade_id)
        solution, grade, locked = meta.get("solution"), meta.get("grade"), meta.get("locked")
        if cell.cell_type == "code" and grade and not solution:  # a check cell
            if not locked or not meta.get("points"):
                problems.append(f"{where}: check cell {grade_id!r} must be locked with points")
            if not _CHECK_CALL.search(cell.source):
                problems.append(f"{where}: check cell {grade_id!r} must end in .assert_correct()")
        elif cell.cell_type == "code" and solution:
            if grade or locked or student.BEGIN_MARKER not in cell.source:
                problems.append(f"{where}: answer cell {grade_id!r} must be unlocked, "
                                "ungraded, with ### BEGIN/END SOLUTION markers")
        elif cell.cell_type == "markdown" and solution:
            if cell.source.strip() != "YOUR ANSWER HERE" or not meta.get("points") \
                    or not grade or "remove-cell" not in cell.metadata.get("tags", []):
                problems.append(f"{where}: manual answer cell {grade_id!r} must read YOUR "
                                "ANSWER HERE, be graded with points, tagged remove-cell")
        else:
            problems.append(f"{where}: nbgrader metadata of an unknown kind: {meta}")
    for index, cell in enumerate(nb.cells):
        marked = "nbgrader" in cell.get("metadata", {})
        if cell.cell_type == "code" and student.BEGIN_MARKER in cell.source and not marked:
            problems.append(f"cell {index}: solution code without nbgrader metadata")
        if cell.cell_type == "code" and _CHECK_CALL.search(cell.source) and not marked:
            problems.append(f"cell {index}: a check cell without nbgrader metadata")
    return problems


@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_follows_the_exercise_conventions(notebook):
    nb = nbformat.read(notebook, as_version=4)
    number = notebook.name[:2]
    problems = convention_problems(nb, number)
    assert not problems, "\n".join(problems)
    kinds = {("check" if m.get("locked") else "answer") for _, _, m in _nbgrader_cells(nb)}
    assert kinds == {"check", "answer"}, f"{notebook.name}: no graded exercise at all"


def test_grade_ids_are_unique_across_the_book():
    ids = [m["grade_id"] for nb in CHAPTERS for _, _, m in
           _nbgrader_cells(nbformat.read(nb, as_version=4))]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


def test_the_convention_check_catches_an_unlocked_check_cell():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("ch01.check_x(x).assert_correct()")
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": False,
                                 "points": 1, "grade_id": "ex-01-x-check", "schema_version": 3}
    nb.cells = [cell, nbformat.v4.new_code_cell("ch01.check_y(y).assert_correct()")]
    problems = convention_problems(nb, "01")
    assert any("must be locked" in p for p in problems)
    assert any("check cell without nbgrader metadata" in p for p in problems)


def test_assignment_ids_follow_the_chapter_number():
    assert assign.assignment_of("book/01_spurious_valleys.ipynb") == "ch01"
    with pytest.raises(ValueError, match="notebook='intro.md'"):
        assign.assignment_of("intro.md")


# ---------------------------------------------------------------- the grading round trip

def _fill(released, instructor, how: str):
    """A submission made from the released notebook: ``right``, ``wrong`` or ``tampered``."""
    nb = nbformat.from_dict(released)  # a copy
    solutions = {m["grade_id"]: c.source for _, c, m in _nbgrader_cells(instructor)}
    for _, cell, meta in _nbgrader_cells(nb):
        if cell.cell_type == "markdown" and meta.get("solution"):
            cell.source = "My proof: ..."
        elif cell.cell_type == "code" and meta.get("solution"):
            wrong = cell.source.replace(student.STUB_LINE, "return -12345.0")
            cell.source = solutions[meta["grade_id"]] if how == "right" else wrong
        elif how == "tampered" and meta.get("locked"):
            cell.source = 'print("Correct")'
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    chapter = CHAPTERS[0]
    instructor = nbformat.read(chapter, as_version=4)
    if not _nbgrader_cells(instructor):
        pytest.fail(f"{chapter.name} has no nbgrader metadata yet")
    course = tmp_path_factory.mktemp("course")
    release = assign.assign([chapter], course)
    released = nbformat.read(release.notebooks[0], as_version=4)
    submissions = course.parent / "incoming"
    for how in ("right", "wrong", "tampered"):
        (submissions / how).mkdir(parents=True)
        nbformat.write(_fill(released, instructor, how), submissions / how / chapter.name)
    book = assign.grade(submissions, course)
    return instructor, released, book


@pytest.mark.slow
def test_the_released_notebook_is_the_student_notebook(graded):
    instructor, released, _ = graded
    ours = student.student_notebook(instructor)
    assert [c.source for c in released.cells] == [c.source for c in ours.cells]
    text = nbformat.writes(released)
    assert student.BEGIN_MARKER not in text and "{solution}" not in text
    checks = [m for _, _, m in _nbgrader_cells(released) if m.get("locked")]
    assert checks and all(m.get("checksum") for m in checks), "locked cells lack checksums"


@pytest.mark.slow
def test_gradebook_gives_full_marks_zero_and_catches_the_tampered_check(graded):
    _, _, book = graded
    rows = {row["student"]: row for row in csv.DictReader(book.csv_path.open())}
    auto = [c for c in book.columns if c.endswith("-check")]
    manual = [c for c in book.columns if c.endswith("-answer")]
    assert auto, f"no autograded column in {book.columns}"
    assert set(book.columns) >= {"student", "total", "max_total", "modified_locked_cells"}
    right, wrong, tampered = rows["right"], rows["wrong"], rows["tampered"]
    full = {c: float(right[c]) for c in auto}
    assert all(v > 0 for v in full.values()), f"right answers lost points: {full}"
    assert all(float(wrong[c]) == 0 for c in auto), {c: wrong[c] for c in auto}
    assert all(float(tampered[c]) == 0 for c in auto), "an edited check cell earned points"
    assert set(tampered["modified_locked_cells"].split()) == set(auto)
    assert right["modified_locked_cells"] == wrong["modified_locked_cells"] == ""
    # written answers wait for a person: they score nothing until graded by hand
    assert set(right["needs_manual_grade"].split()) == set(manual)
    assert "checksum" in book.log and "has changed" in book.log
