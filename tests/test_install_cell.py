"""The chapters' set-up cell (tools/install_cell.py): placement, idempotence, and that it
installs lecture_lib in a fresh virtual environment holding nothing but pip."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv

import nbformat
import pytest

from conftest import ROOT, chapter_notebooks

sys.path.insert(0, str(ROOT / "tools"))
import install_cell  # noqa: E402

URL = "https://github.com/example-owner/example-course"


def _book_copy(tmp_path, url: str):
    """A copy of the chapters with ``repository.url`` set to ``url`` in its _config.yml."""
    (tmp_path / "book").mkdir()
    for nb in chapter_notebooks():
        shutil.copy2(nb, tmp_path / "book" / nb.name)
    config = (ROOT / "_config.yml").read_text().replace('  url: ""', f'  url: "{url}"', 1)
    (tmp_path / "_config.yml").write_text(config)
    shutil.copy2(ROOT / "requirements.txt", tmp_path / "requirements.txt")
    return sorted((tmp_path / "book").glob("*.ipynb"))


def test_the_repository_setting_is_empty_or_a_url():
    source, _ = install_cell.book_settings(ROOT)
    assert source is None or source.startswith("git+https://")


def test_insertion_is_first_idempotent_and_keeps_every_other_cell(tmp_path):
    notebooks = _book_copy(tmp_path, URL)
    before = {p.name: nbformat.read(p, 4) for p in notebooks}
    assert install_cell.run(tmp_path) == notebooks
    for path in notebooks:
        nb = nbformat.read(path, 4)
        first = nb.cells[0]
        assert install_cell.is_install_cell(first) and first.metadata["tags"] == ["remove-cell"]
        assert f"git+{URL}@main" in first.source and "--no-deps" in first.source
        rest = [c.source for c in before[path.name].cells if not install_cell.is_install_cell(c)]
        assert [c.source for c in nb.cells[1:]] == rest
        assert sum(install_cell.is_install_cell(c) for c in nb.cells) == 1
    snapshot = [p.read_bytes() for p in notebooks]
    assert install_cell.run(tmp_path) == []  # a second run changes nothing
    assert [p.read_bytes() for p in notebooks] == snapshot


def test_a_new_url_refreshes_the_cell_and_no_url_removes_it(tmp_path):
    notebooks = _book_copy(tmp_path, URL)
    install_cell.run(tmp_path)
    config = tmp_path / "_config.yml"
    config.write_text(config.read_text().replace(URL, URL + "-2"))
    assert install_cell.run(tmp_path, check=True) == notebooks
    install_cell.run(tmp_path)
    assert all(f"{URL}-2@main" in nbformat.read(p, 4).cells[0].source for p in notebooks)
    config.write_text(config.read_text().replace(URL + "-2", ""))
    install_cell.run(tmp_path)
    assert not any(install_cell.is_install_cell(c) for p in notebooks
                   for c in nbformat.read(p, 4).cells)


def test_a_bad_url_is_refused_with_its_value():
    with pytest.raises(ValueError, match="url='github.com/x'"):
        install_cell.install_source("github.com/x", "main")


def test_the_cell_pins_every_runtime_requirement():
    code = install_cell.cell_source(f"git+{URL}@main", (ROOT / "requirements.txt").read_text())
    pins = install_cell.pins((ROOT / "requirements.txt").read_text())
    for requirement in install_cell.MODULES.values():
        assert repr(pins[requirement]) in code
    compile(code, "<install cell>", "exec")
    assert len(code.splitlines()) <= 12


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory):
    """The library's source tree copied out of the checkout (pip builds in the tree it is
    given and would leave build/ behind)."""
    where = tmp_path_factory.mktemp("package")
    shutil.copy2(ROOT / "pyproject.toml", where / "pyproject.toml")
    shutil.copytree(ROOT / "lecture_lib", where / "lecture_lib",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return where


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory):
    """A new virtual environment with pip and nothing else."""
    where = tmp_path_factory.mktemp("fresh") / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(where)
    python = where / "bin" / "python"
    listed = subprocess.run([str(python), "-m", "pip", "list", "--format=freeze"],
                            capture_output=True, text=True, check=True).stdout
    assert "torch" not in listed and "lecture_lib" not in listed
    return python


def _run_cell(python, code: str, **env):
    import os

    # cwd: not the repository, whose lecture_lib/ would be importable from there
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=900, cwd=python.parent)


@pytest.mark.slow
def test_in_a_fresh_venv_the_cell_resolves_the_library_and_every_pin(fresh_venv, package_copy,
                                                                   tmp_path):
    # pip's --dry-run (PIP_DRY_RUN) resolves from the package index and installs nothing.
    # The library is given as a wheel: a dry run cannot build a source tree (PIP_DRY_RUN
    # also reaches the pip that installs the build backend); the next test builds one.
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(wheels), str(package_copy)], check=True)
    (wheel,) = wheels.glob("lecture_lib-*.whl")
    code = install_cell.cell_source(str(wheel), (ROOT / "requirements.txt").read_text())
    run = _run_cell(fresh_venv, code.replace('"-q"', '"--progress-bar=off"'), PIP_DRY_RUN="1")
    assert run.returncode == 0, run.stderr[-3000:]
    would = run.stdout
    for requirement in install_cell.MODULES.values():
        name, version = install_cell.pins((ROOT / "requirements.txt").read_text())[
            requirement].split("==")
        assert f"{version}" in would and "Would install" in would, (requirement, would[-2000:])
    assert "Would install lecture_lib-0.1.0" in would.replace("lecture-lib", "lecture_lib")


@pytest.mark.slow
def test_in_a_fresh_venv_the_cell_installs_lecture_lib(fresh_venv, package_copy):
    # the library itself, for real (its requirements are the dry run's business above)
    code = install_cell.cell_source(str(package_copy), (ROOT / "requirements.txt").read_text())
    code = code.replace("    if missing:\n        subprocess.run(pip + missing, check=True)\n", "")
    run = _run_cell(fresh_venv, code)
    assert run.returncode == 0, run.stderr[-3000:]
    check = _run_cell(fresh_venv, "import lecture_lib; print(lecture_lib.__version__)")
    assert check.stdout.strip() == "0.1.0", check.stderr
    again = _run_cell(fresh_venv, code)  # installed now: the cell does nothing
    assert again.returncode == 0 and again.stdout == again.stderr == ""


def test_binder_installs_the_pins_and_the_library():
    requirements = (ROOT / "binder" / "requirements.txt").read_text().split()
    assert "-r" in requirements and "../requirements.txt" in requirements
    post_build = ROOT / "binder" / "postBuild"
    assert post_build.stat().st_mode & 0o111, "binder/postBuild must be executable"
    assert "pip install --no-deps ." in post_build.read_text()
