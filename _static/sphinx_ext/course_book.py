"""Sphinx extension of the course book: honest buttons and a clean browser console.

Loaded through ``_config.yml`` (``sphinx.local_extensions``); it lives in ``_static`` so the
student edition's copy of the book tree (``tools/student.py``) carries it, and
``exclude_patterns`` keeps it out of the HTML.

* **One setting for the repository.** ``repository.url`` in ``_config.yml`` is the public
  repository of the book. When it is empty (or Jupyter Book's own default), no repository,
  issue, edit or launch (Binder, Colab) button is rendered: never a made-up URL. When it
  is set, the repository and issue buttons and the configured launch buttons appear.
* **The student edition** (built with ``hide_solutions: true`` by ``tools/student.py``)
  never launches the instructor notebooks: its launch buttons appear only when
  ``course_student_branch`` names a branch of that repository holding the released
  student notebooks at the same paths, and then point there. Its download button serves
  the page source, which in that build is the student notebook.
* **Console errors.** pydata-sphinx-theme reads an empty ``default_mode`` (a template
  context value) as "invalid theme mode": it is set to ``auto``. sphinx-thebe registers its inline configuration (which
  declares ``const THEBE_JS_URL``) twice: duplicate scripts are dropped from every page.
"""

from __future__ import annotations

from sphinx.application import Sphinx

#: Jupyter Book's default repository (jupyter_book/default_config.yml): not this book's.
JUPYTER_BOOK_DEFAULT_URL = "https://github.com/executablebooks/jupyter-book"
_REPOSITORY_BUTTONS = ("use_repository_button", "use_issues_button", "use_edit_page_button")


def repository_url(theme_options: dict) -> str:
    """The configured repository URL, ``""`` when none (or Jupyter Book's default) is set."""
    url = (theme_options.get("repository_url") or "").strip().rstrip("/")
    return "" if url == JUPYTER_BOOK_DEFAULT_URL else url


def configure_buttons(theme_options: dict, student: bool, student_branch: str) -> dict:
    """The theme options with the buttons the configuration allows (a new dict).

    >>> configure_buttons({"launch_buttons": {"colab_url": "x"}}, False, "")["launch_buttons"]
    {}
    >>> opts = configure_buttons({"repository_url": "https://github.com/o/r",
    ...                           "launch_buttons": {"colab_url": "x"}}, True, "")
    >>> opts["launch_buttons"], opts["use_repository_button"]
    ({}, True)
    """
    options = dict(theme_options)
    url = repository_url(options)
    if not url:
        options.pop("repository_url", None)
        options["launch_buttons"] = {}
        for button in _REPOSITORY_BUTTONS:
            options[button] = False
        return options
    options["repository_url"] = url
    options["use_repository_button"] = True  # Jupyter Book's defaults say False
    options["use_issues_button"] = True
    if student:
        options["use_edit_page_button"] = False  # the page source is not in the repository
        if student_branch:
            options["repository_branch"] = student_branch
        else:
            options["launch_buttons"] = {}
    return options


def _on_config_inited(app: Sphinx, config) -> None:
    options = dict(config.html_theme_options or {})
    student = bool(getattr(config, "hide_solutions", False))
    options = configure_buttons(options, student, config.course_student_branch)
    config.html_theme_options = options
    # pydata-sphinx-theme's layout.html reads the colour mode from the template context
    config.html_context = {"default_mode": "auto", **(config.html_context or {})}


def _script_key(script) -> tuple:
    filename = getattr(script, "filename", script) or ""  # inline scripts: None or ""
    attributes = getattr(script, "attributes", {}) or {}
    return str(filename), tuple(sorted((k, str(v)) for k, v in attributes.items()))


def _drop_duplicate_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            kept.append(script)
    scripts[:] = kept


def setup(app: Sphinx) -> dict:
    app.add_config_value("course_student_branch", "", "html")
    app.connect("config-inited", _on_config_inited, priority=900)
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
