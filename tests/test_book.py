"""The book builds with warnings as errors, completely, and offline."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
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


_BUTTON_HOSTS = ("mybinder.org", "colab.research.google.com", "github.com/")


def _button_links(html: str) -> list[str]:
    """The header's launch, repository and issue links of a page."""
    soup = BeautifulSoup(html, "html.parser")
    header = soup.select_one(".bd-header-article") or soup
    return [a["href"] for a in header.find_all("a", href=True)
            if any(host in a["href"] for host in _BUTTON_HOSTS)]


def test_launch_buttons_follow_the_repository_setting(book_build):
    notebook = chapter_notebooks()[0] if chapter_notebooks() else pytest.skip("no chapters")
    url = (yaml.safe_load((ROOT / "_config.yml").read_text()).get("repository") or {}).get("url")
    html = (book_build.html_dir / notebook.relative_to(ROOT).with_suffix(".html")).read_text()
    links = _button_links(html)
    if not url:
        assert not links, f"no repository is configured, yet the page links to {links}"
    else:
        assert links and all(url.split("://")[1].rstrip("/") in link for link in links), links


def _tiny_book(root: Path, url: str, student_branch: str = "") -> Path:
    """A one-chapter book with an exercise and its solution, configured like this one."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["repository"]["url"] = url
    config["sphinx"]["config"]["course_student_branch"] = student_branch
    config["execute"]["execute_notebooks"] = "off"  # the buttons do not need outputs
    (root / "book").mkdir(parents=True)
    (root / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/01_tiny\n")
    shutil.copy2(ROOT / "references.bib", root / "references.bib")
    shutil.copytree(ROOT / "_static", root / "_static",
                    ignore=shutil.ignore_patterns("__pycache__"))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Tiny\n\n```{exercise} E\n:label: ex-01-e\n\nSay.\n```"),
                nbformat.v4.new_markdown_cell("```{solution} ex-01-e\n:label: sol-01-e\n:class: dropdown\n\n"
                                              "The secret answer is forty-two.\n```"),
                nbformat.v4.new_code_cell("1 + 1")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, root / "book" / "01_tiny.ipynb")
    return root


REPO = "https://github.com/example-owner/example-course"


@pytest.mark.parametrize("url", ["", REPO])
def test_buttons_exist_only_with_a_repository_url(tmp_path, url):
    root = _tiny_book(tmp_path / "src", url)
    run = run_jupyter_book(root)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    links = _button_links((root / "_build" / "html" / "book" / "01_tiny.html").read_text())
    if not url:
        assert links == [], f"links to a repository that was never configured: {links}"
        return
    assert any(link.startswith(f"https://mybinder.org/v2/gh/example-owner/example-course/main?")
               and "book/01_tiny.ipynb" in link for link in links), links
    assert any(link.startswith("https://colab.research.google.com/github/example-owner/"
                               "example-course/blob/main/book/01_tiny.ipynb") for link in links)
    assert REPO in links, "no repository button"
    assert any(link.startswith(f"{REPO}/issues") for link in links), "no issue button"


def test_the_student_edition_never_launches_or_serves_the_instructor_notebook(tmp_path):
    sys.path.insert(0, str(ROOT / "tools"))
    import student

    root = _tiny_book(tmp_path / "src", REPO)
    edition = student.build_student_edition(root, tmp_path / "student")
    assert edition.returncode == 0, edition.log[-3000:]
    page = (edition.html_dir / "book" / "01_tiny.html").read_text()
    launch = [link for link in _button_links(page) if "mybinder" in link or "colab" in link]
    assert not launch, f"the student edition launches the instructor notebooks: {launch}"
    assert "_sources/book/01_tiny.ipynb" in page, "no download button"
    served = (edition.html_dir / "_sources" / "book" / "01_tiny.ipynb").read_text()
    assert "forty-two" not in served and "Say." in served


def test_the_student_edition_launches_the_released_branch_when_configured():
    sys.path.insert(0, str(ROOT / "_static" / "sphinx_ext"))
    import course_book

    options = {"repository_url": REPO, "repository_branch": "main",
               "launch_buttons": {"binderhub_url": "https://mybinder.org"}}
    student_opts = course_book.configure_buttons(options, True, "released")
    assert student_opts["repository_branch"] == "released"
    assert student_opts["launch_buttons"] == options["launch_buttons"]
    assert course_book.configure_buttons(options, True, "")["launch_buttons"] == {}
    instructor = course_book.configure_buttons(options, False, "released")
    assert instructor["repository_branch"] == "main" and instructor["use_repository_button"]
    default = {"repository_url": course_book.JUPYTER_BOOK_DEFAULT_URL, "launch_buttons": {"x": 1}}
    assert course_book.configure_buttons(default, False, "")["launch_buttons"] == {}


def test_pages_load_each_script_once(book_build):
    for notebook in chapter_notebooks():
        html = (book_build.html_dir / notebook.relative_to(ROOT).with_suffix(".html")).read_text()
        soup = BeautifulSoup(html, "html.parser")
        inline = [s.string for s in soup.find_all("script") if s.string and not s.get("src")
                  and s.get("type") not in (WIDGET_STATE, "application/vnd.jupyter.widget-view+json")]
        assert len(inline) == len(set(inline)), "an inline script appears twice"
        assert html.count("const THEBE_JS_URL") <= 1


def test_a_failing_cell_fails_the_build(tmp_path):
    for name in ("_config.yml", "references.bib"):
        shutil.copy2(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "_static", tmp_path / "_static",  # the book's Sphinx extension
                    ignore=shutil.ignore_patterns("__pycache__"))
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
