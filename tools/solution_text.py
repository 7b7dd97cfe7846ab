"""What counts as a solution in the instructor sources, and the scan that finds its text.

The chapters mark solutions in two ways (README.md, the exercise rules of the team guide):

* code: the lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader's
  markers, alone on their lines); nbgrader's ``### BEGIN HIDDEN TESTS`` blocks too;
* markdown: a ```` ```{solution} ```` directive (also ``~~~`` or ``:::`` fences, any case,
  sphinx-exercise), a cell tagged ``solution`` or marked ``nbgrader.solution``.

:func:`stub_solution_code` and :func:`remove_solution_directives` strip them and fail
closed: any other mention of a marker or of a solution directive, in a spelling some tool
accepts (nbgrader matches ``BEGIN SOLUTION`` anywhere in a line, docutils lower-cases
directive names, MyST allows spaces after the fence, rST ``.. solution::`` inside
``{eval-rst}``), raises ``ValueError`` with the line. :func:`solution_fragments` lists the
distinctive lines of every solution and :func:`scan_for_leaks` searches a built tree for
them. Used by ``tools/student.py``.
"""

from __future__ import annotations

import html as html_lib
import re
from pathlib import Path

import nbformat

BEGIN_MARKER = "### BEGIN SOLUTION"
END_MARKER = "### END SOLUTION"
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
STUB_LINE = 'raise NotImplementedError("Exercise: replace this line with your solution")'
TEXT_STUB = "YOUR ANSWER HERE"  # nbgrader's stub for a written answer
SOLUTION_TAG = "solution"
# Any mention of a marker (nbgrader matches "BEGIN SOLUTION" anywhere in a line) or of a
# solution directive (docutils lower-cases directive names; MyST allows spaces after the
# fence; sphinx-exercise also has the gated -start/-end forms; rST inside {eval-rst}).
_MARKER_MENTION = re.compile(r"(?i)(?<![a-z])(begin|end)[\s_-]*(solution|hidden[\s_-]*tests?)")
_DIRECTIVE_MENTION = re.compile(r"(?i)\{\s*solution[\w-]*\s*\}|\.\.\s*solution[\w-]*\s*::")
# Opening fence of a solution directive: ```{solution}, ~~~{solution} or :::{solution}
_OPEN_FENCE = re.compile(r"(?i)^\s*(?P<fence>`{3,}|~{3,}|:{3,})\s*\{(?P<name>solution[\w-]*)\}")
_PAGE_SUFFIXES = {".md", ".markdown", ".myst"}
MIN_FRAGMENT = 20  # characters; shorter lines ("return x") occur everywhere
_MARKUP = re.compile(r"[$`*{}\\\[\]|]")
_FENCE = re.compile(r"^\s*(`{3,}|:{3,}|~{3,})")


def _refuse_mentions(line: str, number: int, *, directives: bool = True) -> None:
    """Fail closed on a marker or directive that the transformation did not consume."""
    found = _MARKER_MENTION.search(line) or (directives and _DIRECTIVE_MENTION.search(line))
    if found:
        raise ValueError(
            f"line {number}: {line.strip()!r} mentions {found.group(0)!r} in a form the student "
            f"edition does not strip; write the markers alone on their lines as {BEGIN_MARKER!r} / "
            f"{END_MARKER!r} (code) and solutions as a plain ```{{solution}} directive (markdown)")


def stub_solution_code(source: str) -> str:
    """Replace each ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` block by a stub line.

    The stub ``raise NotImplementedError(...)`` takes the indentation of the BEGIN marker,
    so a block inside a function body stays inside it. nbgrader's ``### BEGIN HIDDEN TESTS``
    blocks are deleted. Any other spelling of a marker, or a solution directive in the
    code, raises ``ValueError`` with the line number.

    >>> stub_solution_code("def f():\\n    ### BEGIN SOLUTION\\n    return 1\\n    ### END SOLUTION")
    'def f():\\n    raise NotImplementedError("Exercise: replace this line with your solution")'
    """
    blocks = {BEGIN_MARKER: (END_MARKER, True), BEGIN_HIDDEN: (END_HIDDEN, False)}
    ends = {end: begin for begin, (end, _) in blocks.items()}
    out: list[str] = []
    open_block: tuple[str, str, bool] | None = None  # (begin marker, indent, stub?)
    for number, line in enumerate(source.splitlines(), start=1):
        stripped = line.strip()
        if stripped in blocks:
            if open_block is not None:
                raise ValueError(f"line {number}: nested {stripped!r} inside a {open_block[0]!r} block")
            open_block = (stripped, line[: len(line) - len(line.lstrip())], blocks[stripped][1])
        elif stripped in ends:
            if open_block is None or open_block[0] != ends[stripped]:
                raise ValueError(f"line {number}: {stripped!r} without a {ends[stripped]!r}")
            if open_block[2]:
                out.append(open_block[1] + STUB_LINE)
            open_block = None
        elif open_block is None:
            _refuse_mentions(line, number)
            out.append(line)
    if open_block is not None:
        raise ValueError(f"{open_block[0]!r} without a matching {blocks[open_block[0]][0]!r}")
    return "\n".join(out)


def remove_solution_directives(source: str) -> str:
    """Remove every solution directive block from MyST markdown; refuse what it cannot remove.

    An opening fence is ```` ``` ````, ``~~~`` or ``:::`` (three or more) followed by
    ``{solution}`` in any case. The block ends at a line holding only the fence character
    repeated at least as often as the opening fence (the CommonMark rule), so fenced code
    inside a solution stays inside. The gated ``{solution-start}`` / ``{solution-end}``
    form, markers, and any other mention of a solution directive raise ``ValueError``.

    >>> remove_solution_directives("Before\\n~~~{Solution} ex-1\\nsecret\\n~~~\\nAfter")
    'Before\\nAfter'
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
            _refuse_mentions(line, number)
            out.append(line)
            continue
        if match["name"].lower() != "solution":
            raise ValueError(
                f"line {number}: the {{{match['name']}}} form is not supported; "
                "write the solution as one plain {solution} directive in its own cell"
            )
        fence = match["fence"]
        closing = (fence[0], len(fence))
    if closing is not None:
        raise ValueError("a {solution} directive is not closed")
    return "\n".join(out).strip("\n")


def _tags(cell) -> set[str]:
    return {str(t) for t in cell.get("metadata", {}).get("tags", [])}


def _is_solution_cell(cell) -> bool:
    """Tagged with anything containing ``solution`` (any case), or ``nbgrader.solution``."""
    tagged = any(SOLUTION_TAG in tag.lower() for tag in _tags(cell))
    return tagged or bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution", False))



def _secret_and_public_lines(cells) -> tuple[list[str], list[str]]:
    """Lines of the solutions and of everything else, from ``(cell_type, source, tags)``."""
    secret, public = [], []
    for cell_type, source, solution in cells:
        if cell_type == "code":
            inside = False
            for line in source.splitlines():
                if line.strip() in (BEGIN_MARKER, END_MARKER):
                    inside = line.strip() == BEGIN_MARKER
                    continue
                (secret if inside or solution and BEGIN_MARKER not in source else public).append(line)
            continue
        closing = None
        for line in source.splitlines():
            match = _OPEN_FENCE.match(line)
            if closing is None and match is not None:
                closing = (match["fence"][0], len(match["fence"]))
                continue
            if closing is not None:
                stripped = line.strip()
                if len(stripped) >= closing[1] and set(stripped) == {closing[0]}:
                    closing = None
                    continue
            if _FENCE.match(line) or line.strip().startswith(":"):
                continue
            (secret if solution or closing is not None else public).append(line)
    return secret, public


def _fragments(secret: list[str], public: list[str]) -> set[str]:
    """Text runs of >= MIN_FRAGMENT characters that only the solutions contain."""
    public_text = "\n".join(public)
    fragments = set()
    for line in secret:
        pieces = [line.strip()] if not _MARKUP.search(line) else _MARKUP.split(line)
        fragments.update(p.strip() for p in pieces if len(p.strip()) >= MIN_FRAGMENT)
    return {f for f in fragments if f not in public_text and f != TEXT_STUB}


def solution_fragments(source: Path) -> set[str]:
    """Distinctive lines of the solutions in an instructor notebook or MyST page.

    Solution code (between the markers), the bodies of solution directives and the text
    of solution-marked cells, cut at markup characters, kept where a run has at least
    ``MIN_FRAGMENT`` characters and appears nowhere in the public part of the file.
    """
    return _fragments(*_secret_and_public_lines(_cells(source)))


def _cells(source: Path):
    if source.suffix == ".ipynb":
        nb = nbformat.read(source, as_version=4)
        return [(c.cell_type, c.source, _is_solution_cell(c)) for c in nb.cells]
    return [("markdown", source.read_text(), False)]


def book_secrets(book_dir: Path) -> set[str]:
    """The solution fragments of every instructor source that no source shows in public.

    A run such as ``. Gradient descent from`` may sit in one chapter's solution and in
    another chapter's prose: only text that is public nowhere can betray a solution.
    """
    secret, public = [], []
    for source in instructor_sources(book_dir):
        s, p = _secret_and_public_lines(_cells(source))
        secret += s
        public += p
    return _fragments(secret, public)


def instructor_sources(book_dir: Path) -> tuple[Path, ...]:
    """The notebooks and MyST pages of the instructor book."""
    return tuple(sorted(p for p in book_dir.rglob("*") if p.is_file()
                        and (p.suffix == ".ipynb" or p.suffix.lower() in _PAGE_SUFFIXES)
                        and ".ipynb_checkpoints" not in p.parts and "_build" not in p.parts))


def scan_for_leaks(trees, secrets) -> tuple[tuple[str, str], ...]:
    """``(fragment, file)`` for every secret found in a text file under ``trees``.

    Every file that decodes is searched, HTML both as markup and as its unescaped text.
    """
    secrets = sorted(set(secrets))
    hits = []
    for tree in trees:
        for path in sorted(Path(tree).rglob("*")):
            if not path.is_file():
                continue
            try:
                raw = path.read_text()
            except (UnicodeDecodeError, ValueError):
                continue
            text = raw + "\n" + html_lib.unescape(re.sub(r"<[^>]+>", "", raw))
            text += "\n" + text.replace("\\n", "\n").replace('\\"', '"')  # JSON-escaped text
            hits.extend((s, str(path)) for s in secrets if s in text)
    return tuple(hits)
