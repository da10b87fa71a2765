"""The old home of the HTML renderers, kept so that ``eliza_nb.kernel.display`` imports work.

They live in :mod:`eliza_nb.reprs` now (the core draws its own ``_repr_html_`` without
importing the kernel); import them from there.
"""

from __future__ import annotations

from eliza_nb.reprs import (
    action_info_html,
    durations_png,
    frame_html,
    history_html,
    plugin_html,
    plugin_text,
    result_html,
    runtime_html,
    state_html,
    state_text,
)

__all__ = [
    "action_info_html",
    "durations_png",
    "frame_html",
    "history_html",
    "plugin_html",
    "plugin_text",
    "result_html",
    "runtime_html",
    "state_html",
    "state_text",
]
