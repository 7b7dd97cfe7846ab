"""A reader's view: headless Chromium, no network, opens the built chapters from disk.

Chromium runs inside a network namespace with no interface but loopback (``unshare
--net``), so nothing can be fetched; the page must bring its own MathJax and widget
manager. The rendered DOM (``--dump-dom`` after a virtual-time budget) must show typeset
math, the figures, and the widgets' initial state from the embedded widget state.
Screenshots land in ``_build/screenshots`` for a person to look at.
"""

from __future__ import annotations

import base64
import functools
import os
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import unquote

import nbformat
import pytest
from bs4 import BeautifulSoup

from conftest import BUILD, ROOT, chapter_notebooks

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--hide-scrollbars", "--virtual-time-budget=15000"]
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
# widget model -> CSS class its rendered view carries (ipywidgets 8 controls)
VIEW_CLASS = {"DropdownModel": "widget-dropdown", "FloatSliderModel": "widget-slider",
              "IntSliderModel": "widget-slider", "FloatLogSliderModel": "widget-slider",
              "SelectionSliderModel": "widget-slider", "OutputModel": "widget-output",
              "VBoxModel": "widget-vbox", "HBoxModel": "widget-hbox",
              "ButtonModel": "widget-button", "CheckboxModel": "widget-checkbox",
              "ToggleButtonsModel": "widget-toggle-buttons", "RadioButtonsModel": "widget-radio"}
IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"<svg", b"<?xml")
SCREENSHOTS = BUILD / "screenshots"


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is missing (install Debian's chromium: apt-get install -y chromium)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@functools.lru_cache(maxsize=1)
def offline_prefix() -> tuple[str, ...]:
    """The command prefix that runs a program with no network at all."""
    for prefix in (("unshare", "--net"), ("unshare", "--map-root-user", "--net")):
        try:
            probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return prefix
    pytest.fail("cannot create a network namespace (unshare --net): run as root")


def chromium(url: str, *args: str) -> subprocess.CompletedProcess:
    """Run headless Chromium, offline, with a fresh profile, on ``url``."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        command = [*offline_prefix(), str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}",
                   *args, url]
        return subprocess.run(command, capture_output=True, text=True, timeout=180)


def _page(notebook: Path) -> Path:
    return BUILD / "html" / notebook.relative_to(ROOT).with_suffix(".html")


@pytest.fixture(scope="module")
def rendered(book_build):
    """Chapter file name -> (BeautifulSoup of the rendered DOM, widget state)."""
    _require_chromium()
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)  # only this run's pictures remain
    doms = {}
    for notebook in chapter_notebooks():
        assert _page(notebook).exists(), f"not built ({book_build.message}): {_page(notebook)}"
        run = chromium(_page(notebook).as_uri(), "--dump-dom")
        assert run.returncode == 0 and "<body" in run.stdout, run.stderr[-2000:]
        executed = nbformat.read(book_build.executed_dir / notebook.relative_to(ROOT), 4)
        state = executed.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
        doms[notebook.name] = (BeautifulSoup(run.stdout, "html.parser"), state)
    return doms


CHAPTERS = [path.name for path in chapter_notebooks()]


def test_browser_has_no_network():
    _require_chromium()
    probe = "import socket; socket.create_connection(('1.1.1.1', 53), timeout=5)"
    run = subprocess.run([*offline_prefix(), "python3", "-c", probe], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode != 0, "a TCP connection succeeded inside the browser's namespace"
    assert "Network is unreachable" in run.stderr or "OSError" in run.stderr, run.stderr


def _prose_text(soup: BeautifulSoup) -> str:
    main = soup.select_one("main") or soup
    main = BeautifulSoup(str(main), "html.parser")
    for tag in main.find_all(["script", "style", "pre", "code", "mjx-container", "textarea"]):
        tag.decompose()
    return main.get_text(" ")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_math_is_typeset(rendered, chapter):
    soup, _ = rendered[chapter]
    assert soup.find_all("mjx-container"), "MathJax typeset nothing (no mjx-container)"
    text = _prose_text(soup)
    raw = [token for token in ("\\(", "\\)", "\\[", "\\]", "$$") if token in text]
    assert not raw, f"raw TeX delimiters left in the rendered text: {raw}"


def _image_bytes(src: str, page: Path) -> bytes:
    if src.startswith("data:"):
        header, data = src.split(",", 1)
        if header.endswith(";base64"):
            return base64.b64decode(data[:64])
        return unquote(data[:64]).encode()
    path = (page.parent / src.split("?")[0]).resolve()
    return path.read_bytes()[:64] if path.exists() else b""


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_figures_are_present_and_load(rendered, chapter):
    soup, _ = rendered[chapter]
    page = _page(ROOT / "book" / chapter)
    images = [img for img in soup.select("main img")
              if "_static/images" not in img.get("src", "")]
    assert images, "no figure in the chapter"
    broken = [img.get("src", "")[:80] for img in images
              if not _image_bytes(img.get("src", ""), page).lstrip().startswith(IMAGE_MAGIC)]
    assert not broken, f"images that do not load: {broken}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_widget_initial_state_is_rendered(rendered, chapter):
    soup, state = rendered[chapter]
    assert state, "no widget state stored in the executed notebook"
    assert soup.select(".jupyter-widgets"), "the embed manager rendered no widget"
    assert "Error displaying widget" not in soup.get_text(), "a widget failed to render"
    models = {model["model_name"] for model in state.values()}
    missing = sorted(VIEW_CLASS[m] for m in models & VIEW_CLASS.keys()
                     if not soup.select("." + VIEW_CLASS[m]))
    assert not missing, f"widget views missing from the page: {missing}"
    with_figure = [model for model in state.values() if model["model_name"] == "OutputModel"
                   and any("image/png" in out.get("data", {})
                           for out in model["state"].get("outputs", []))]
    if with_figure:
        outputs = soup.select(".widget-output")
        assert any(o.find("img") for o in outputs), "the Output widget's figure is not shown"


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


_WIDGET_FRAME = """<!DOCTYPE html><html><body style="margin:0">
<iframe id="page" src="{url}" style="border:0;width:1280px;height:1600px"></iframe>
<script>
// Scroll the chapter to its first widget once the embed manager has rendered it.
function scrollToWidget() {{
  const doc = document.getElementById("page").contentDocument;
  const widget = doc && doc.querySelector(".jupyter-widgets.widget-container, .jupyter-widgets");
  if (widget) {{ widget.scrollIntoView(); doc.defaultView.scrollBy(0, -80); }}
  else {{ setTimeout(scrollToWidget, 200); }}
}}
setTimeout(scrollToWidget, 500);
</script></body></html>"""


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_screenshots_are_taken(rendered, chapter):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    stem = Path(chapter).stem
    top = SCREENSHOTS / f"{stem}.png"
    run = chromium(_page(ROOT / "book" / chapter).as_uri(), "--window-size=1280,4000",
                   f"--screenshot={top}")
    assert top.exists(), run.stderr[-2000:]
    assert _png_size(top) == (1280, 4000)
    # The widget view needs a script that reads the chapter's DOM: only for this picture,
    # file:// pages may read each other (the DOM assertions above run without the flag).
    frame = SCREENSHOTS / f"{stem}_widget.html"
    frame.write_text(_WIDGET_FRAME.format(url=_page(ROOT / "book" / chapter).as_uri()))
    widget = SCREENSHOTS / f"{stem}_widget.png"
    chromium(frame.as_uri(), "--allow-file-access-from-files", "--window-size=1280,1600",
             f"--screenshot={widget}")
    assert widget.exists() and _png_size(widget) == (1280, 1600)
    assert top.stat().st_size > 20_000, "the page screenshot is (nearly) blank"


# ------------------------------------------------------- Playwright: console, widgets, phone
# Playwright drives the system Chromium (never `playwright install`, which downloads); every
# request that is not a file of the built book is aborted, so the pages run offline.

_VISIBLE_WIDGET_IMAGES = """(root) => Array.from(root.querySelectorAll('.widget-output img'))
  .filter(img => img.offsetParent !== null && img.getBoundingClientRect().width > 0)
  .map(img => img.src.slice(-80))"""


@pytest.fixture(scope="module")
def browser():
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium_browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium_browser
        chromium_browser.close()


def open_page(browser, path: Path, width: int = 1280, height: int = 900):
    """(page, messages): the page loaded offline, its console errors and page errors."""
    page = browser.new_page(viewport={"width": width, "height": height})
    messages: list[str] = []
    page.on("console", lambda m: messages.append(f"console.{m.type}: {m.text}")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
               else route.abort())
    page.goto(path.as_uri())
    page.wait_for_function("document.querySelectorAll('.widget-output img').length > 0 || "
                           "!document.querySelector('script[type=\"application/vnd.jupyter.widget-state+json\"]')",
                           timeout=30_000)
    page.wait_for_timeout(1500)  # MathJax and the embed manager finish
    return page, messages


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_no_console_error_on_a_chapter_page(book_build, browser, chapter):
    page, messages = open_page(browser, _page(ROOT / "book" / chapter))
    page.close()
    assert not messages, "\n".join(messages)


def _selection_controls(page):
    """Visible sliders and dropdowns of the page's widgets."""
    sliders = [h for h in page.locator(".widget-slider .noUi-handle").all() if h.is_visible()]
    selects = [s for s in page.locator(".widget-dropdown select").all() if s.is_visible()]
    return sliders, selects


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_widget_controls_change_the_figure_without_a_kernel(book_build, browser, chapter):
    page, messages = open_page(browser, _page(ROOT / "book" / chapter))
    sliders, selects = _selection_controls(page)
    assert sliders or selects, "no widget control on the page"
    for handle in sliders:
        before = page.evaluate(_VISIBLE_WIDGET_IMAGES, page.locator("body").element_handle())
        handle.scroll_into_view_if_needed()
        handle.focus()
        for key in ("End", "Home"):  # the last option, or the first if it was the last
            page.keyboard.press(key)
            page.wait_for_timeout(300)
            after = page.evaluate(_VISIBLE_WIDGET_IMAGES, page.locator("body").element_handle())
            if after != before:
                break
        assert after and after != before, "moving a slider did not change the figure"
    for select in selects:
        before = page.evaluate(_VISIBLE_WIDGET_IMAGES, page.locator("body").element_handle())
        count = select.locator("option").count()
        select.select_option(index=count - 1)
        page.wait_for_timeout(300)
        after = page.evaluate(_VISIBLE_WIDGET_IMAGES, page.locator("body").element_handle())
        assert after and after != before, "choosing an option did not change the figure"
    page.close()
    assert not messages, "\n".join(messages)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_phone_width_navigation_opens_and_no_control_is_clipped(book_build, browser, chapter):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    stem = Path(chapter).stem
    page, messages = open_page(browser, _page(ROOT / "book" / chapter), width=390, height=844)
    clipped = page.evaluate("""() => Array.from(document.querySelectorAll(
        '.jupyter-widgets.widget-slider, .jupyter-widgets.widget-dropdown, .jupyter-widgets.widget-html'))
      .filter(e => e.offsetParent !== null)
      .map(e => [e.className, e.getBoundingClientRect().right,
                 e.closest('.widget-hbox, .widget-vbox, .cell_output').getBoundingClientRect().right])
      .filter(([_, right, box]) => right > Math.min(box, window.innerWidth) + 1)""")
    assert not clipped, f"widget controls reach past their box at 390 px: {clipped}"
    widget = page.locator(".jupyter-widgets.widget-vbox").first
    widget.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / f"{stem}_390_widget.png"))
    page.evaluate("window.scrollTo(0, 0)")
    toggles = [t for t in page.locator(".primary-toggle").all() if t.is_visible()]
    assert toggles, "no visible navigation button at 390 px"
    toggles[0].click()
    page.wait_for_timeout(500)
    nav = page.locator("#pst-primary-sidebar-modal .bd-links a, #pst-primary-sidebar .bd-links a")
    visible = [a for a in nav.all() if a.is_visible()]
    assert visible, "the navigation did not open"
    assert all(0 <= a.bounding_box()["x"] < 390 for a in visible[:3])
    page.screenshot(path=str(SCREENSHOTS / f"{stem}_390_navigation.png"))
    page.close()
    assert not messages, "\n".join(messages)
