"""Insert (or refresh, or remove) the set-up cell that installs lecture_lib in each chapter.

A chapter opened on Colab, or in any Jupyter without this repository's ``.venv``, has no
``lecture_lib``. With ``repository.url`` set in ``_config.yml``, every chapter's first cell
is a set-up cell that installs, when ``lecture_lib`` is missing, the library from that
repository (``pip install --no-deps git+URL@BRANCH``) together with those of its pinned
requirements (``requirements.txt``) that the environment lacks: a Colab runtime keeps its
own torch, numpy and matplotlib. Where ``lecture_lib`` is installed (``make lab``, Binder)
the cell does nothing. It is tagged ``remove-cell`` (the HTML book does not show it) and
marked with the cell metadata ``{"course": {"install_cell": true}}`` so that this tool
finds it again.

Idempotent: running it twice changes nothing; with a new URL or new pins it rewrites the
cell; with no URL it removes the cell (never a made-up URL). The lead runs it once the
chapters are final::

    python tools/install_cell.py            # every book/NN_*.ipynb
    python tools/install_cell.py --check    # exit 1 when some chapter is out of date
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
MARK = {"install_cell": True}
TAGS = ["remove-cell"]
#: module imported -> requirement name in requirements.txt (lecture_lib's run-time needs)
MODULES = {"torch": "torch", "numpy": "numpy", "scipy": "scipy", "matplotlib": "matplotlib",
           "sympy": "sympy", "tqdm": "tqdm", "skfmm": "scikit-fmm", "sklearn": "scikit-learn",
           "mlxtend": "mlxtend", "mnist1d": "mnist1d", "ipywidgets": "ipywidgets"}

TEMPLATE = '''\
# Set-up: installs the course's library when it is missing (Colab, a fresh Jupyter).
import importlib.util, subprocess, sys
if importlib.util.find_spec("lecture_lib") is None:
    needed = {needed}
    missing = [pin for module, pin in needed.items() if importlib.util.find_spec(module) is None]
    pip = [sys.executable, "-m", "pip", "install", "-q"]
    if missing:
        subprocess.run(pip + missing, check=True)
    subprocess.run(pip + ["--no-deps", {source!r}], check=True)'''


def pins(requirements: str) -> dict[str, str]:
    """``{name: "name==version"}`` of the exact pins in a requirements file's text."""
    found = {}
    for line in requirements.splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            found[line.split("==", 1)[0].strip().lower()] = line
    return found


def install_source(url: str, branch: str) -> str:
    """The pip requirement that installs lecture_lib from ``url`` at ``branch``.

    >>> install_source("https://github.com/o/r", "main")
    'git+https://github.com/o/r@main'
    """
    url = url.strip().rstrip("/")
    if not url.startswith(("https://", "http://", "git+", "file://")):
        raise ValueError(f"url={url!r}: expected an https:// repository URL")
    return url if url.startswith("git+") else f"git+{url}@{branch}"


def cell_source(source: str, requirements: str) -> str:
    """The set-up cell's code installing lecture_lib from ``source`` (a pip requirement)."""
    pinned = pins(requirements)
    missing = [name for name in MODULES.values() if name not in pinned]
    if missing:
        raise ValueError(f"requirements.txt pins no version of {missing}")
    needed = "{" + ", ".join(f"{m!r}: {pinned[r]!r}" for m, r in MODULES.items()) + "}"
    return TEMPLATE.format(needed=needed, source=source)


def is_install_cell(cell) -> bool:
    return cell.get("metadata", {}).get("course", {}).get("install_cell") is True


def refresh(nb, source: str | None):
    """``nb`` with its set-up cell first and current (removed when ``source`` is None).

    Returns ``(notebook, changed)``; the input is not modified.
    """
    nb = nbformat.from_dict(nb)
    old = [c for c in nb.cells if is_install_cell(c)]
    rest = [c for c in nb.cells if not is_install_cell(c)]
    if source is None:
        nb.cells = rest
        return nb, bool(old)
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata = {"tags": list(TAGS), "course": dict(MARK)}
    if len(old) == 1 and nb.cells[0] is old[0] and old[0].source == source \
            and old[0].metadata.get("tags") == TAGS:
        return nb, False
    if old and "id" in old[0]:
        cell["id"] = old[0]["id"]  # a stable cell id across refreshes
    nb.cells = [cell, *rest]
    return nb, True


def book_settings(root: Path) -> tuple[str | None, str]:
    """``(source, requirements text)``: the pip source from ``_config.yml`` (None: no URL)."""
    config = yaml.safe_load((root / "_config.yml").read_text())
    repo = config.get("repository") or {}
    url = (repo.get("url") or "").strip()
    source = install_source(url, repo.get("branch") or "main") if url else None
    return source, (root / "requirements.txt").read_text()


def run(root: Path, notebooks=None, check: bool = False) -> list[Path]:
    """Refresh the set-up cell of each chapter; returns the notebooks that changed (or,
    with ``check``, that would change)."""
    source, requirements = book_settings(root)
    code = None if source is None else cell_source(source, requirements)
    notebooks = notebooks or sorted((root / "book").glob("[0-9][0-9]*.ipynb"))
    changed = []
    for path in map(Path, notebooks):
        nb, did = refresh(nbformat.read(path, as_version=4), code)
        if did:
            changed.append(path)
            if not check:
                nbformat.write(nb, path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--check", action="store_true", help="only report, exit 1 if stale")
    args = parser.parse_args(argv)
    changed = run(args.root, args.notebooks, check=args.check)
    verb = "out of date" if args.check else "updated"
    print(f"{len(changed)} notebooks {verb}" + "".join(f"\n  {p}" for p in changed))
    return 1 if (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
