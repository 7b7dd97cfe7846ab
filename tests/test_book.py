"""The book builds with warnings as errors, completely, and offline."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup

from conftest import ROOT, chapter_notebooks, run_jupyter_book, toc_files

pytestmark = pytest.mark.slow

WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
# (tag, attribute) pairs through which a page loads a resource.
_LOADED = [("script", "src"), ("img", "src"), ("iframe", "src"), ("source", "src"),
           ("video", "src"), ("audio", "src"), ("embed", "src"), ("object", "data")]


def _pages(html_dir: Path) -> list[Path]:
    return sorted(html_dir.rglob("*.html"))


def _is_remote(url: str) -> bool:
    return "://" in url or url.startswith("//")


def _remote_resources(page: Path) -> list[str]:
    soup = BeautifulSoup(page.read_text(), "html.parser")
    found = [tag[attr] for name, attr in _LOADED for tag in soup.find_all(name) if tag.get(attr)]
    for link in soup.find_all("link"):
        rel = set(link.get("rel", []))
        if rel & {"stylesheet", "preload", "modulepreload", "icon", "manifest"}:
            found.append(link.get("href", ""))
    return [url for url in found if _is_remote(url)]


def test_book_builds_with_zero_warnings(book_build):
    clean = book_build.returncode == 0 and not book_build.problems
    details = "\n".join(book_build.problems) or book_build.log[-3000:]
    assert clean, f"{book_build.message}; see _build/book_build.log:\n{details}"


def test_every_toc_page_is_built(book_build):
    missing = [name for name in toc_files() if not (book_build.html_dir / f"{name}.html").exists()]
    assert not missing, f"pages of _toc.yml missing from _build/html: {missing}"
    assert (book_build.html_dir / "index.html").exists()


def test_no_page_loads_a_remote_script_stylesheet_or_image(book_build):
    remote = {str(p.relative_to(book_build.html_dir)): _remote_resources(p)
              for p in _pages(book_build.html_dir)}
    remote = {page: urls for page, urls in remote.items() if urls}
    assert not remote, f"pages that would load resources from the network: {remote}"


def test_mathjax3_is_served_locally_and_configured(book_build):
    static = book_build.html_dir / "_static"
    mathjax = static / "mathjax" / "tex-chtml.js"
    assert mathjax.exists(), "MathJax missing from _static"
    assert 'VERSION="3.' in mathjax.read_text(), "the served MathJax is not version 3"
    assert (static / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()
    for notebook in chapter_notebooks():
        html = (book_build.html_dir / notebook.relative_to(ROOT).with_suffix(".html")).read_text()
        assert "_static/mathjax/tex-chtml.js" in html, f"{notebook.name}: no local MathJax"
        assert "window.MathJax = " in html, f"{notebook.name}: MathJax configuration missing"


def test_widget_embed_manager_is_served_locally(book_build):
    assert (book_build.html_dir / "_static" / "widgets" / "embed.js").stat().st_size > 10**6
    for notebook in chapter_notebooks():
        html = (book_build.html_dir / notebook.relative_to(ROOT).with_suffix(".html")).read_text()
        assert "_static/widgets/embed.js" in html, f"{notebook.name}: embed script not loaded"
        assert "cdn.jsdelivr.net" not in html and "cdnjs.cloudflare.com" not in html


@pytest.mark.parametrize("notebook", chapter_notebooks(), ids=lambda p: p.stem)
def test_widget_state_is_stored_at_execution(book_build, notebook):
    executed = book_build.executed_dir / notebook.relative_to(ROOT)
    nb = nbformat.read(executed, as_version=4)
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    assert state, f"{executed} has no widget state: does the chapter display a widget?"
    html = (book_build.html_dir / notebook.relative_to(ROOT).with_suffix(".html")).read_text()
    assert WIDGET_STATE in html, "the page does not embed the widget state"


@pytest.mark.parametrize("notebook", chapter_notebooks(), ids=lambda p: p.stem)
def test_download_button_serves_the_page_source(book_build, notebook):
    source = book_build.html_dir / "_sources" / notebook.relative_to(ROOT)
    assert source.exists(), f"{source} missing: the download button would be dead"
    assert json.loads(source.read_text())["cells"], "downloaded notebook is empty"
    html = (book_build.html_dir / notebook.relative_to(ROOT).with_suffix(".html")).read_text()
    assert f"_sources/{notebook.relative_to(ROOT).as_posix()}" in html


def test_launch_buttons_point_at_the_repository(book_build):
    notebook = chapter_notebooks()[0] if chapter_notebooks() else pytest.skip("no chapters")
    html = (book_build.html_dir / notebook.relative_to(ROOT).with_suffix(".html")).read_text()
    assert "https://mybinder.org/v2/gh/landscapes-course/landscapes-course/" in html
    assert "https://colab.research.google.com/github/landscapes-course/landscapes-course/" in html


def test_a_failing_cell_fails_the_build(tmp_path):
    for name in ("_config.yml", "references.bib"):
        shutil.copy2(ROOT / name, tmp_path / name)
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Broken\n\nText."),
                nbformat.v4.new_code_cell("raise ValueError('this cell is meant to fail')")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, tmp_path / "intro.ipynb")
    run = run_jupyter_book(tmp_path)
    log = run.stdout + run.stderr
    assert run.returncode != 0, "a notebook that raises was built without failing"
    assert "this cell is meant to fail" in log
    assert "CellExecutionError" in log, "the failing cell was not reported"
