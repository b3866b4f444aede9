"""The error for a bad setting: a notebook parameter, a command-line option or an environment variable."""

from __future__ import annotations


class SettingError(ValueError):
    """A bad setting, shown as its one-line message, which says what is wrong and what to do.

    In a notebook IPython prints ``_render_traceback_()`` instead of the frames, so a bad parameter
    passed through plain papermill (or typed in JupyterLab) ends in one clear line rather than a page
    of traceback into this package's internals.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]
