"""A student's view: a live JupyterLab on a copy of the chapters, driven by Playwright.

One JupyterLab server (this venv's, with jupyterlab-myst) serves a temporary copy of every
chapter of ``_toc.yml``; Playwright on the system Chromium (never ``playwright install``)
opens each chapter in turn, checks that jupyterlab-myst renders its directives and math,
runs all cells, asserts that no cell shows an error, and moves each widget control,
asserting that the figure changes. It executes every chapter once more: the cost is the
chapters' own run time plus about 10 s of start-up.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import chapter_notebooks

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
RUN_TIMEOUT_MS = 420_000  # one chapter, on a busy 2-core machine
_VISIBLE_IMAGES = """() => Array.from(document.querySelectorAll(
    '.jp-Notebook .widget-output img, .jp-Notebook .jupyter-widgets img'))
  .filter(img => img.offsetParent !== null && img.getBoundingClientRect().width > 0)
  .map(img => img.src.slice(-80))"""
_BUSY_PROMPTS = """() => Array.from(document.querySelectorAll('.jp-InputArea-prompt'))
  .filter(p => p.textContent.includes('*')).length"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """(base URL, token): JupyterLab serving a copy of the chapters."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (apt-get install -y chromium)"
        pytest.fail(reason) if os.environ.get("CI") else pytest.skip(reason)
    work = tmp_path_factory.mktemp("lab")
    for nb in chapter_notebooks():
        shutil.copy2(nb, work / nb.name)
    port, token = _free_port(), secrets.token_hex(16)
    command = [str(Path(sys.executable).with_name("jupyter")), "lab", "--no-browser",
               f"--port={port}", "--ip=127.0.0.1", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={work}", "--ServerApp.open_browser=False",
               "--LabApp.news_url=", "--LabServerApp.extra_labextensions_path=[]"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    # Every cell in the DOM (JupyterLab 4 renders only the visible ones by default).
    settings = work / ".lab-settings"
    tracker = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text('{"windowingMode": "none"}')
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(work / ".jupyter-config"),
           "JUPYTER_RUNTIME_DIR": str(work / ".jupyter-runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(settings)}
    log = (work / "lab.log").open("w")
    server = subprocess.Popen(command, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail(f"jupyter lab exited: {(work / 'lab.log').read_text()[-2000:]}")
                time.sleep(0.5)
        else:
            pytest.fail("jupyter lab did not start in 60 s")
        yield base, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


def _run_all(page) -> None:
    page.locator(".jp-Notebook:visible").first.click()
    page.keyboard.press("Escape")
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    page.wait_for_timeout(2000)  # the first cells start
    page.wait_for_function(f"({_BUSY_PROMPTS})() === 0", timeout=RUN_TIMEOUT_MS, polling=1000)


def _change_controls(page) -> int:
    """Move every visible widget slider and dropdown; returns how many changed the figure."""
    changed = 0
    for handle in [h for h in page.locator(".jp-Notebook .widget-slider .noUi-handle").all()
                   if h.is_visible()]:
        before = page.evaluate(_VISIBLE_IMAGES)
        handle.scroll_into_view_if_needed()
        handle.focus()
        for key in ("End", "Home"):
            page.keyboard.press(key)
            page.wait_for_timeout(500)
            if page.evaluate(_VISIBLE_IMAGES) != before:
                changed += 1
                break
        else:
            raise AssertionError("a slider moved but the figure did not change")
    for select in [s for s in page.locator(".jp-Notebook .widget-dropdown select").all()
                   if s.is_visible()]:
        before = page.evaluate(_VISIBLE_IMAGES)
        select.scroll_into_view_if_needed()
        select.select_option(index=select.locator("option").count() - 1)
        page.wait_for_timeout(500)
        assert page.evaluate(_VISIBLE_IMAGES) != before, "a dropdown changed, the figure did not"
        changed += 1
    return changed


@pytest.mark.parametrize("notebook", chapter_notebooks(), ids=lambda p: p.stem)
def test_a_chapter_runs_and_its_widgets_respond_in_jupyterlab(lab, browser, notebook):
    base, token = lab
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(60_000)
    start = time.perf_counter()
    # a workspace of its own, reset: only this chapter is open (no tab restored from before)
    page.goto(f"{base}/lab/workspaces/{notebook.stem}/tree/{notebook.name}?token={token}&reset")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle'], "
                           ".jp-Toolbar-kernelStatus", timeout=120_000)
    # jupyterlab-myst renders each markdown cell as it comes into view: scroll through
    page.evaluate("""async () => {
        const panel = document.querySelector('.jp-WindowedPanel-outer, .jp-NotebookPanel-notebook');
        for (let y = 0; y < panel.scrollHeight; y += 600) {
            panel.scrollTop = y; await new Promise(r => setTimeout(r, 50)); }
        panel.scrollTop = 0; }""")
    try:
        page.wait_for_function("""() => Array.from(document.querySelectorAll('.jp-MarkdownCell'))
            .every(c => c.querySelector('.myst'))""", timeout=60_000, polling=1000)
    except Exception:
        pass  # counted and reported below
    rendered = page.evaluate("""() => {
        const cells = Array.from(document.querySelectorAll('.jp-MarkdownCell'));
        const md = cells.filter(c => c.querySelector('.myst'));
        const text = md.map(c => c.querySelector('.myst').innerText).join('\\n');
        return {math: document.querySelectorAll('.jp-MarkdownCell .myst .katex').length,
                fences: (text.match(/```\\{|\\{prf:|\\{cite\\}/g) || []).length,
                n: md.length,
                cells: cells.length};
    }""")
    assert rendered["n"] > 0, "jupyterlab-myst rendered no markdown cell"
    assert rendered["n"] == rendered["cells"], "markdown cells that jupyterlab-myst left alone"
    assert rendered["fences"] == 0, "raw MyST (```{, {prf:, {cite}) left in the markdown"
    assert rendered["math"] > 0, "no typeset math in the markdown cells"
    _run_all(page)
    errors = page.evaluate("""() => Array.from(document.querySelectorAll(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'))
        .map(e => e.innerText).filter(t => /Traceback|Error/.test(t)).map(t => t.slice(0, 300))""")
    assert not errors, f"cells show errors: {errors}"
    assert _change_controls(page) > 0, "no widget control to move"
    print(f"\n{notebook.name}: loaded, ran and moved its widgets in "
          f"{time.perf_counter() - start:.0f} s")
    page.close()
