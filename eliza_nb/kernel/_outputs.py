"""How the widgets show a failure and run their ``on_*`` callbacks.

A failure in a widget's output area is one line, its code and message, over the handler's
own frames of its traceback folded in a ``<details>`` (:mod:`eliza_nb._tracebacks`), as a
``display_data`` output: JupyterLab, Voila and a saved notebook all render it, and no kernel
internals or temporary cell-file paths show. An eliza_nb error is its one line only (SPEC §4:
its traceback stays with ``%tb``).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from eliza_nb._tracebacks import failure_html
from eliza_nb.errors import ElizaError

__all__ = ["Callbacks", "exception_output", "failure_output", "show_failure"]


def failure_output(code: str, message: str, trace: str = "") -> dict[str, Any]:
    """An nbformat ``display_data`` output of a failure (HTML, and a plain-text line)."""
    return {
        "output_type": "display_data",
        "data": {
            "text/html": failure_html(code, message, trace),
            "text/plain": f"[{code}] {message}",
        },
        "metadata": {},
    }


def exception_output(exc: BaseException) -> dict[str, Any]:
    """The failure output of an exception: an eliza_nb error by its code, any other by its
    class name, with its traceback folded."""
    if isinstance(exc, ElizaError):
        return failure_output(exc.code, exc.message)
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return failure_output(type(exc).__name__, str(exc), trace)


def show_failure(output: widgets.Output, exc: BaseException) -> None:
    """Append the failure of ``exc`` to a widget's output area."""
    output.outputs += (exception_output(exc),)


class Callbacks:
    """``on_*`` callbacks; one that raises is shown in ``output`` and the others still run."""

    def __init__(self, output: widgets.Output) -> None:
        self._fns: list[Callable[[Any], Any]] = []
        self._output = output

    def register(self, fn: Callable[[Any], Any], remove: bool = False) -> None:
        """Add ``fn`` (once), or remove it."""
        if remove:
            self._fns.remove(fn)
        elif fn not in self._fns:
            self._fns.append(fn)

    def __call__(self, value: Any) -> None:
        for fn in list(self._fns):
            try:
                fn(value)
            except Exception as exc:
                show_failure(self._output, exc)
