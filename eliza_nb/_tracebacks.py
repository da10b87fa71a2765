"""A handler's traceback as a person reads it: the handler's own frames, cells named ``<cell>``.

Cards and widgets show a failure as one line (code and message) and, folded under it, the
traceback cut down by :func:`handler_frames`:

- a frame whose file lies inside the eliza_nb package is dropped (the dispatcher, the runtime,
  the widgets), except the example plugins under ``eliza_nb/plugins/``, which are handlers;
- a frame in one of ipykernel's temporary cell files (``/tmp/ipykernel_1234/3028829332.py``)
  is kept, its file shown as ``<cell>``: its line and source are the user's own code, the
  path means nothing to them;
- every other frame (a library the handler called) and every other line (the exception, the
  "During handling..." of a chain) is kept.

When nothing would be left (a failure inside eliza_nb itself) the whole traceback is shown.
The stored text (``ErrorInfo.traceback``, ``errors_frame()``) is never changed.
"""

from __future__ import annotations

import re
from html import escape
from pathlib import Path

__all__ = ["failure_html", "handler_frames", "traceback_details"]

_PACKAGE = str(Path(__file__).resolve().parent)
_PLUGINS = str(Path(_PACKAGE, "plugins"))
_FRAME = re.compile(r'^(?P<indent>[\s|]*)File "(?P<path>[^"]+)", line (?P<rest>.*)$')
_CELL = re.compile(r"ipykernel_\d+[/\\][^/\\]+\.py$")


def _internal(path: str) -> bool:
    inside = path.startswith(_PACKAGE + "/") or path.startswith(_PACKAGE + "\\")
    return inside and not path.startswith(_PLUGINS)


def _blocks(lines: list[str]) -> list[tuple[str | None, list[str]]]:
    """The lines in blocks: (file of the frame, its lines), or (None, [a line of no frame])."""
    blocks: list[tuple[str | None, list[str]]] = []
    depth = -1  # the indent of the open frame's header; its source lines are deeper
    for line in lines:
        found = _FRAME.match(line)
        if found:
            depth = len(found["indent"])
            blocks.append((found["path"], [line]))
        elif depth >= 0 and len(line) - len(line.lstrip(" |")) > depth and line.strip():
            blocks[-1][1].append(line)
        else:
            depth = -1
            blocks.append((None, [line]))
    return blocks


def handler_frames(text: str) -> str:
    """The traceback ``text`` with eliza_nb's frames dropped and cell files named ``<cell>``.

    Returns ``text`` unchanged when no frame would be left.
    """
    blocks = _blocks(text.splitlines())
    kept = [(path, lines) for path, lines in blocks if path is None or not _internal(path)]
    if not any(path is not None for path, _ in kept):
        return text
    out: list[str] = []
    for path, lines in kept:
        if path is not None and _CELL.search(path):
            lines = [lines[0].replace(f'"{path}"', '"<cell>"', 1), *lines[1:]]
        out += lines
    return "\n".join(out)


_FAILURE = (
    "<div class='eliza-failure' style='font-family:sans-serif;font-size:13px;line-height:1.45;"
    "margin:4px 0'>"
    "<div style='color:#c62828'><b>{code}</b> {message}</div>{details}</div>"
)
_DETAILS = (
    "<details><summary style='cursor:pointer;font-size:12px;color:#555'>traceback</summary>"
    "<pre style='font-family:monospace;font-size:12px;line-height:1.35;background:#fdf0f0;"
    "padding:6px 8px;margin:2px 0;"
    "white-space:pre-wrap;overflow-x:auto'>{}</pre></details>"
)


def traceback_details(traceback: str) -> str:
    """The handler's frames of ``traceback`` folded in a ``<details>`` ("" when there is none)."""
    return _DETAILS.format(escape(handler_frames(traceback))) if traceback.strip() else ""


def failure_html(code: str, message: str, traceback: str = "") -> str:
    """A failure in one line, its code then its message, over its folded traceback; escaped."""
    return _FAILURE.format(
        code=escape(code), message=escape(message), details=traceback_details(traceback)
    )
