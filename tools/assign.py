"""Assign the chapters with nbgrader and grade the submissions.

One source of truth for stripping: a released notebook IS the student notebook that
``tools/student.py`` writes (``student.student_notebook``), plus nbgrader's metadata.
``assign`` runs ``nbgrader generate_assignment`` on the instructor notebook (that records
the graded cells, their points and the checksums of the locked check cells in the
gradebook), then replaces nbgrader's release by the student notebook, copying nbgrader's
cell metadata over grade_id by grade_id. Both strippers use the same stub line (see
``nbgrader_config.py``); a graded cell whose source differs between the two stops the
release (fail closed).

``grade`` copies each submission into the course folder, runs ``nbgrader autograde``
(which executes the notebook after putting every locked cell back as released: a check
cell edited to pass is graded as the original) and writes a CSV with one column per
graded cell (exercise), the total, and the locked cells a student modified.

One assignment per chapter: ``book/01_spurious_valleys.ipynb`` is assignment ``ch01``.
The course folder is ``_build/nbgrader`` (``NBGRADER_COURSE`` overrides it)::

    python tools/assign.py assign [CHAPTER.ipynb ...]      # make assign
    python tools/assign.py grade SUBMISSIONS               # make grade SUBMISSIONS=dir

``SUBMISSIONS`` holds ``<student>/<chapter>.ipynb`` (or nbgrader's
``<student>/<assignment>/<chapter>.ipynb``).
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import student  # noqa: E402  (tools/student.py: the student edition)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_COURSE = ROOT / "_build" / "nbgrader"
_CHAPTER = re.compile(r"^(\d\d)_\w+\.ipynb$")
_NBGRADER_KEYS = ("nbgrader", "deletable", "editable")


@dataclass(frozen=True)
class Release:
    """Released notebooks (``release/<assignment>/<chapter>.ipynb``) and the log."""

    notebooks: tuple[Path, ...]
    log: str
    message: str


@dataclass(frozen=True)
class Gradebook:
    """The graded submissions: ``rows`` (one dict per student, as in the CSV)."""

    csv_path: Path
    columns: tuple[str, ...]
    rows: tuple[dict, ...]
    log: str
    message: str


def assignment_of(notebook: Path | str) -> str:
    """The assignment id of a chapter notebook: ``01_spurious_valleys.ipynb`` -> ``ch01``."""
    match = _CHAPTER.match(Path(notebook).name)
    if match is None:
        raise ValueError(f"notebook={str(notebook)!r}: expected a chapter named NN_topic.ipynb")
    return f"ch{match[1]}"


def _venv_on_path() -> None:
    """nbgrader runs ``alembic`` (its database migrations) from ``PATH``: put the venv's
    ``bin`` first, so that works without an activated venv."""
    bin_dir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def _nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    _venv_on_path()
    exe = Path(sys.executable).with_name("nbgrader")
    env = {**os.environ, "NBGRADER_COURSE": str(course)}
    return subprocess.run([str(exe), *args], cwd=ROOT, env=env, capture_output=True, text=True)


def _graded(nb) -> dict[str, nbformat.NotebookNode]:
    cells = {}
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id is not None:
            if grade_id in cells:
                raise ValueError(f"grade_id {grade_id!r} is used by two cells")
            cells[grade_id] = cell
    return cells


def released_notebook(instructor, nbgrader_release):
    """The student notebook of ``instructor`` carrying nbgrader's metadata (checksums).

    Raises ``ValueError`` when the two editions disagree on the graded cells.
    """
    released = student.student_notebook(instructor)
    theirs = _graded(nbgrader_release)
    ours = _graded(released)
    if set(ours) != set(theirs):
        raise ValueError(f"graded cells differ: student.py has {sorted(ours)}, "
                         f"nbgrader has {sorted(theirs)}")
    for grade_id, cell in ours.items():
        if cell.source.strip() != theirs[grade_id].source.strip():
            raise ValueError(f"cell {grade_id!r}: tools/student.py and nbgrader strip it "
                             "differently; fix the markers")
        cell.source = theirs[grade_id].source
        for key in _NBGRADER_KEYS:
            if key in theirs[grade_id].metadata:
                cell.metadata[key] = theirs[grade_id].metadata[key]
    return released


def assign(chapters, course: Path = DEFAULT_COURSE) -> Release:
    """Release each chapter notebook in ``chapters`` as an nbgrader assignment."""
    course = Path(course).resolve()
    written, logs = [], []
    for path in map(Path, chapters):
        aid = assignment_of(path)
        source = course / "source" / aid / path.name
        source.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, source)
        run = _nbgrader(course, "generate_assignment", aid, "--force")
        logs.append(run.stdout + run.stderr)
        target = course / "release" / aid / path.name
        if run.returncode != 0 or not target.exists():
            raise RuntimeError(f"nbgrader generate_assignment {aid} failed:\n{logs[-1][-3000:]}")
        nb = released_notebook(nbformat.read(path, 4), nbformat.read(target, 4))
        nbformat.write(nb, target)
        written.append(target)
    message = f"released {len(written)} assignments to {course / 'release'}"
    return Release(tuple(written), "".join(logs), message)


def _submitted_files(submissions: Path) -> list[tuple[str, Path]]:
    found = []
    for student_dir in sorted(p for p in Path(submissions).iterdir() if p.is_dir()):
        for nb in sorted(student_dir.rglob("*.ipynb")):
            if ".ipynb_checkpoints" not in nb.parts:
                found.append((student_dir.name, nb))
    if not found:
        raise ValueError(f"submissions={str(submissions)!r}: no <student>/<chapter>.ipynb in it")
    return found


def modified_locked_cells(nb, gradebook, notebook: str, aid: str) -> list[str]:
    """grade_ids of the locked cells of ``nb`` whose checksum differs from the release."""
    from nbgrader.utils import compute_checksum

    cells = _graded(nb)
    changed = []
    for source in gradebook.find_notebook(notebook, aid).source_cells:
        if not source.locked:
            continue
        cell = cells.get(source.name)
        if cell is None or compute_checksum(cell) != source.checksum:
            changed.append(source.name)
    return changed


def grade(submissions: Path, course: Path = DEFAULT_COURSE, csv_path: Path | None = None) -> Gradebook:
    """Autograde every submission and export the gradebook CSV (one column per exercise)."""
    from nbgrader.api import Gradebook as NbGradebook

    _venv_on_path()
    course = Path(course).resolve()
    csv_path = Path(csv_path or course / "grades.csv")
    db_url = f"sqlite:///{course / 'gradebook.db'}"
    tampered: dict[str, list[str]] = {}
    assignments: set[str] = set()
    with NbGradebook(db_url) as gb:
        for name, path in _submitted_files(submissions):
            aid = assignment_of(path)
            assignments.add(aid)
            target = course / "submitted" / name / aid / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            nb = nbformat.read(target, 4)
            tampered.setdefault(name, []).extend(modified_locked_cells(nb, gb, path.stem, aid))
    logs = []
    for aid in sorted(assignments):
        run = _nbgrader(course, "autograde", aid, "--force")
        logs.append(run.stdout + run.stderr)
        if run.returncode != 0:
            raise RuntimeError(f"nbgrader autograde {aid} failed:\n{logs[-1][-3000:]}")
    columns, rows = _export(db_url, sorted(assignments), tampered)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    message = f"graded {len(rows)} students on {sorted(assignments)}; gradebook in {csv_path}"
    return Gradebook(csv_path, tuple(columns), tuple(rows), "".join(logs), message)


def _export(db_url: str, assignments: list[str], tampered: dict[str, list[str]]):
    from nbgrader.api import Gradebook as NbGradebook

    with NbGradebook(db_url) as gb:
        cells = [(aid, nb.name, cell.name, cell.max_score)
                 for aid in assignments for nb in gb.find_assignment(aid).notebooks
                 for cell in nb.grade_cells]
        columns = ["student", *(name for *_, name, _ in cells), "total", "max_total",
                   "needs_manual_grade", "modified_locked_cells"]
        rows = []
        for name in sorted(tampered):
            row, manual = {"student": name}, []
            for aid, notebook, cell, _ in cells:
                grade_row = gb.find_grade(cell, notebook, aid, name)
                row[cell] = grade_row.score
                if grade_row.needs_manual_grade:
                    manual.append(cell)
            row["total"] = sum(row[cell] for *_, cell, _ in cells)
            row["max_total"] = sum(points for *_, points in cells)
            row["needs_manual_grade"] = " ".join(manual)
            row["modified_locked_cells"] = " ".join(tampered[name])
            rows.append(row)
    return columns, rows


def _chapters(names: list[str]) -> list[Path]:
    if names:
        return [Path(n) for n in names]
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import chapter_notebooks  # the chapters listed in _toc.yml

    return chapter_notebooks()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--course", type=Path, default=Path(os.environ.get(
        "NBGRADER_COURSE", DEFAULT_COURSE)), help="nbgrader course folder")
    sub = parser.add_subparsers(dest="command", required=True)
    p_assign = sub.add_parser("assign", help="release chapters (default: every chapter in _toc.yml)")
    p_assign.add_argument("chapters", nargs="*")
    p_grade = sub.add_parser("grade", help="autograde SUBMISSIONS/<student>/<chapter>.ipynb")
    p_grade.add_argument("submissions", type=Path)
    p_grade.add_argument("--csv", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.command == "assign":
        print(assign(_chapters(args.chapters), args.course).message)
    else:
        print(grade(args.submissions, args.course, args.csv).message)
    return 0


if __name__ == "__main__":
    sys.exit(main())
