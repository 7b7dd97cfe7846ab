"""The student edition hides every solution and keeps every exercise runnable."""

from __future__ import annotations

import copy
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
    (nbformat.v4.new_markdown_cell("```{solution-start} ex-09-e\n```"), "not supported"),
    (nbformat.v4.new_markdown_cell("```{solution} ex-09-e\nopen"), "not closed"),
    (nbformat.v4.new_code_cell("x = 42", metadata={"tags": ["solution"]}), "no '### BEGIN"),
])
def test_solutions_that_cannot_be_hidden_are_refused(cell, problem):
    with pytest.raises(ValueError, match=problem) as error:
        student.student_notebook(_nb(cell))
    assert "cell 0" in str(error.value)


# --------------------------------------------- fail closed: every spelling a tool accepts
def _code(source, tags=("solution",), **metadata):
    return nbformat.v4.new_code_cell(source, metadata={"tags": list(tags), **metadata})


MISSPELT_CODE = {
    "four hashes": "def f():\n    #### BEGIN SOLUTION\n    return 42\n    #### END SOLUTION",
    "decorated marker": "def f():\n    ### BEGIN SOLUTION (part a)\n    return 42\n    ### END SOLUTION",
    "inline marker": "def f():\n    x = 42  ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION",
    "one hash": "def f():\n    # BEGIN SOLUTION\n    return 42\n    # END SOLUTION",
    "lower case": "def f():\n    ### begin solution\n    return 42\n    ### end solution",
    "underscore": "def f():\n    ### BEGIN_SOLUTION\n    return 42\n    ### END_SOLUTION",
    "two spaces": "def f():\n    ###  BEGIN  SOLUTION\n    return 42\n    ###  END  SOLUTION",
    "hidden tests misspelt": "check(f)\n# BEGIN HIDDEN TESTS\nassert f() == 42\n# END HIDDEN TESTS",
    "markdown output": 'display(Markdown("```{solution} ex-09-e\\nThe answer is 42.\\n```"))',
}


@pytest.mark.parametrize("tags", [("solution",), ()], ids=["tagged", "untagged"])
@pytest.mark.parametrize("name", sorted(MISSPELT_CODE))
def test_misspelt_solution_markers_stop_the_build_naming_the_cell(name, tags):
    cells = [nbformat.v4.new_markdown_cell("Intro."), _code(MISSPELT_CODE[name], tags)]
    with pytest.raises(ValueError, match="cell 1 \\(code\\)") as error:
        student.student_notebook(_nb(*cells))
    assert "line" in str(error.value) or "no '### BEGIN" in str(error.value)


def test_a_solution_tag_in_any_case_or_nbgrader_metadata_requires_markers():
    for cell in (_code("x = 42", tags=("Solution",)),
                 _code("x = 42", tags=(), nbgrader={"solution": True, "grade": False})):
        with pytest.raises(ValueError, match="no '### BEGIN"):
            student.student_notebook(_nb(cell))


SECRET = "The answer is forty-two, by the hidden argument."


@pytest.mark.parametrize("fence", ["```{solution} ex-09-e", "~~~{solution} ex-09-e",
                                   ":::{solution} ex-09-e", "```{Solution} ex-09-e",
                                   "``` {solution} ex-09-e", "  ````{SOLUTION} ex-09-e"])
def test_every_fence_of_a_solution_directive_is_stripped(fence):
    close = fence.strip().split("{")[0].strip()
    source = f"Before.\n\n{fence}\n:label: sol-09-e\n\n{SECRET}\n{close}\n\nAfter."
    out = student.student_notebook(_nb(nbformat.v4.new_markdown_cell(source)))
    assert out.cells[0].source == "Before.\n\n\nAfter."
    assert student.student_page(source) == "Before.\n\n\nAfter.\n"


@pytest.mark.parametrize("source", [
    "> ```{solution} ex-09-e\n> " + SECRET + "\n> ```",  # inside a block quote
    "See the {solution} below.",  # a mention the parser might expand
    "```{solution-end}\n```",  # the gated form
    "```{eval-rst}\n.. solution:: ex-09-e\n\n   " + SECRET + "\n```",  # rST inside MyST
    "Put the code between `### BEGIN SOLUTION` and `### END SOLUTION`.",  # markers in prose
])
def test_solution_directives_that_cannot_be_stripped_are_refused(source):
    for cell in (nbformat.v4.new_markdown_cell(source), nbformat.v4.new_raw_cell(source)):
        with pytest.raises(ValueError, match="cell 0"):
            student.student_notebook(_nb(cell))
    with pytest.raises(ValueError, match="line"):
        student.student_page(source)


def test_an_image_that_only_a_removed_solution_showed_is_dropped():
    cell = nbformat.v4.new_markdown_cell(
        "![fig](attachment:kept.png)\n\n```{solution} ex-09-e\n![answer](attachment:answer.png)\n```")
    cell["attachments"] = {"kept.png": {"image/png": "AAAA"}, "answer.png": {"image/png": "BBBB"}}
    out = student.student_notebook(_nb(cell))
    assert out.cells[0].source == "![fig](attachment:kept.png)"
    assert set(out.cells[0].attachments) == {"kept.png"}


def test_raw_cells_lose_solutions_tagged_or_in_directives():
    tagged = nbformat.v4.new_raw_cell(SECRET, metadata={"tags": ["solution"]})
    fenced = nbformat.v4.new_raw_cell(f"Raw.\n```{{solution}} ex-09-e\n{SECRET}\n```")
    marked = nbformat.v4.new_raw_cell(f"### BEGIN SOLUTION\n{SECRET}\n### END SOLUTION")
    out = student.student_notebook(_nb(tagged, fenced))
    assert [c.source for c in out.cells] == ["Raw."]
    with pytest.raises(ValueError, match="cell 0 \\(raw\\)"):
        student.student_notebook(_nb(marked))


def test_nbgrader_answer_cells_keep_their_metadata_and_lose_their_text():
    answer_meta = {"tags": ["remove-cell"], "nbgrader": {
        "grade": True, "solution": True, "locked": False, "points": 2,
        "grade_id": "ex-09-e-answer", "schema_version": 3}}
    empty = nbformat.v4.new_markdown_cell("YOUR ANSWER HERE", metadata=copy.deepcopy(answer_meta))
    filled = nbformat.v4.new_markdown_cell(SECRET, metadata=copy.deepcopy(answer_meta))
    check_meta = {"nbgrader": {"grade": True, "solution": False, "locked": True, "points": 1,
                               "grade_id": "ex-09-e-check", "schema_version": 3}}
    check = nbformat.v4.new_code_cell(
        "ch09.check_e(f).assert_correct()\n### BEGIN HIDDEN TESTS\nassert f() == 42\n"
        "### END HIDDEN TESTS", metadata=copy.deepcopy(check_meta))
    solution_meta = {"tags": ["solution"], "nbgrader": {
        "grade": False, "solution": True, "locked": False, "grade_id": "ex-09-e-answer2",
        "schema_version": 3}}
    code = _code("def f():\n    ### BEGIN SOLUTION\n    return 42\n    ### END SOLUTION")
    code.metadata = copy.deepcopy(solution_meta)
    out = student.student_notebook(_nb(empty, filled, code, check))
    assert [c.source for c in out.cells] == [
        "YOUR ANSWER HERE", "YOUR ANSWER HERE", "def f():\n    " + student.STUB_LINE,
        "ch09.check_e(f).assert_correct()"]
    assert [dict(c.metadata) for c in out.cells] == [answer_meta, answer_meta, solution_meta,
                                                     check_meta]


def _write_book(root: Path, page: str, cells) -> None:
    (root / "book").mkdir(parents=True)
    (root / "book" / "page.md").write_text(page)
    nbformat.write(_nb(*cells), root / "book" / "01_chapter.ipynb")
    (root / "_config.yml").write_text("title: T\n")
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/page\n")
    (root / "references.bib").write_text("")


def test_a_solution_in_a_page_is_stripped_from_the_copied_sources(tmp_path):
    page = f"# Page\n\n```{{exercise}} E\n:label: ex-09-p\nDo it.\n```\n\n" \
           f"```{{solution}} ex-09-p\n{SECRET}\n```\n"
    _write_book(tmp_path, page, [nbformat.v4.new_markdown_cell("Chapter.")])
    notebooks = student.write_student_notebooks(tmp_path / "book", tmp_path / "out" / "nb")
    student._prepare_source_tree(tmp_path, tmp_path / "out" / "src", notebooks)
    copied = (tmp_path / "out" / "src" / "book" / "page.md").read_text()
    assert "Do it." in copied and SECRET not in copied
    assert SECRET in student.solution_fragments(tmp_path / "book" / "page.md")
    assert student.scan_for_leaks([tmp_path / "out"], {SECRET}) == ()


def test_a_page_mentioning_a_solution_it_cannot_strip_names_the_file(tmp_path):
    _write_book(tmp_path, f"# Page\n\n> ~~~{{solution}} ex\n> {SECRET}\n> ~~~\n",
                [nbformat.v4.new_markdown_cell("Chapter.")])
    with pytest.raises(ValueError, match="page.md: line 3"):
        student._prepare_source_tree(tmp_path, tmp_path / "out" / "src", ())
    assert student.main(["--root", str(tmp_path), "--out", str(tmp_path / "out")]) == 2


def test_a_bad_notebook_stops_the_command_line_build_with_its_name(tmp_path, capsys):
    _write_book(tmp_path, "# Page\n", [_code(MISSPELT_CODE["inline marker"], tags=())])
    assert student.main(["--root", str(tmp_path), "--out", str(tmp_path / "out"), "--no-html"]) == 2
    assert "01_chapter.ipynb: cell 0 (code): line 2" in capsys.readouterr().err


def test_text_public_in_one_chapter_is_no_secret_of_another(tmp_path):
    book = tmp_path / "book"
    book.mkdir()
    shared = "Gradient descent from random starts"
    nbformat.write(_nb(nbformat.v4.new_markdown_cell(f"```{{solution}} ex\n{shared} `ends` here.\n```")),
                   book / "01_a.ipynb")
    nbformat.write(_nb(nbformat.v4.new_markdown_cell(f"Prose: {shared} in public.")), book / "02_b.ipynb")
    assert shared in student.solution_fragments(book / "01_a.ipynb")
    assert shared not in student.book_secrets(book)
    assert student.book_secrets(book) == set()  # the rest is shorter than MIN_FRAGMENT


def test_the_leak_scan_finds_a_solution_escaped_in_html_or_json(tmp_path):
    secret = "return torch.linalg.eigvalsh(hessian)[0]"
    (tmp_path / "a.html").write_text("<p>return torch.linalg.<span>eigvalsh</span>(hessian)[0]</p>")
    (tmp_path / "searchindex.js").write_text(json.dumps({"t": "x\n" + secret.replace("[", "&#91;")}))
    (tmp_path / "b.ipynb").write_text(json.dumps({"source": ["    " + secret + "\n"]}))
    (tmp_path / "clean.txt").write_text("nothing here")
    found = {Path(p).name for _, p in student.scan_for_leaks([tmp_path], {secret})}
    assert found == {"a.html", "searchindex.js", "b.ipynb"}


def test_fragments_cover_every_solution_form_and_no_public_text(tmp_path):
    cells = [nbformat.v4.new_markdown_cell("Public words that appear everywhere in the text."),
             nbformat.v4.new_markdown_cell(f"~~~{{solution}} ex\n{SECRET}\n~~~"),
             nbformat.v4.new_markdown_cell("Tagged hint with the whole answer inside it.",
                                           metadata={"tags": ["solution"]}),
             _code("def f():\n    ### BEGIN SOLUTION\n    return compute_the_answer(42)\n"
                   "    ### END SOLUTION")]
    nbformat.write(_nb(*cells), tmp_path / "n.ipynb")
    assert student.solution_fragments(tmp_path / "n.ipynb") == {
        SECRET, "Tagged hint with the whole answer inside it.", "return compute_the_answer(42)"}


@pytest.mark.slow
def test_a_small_student_book_leaks_nothing_anywhere(tmp_path):
    """The whole pipeline on a tiny book holding every accepted solution form."""
    page = f"# Page\n\n```{{solution}} ex-09-p\n:label: sol-09-p\n{SECRET}\n```\n"
    cells = [nbformat.v4.new_markdown_cell("# Chapter\n\n```{exercise} E\n:label: ex-09-e\nDo.\n```"),
             nbformat.v4.new_markdown_cell(f":::{{solution}} ex-09-e\n{SECRET} (notebook)\n:::"),
             nbformat.v4.new_raw_cell("A raw hint that gives the whole answer away.",
                                      metadata={"tags": ["solution"]}),
             _code("def f():\n    ### BEGIN SOLUTION\n    return 6 * 7  # the secret product line\n"
                   "    ### END SOLUTION"),
             nbformat.v4.new_code_cell("try:\n    f()\nexcept NotImplementedError as e:\n    print(e)")]
    _write_book(tmp_path, page, cells)
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/page\nchapters:\n"
                                       "  - file: book/01_chapter\n")
    (tmp_path / "_config.yml").write_text(
        "title: T\nexecute:\n  execute_notebooks: force\nsphinx:\n  extra_extensions:\n"
        "    - sphinx_exercise\nparse:\n  myst_enable_extensions:\n    - colon_fence\n")
    made = student.build_student_edition(tmp_path, tmp_path / "out")
    assert made.returncode == 0 and made.leaks == (), made.log[-3000:]
    secrets = student.solution_fragments(tmp_path / "book" / "01_chapter.ipynb") | {SECRET}
    assert len(secrets) == 4
    found_in_sources = {s for s, _ in student.scan_for_leaks([tmp_path / "book"], secrets)}
    assert found_in_sources == secrets  # the scan does see them where they are
    trees = [made.html_dir, made.executed_dir, made.notebooks_dir, tmp_path / "out" / "src"]
    assert (made.html_dir / "_sources").is_dir() and (made.html_dir / "searchindex.js").is_file()
    assert student.scan_for_leaks(trees, secrets) == ()
    assert "Exercise: replace this line" in (made.html_dir / "book" / "01_chapter.html").read_text()


# ------------------------------------------------------------ integration: the real chapters
def _solution_fragments(source: Path) -> set[str]:
    """Text runs of >= MIN_FRAGMENT characters that only the solutions contain."""
    return student.solution_fragments(source)


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
    """The WHOLE student output tree: pages, search index, _sources, notebooks,
    jupyter_execute and the copied source tree, for every chapter's and page's solutions."""
    assert edition.leaks == (), edition.message
    trees = [edition.html_dir, edition.notebooks_dir, edition.executed_dir,
             edition.notebooks_dir.parent / "src"]
    assert all(t is not None and t.is_dir() for t in trees), trees
    assert (edition.html_dir / "_sources").is_dir()
    assert (edition.html_dir / "searchindex.js").is_file()
    texts = {}
    for tree in trees:
        texts |= _texts(tree)
    public_nowhere = student.book_secrets(ROOT / "book")  # a chapter's prose may quote another's
    for source in student.instructor_sources(ROOT / "book"):
        secrets = (_solution_fragments(source) & public_nowhere) | (
            _solution_labels(source) if source.suffix == ".ipynb" else set())
        leaks = sorted((s, path) for s in secrets for path, text in texts.items() if s in text)
        assert not leaks, f"{source.name}: solution text in the student edition: {leaks[:5]}"
        assert not student.scan_for_leaks(trees, _solution_fragments(source) & public_nowhere)


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
