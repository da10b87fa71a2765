"""Rich HTML for results, plugins, state and the runtime: compact cards, every text escaped.

Nothing from a message or a handler reaches the page unescaped, so no script runs from them.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eliza_nb.plugin import Plugin
    from eliza_nb.runtime import AgentRuntime
    from eliza_nb.types import ActionResult, State

__all__ = ["plugin_html", "result_html", "runtime_html", "state_html"]

_CARD = (
    "<div class='eliza-card' style='border:1px solid #ccc;border-radius:6px;padding:6px 10px;"
    "margin:4px 0;font-family:sans-serif;font-size:13px'>{}</div>"
)
_BADGE = "<span style='background:{};color:white;border-radius:4px;padding:1px 6px'>{}</span>"


def _badge(ok: bool, label: str) -> str:
    return _BADGE.format("#2e7d32" if ok else "#c62828", escape(label))


def _row(label: str, value: Any) -> str:
    return f"<div><b>{escape(label)}</b>: {escape(str(value))}</div>"


def result_html(result: ActionResult) -> str:
    """A card: action, success badge, text, responses, duration and error code."""
    badge = _badge(result.success, "success" if result.success else (result.error_code or "failed"))
    parts = [f"<div><b>{escape(result.action)}</b> <small>({escape(result.plugin)})</small> {badge}"
             f" <small>{result.duration_ms:.2f} ms · run {result.run_id}</small></div>"]  # fmt: skip
    if result.text is not None:
        parts.append(_row("text", result.text))
    if result.data is not None:
        parts.append(_row("data", result.data))
    if result.responses:
        items = "".join(f"<li>{escape(c.text)}</li>" for c in result.responses)
        parts.append(f"<div><b>responses</b><ul style='margin:2px 0'>{items}</ul></div>")
    if result.error is not None:
        parts.append(_row(f"error {result.error.code}", result.error.message))
    return _CARD.format("".join(parts))


def plugin_html(plugin: Plugin) -> str:
    """A card: name, version, description, and its parts."""
    parts = [f"<div><b>{escape(plugin.name)}</b> <small>v{escape(plugin.version)}</small></div>"]
    if plugin.description:
        parts.append(f"<div>{escape(plugin.description)}</div>")
    for label, items in (("actions", plugin.actions), ("providers", plugin.providers),
                         ("evaluators", plugin.evaluators)):  # fmt: skip
        if items:
            parts.append(_row(label, ", ".join(i.name for i in items)))
    if plugin.services:
        names = [(s if isinstance(s, type) else type(s)).service_type for s in plugin.services]
        parts.append(_row("services", ", ".join(names)))
    return _CARD.format("".join(parts))


def state_html(state: State) -> str:
    """A card: provider values, the usable actions and the recent messages."""
    parts = [_row(k, v) for k, v in state.values.items()]
    parts.append(_row("actions", ", ".join(state.actions) or "none"))
    parts.append(_row("recent messages", len(state.recent_messages)))
    return _CARD.format("".join(parts))


def runtime_html(runtime: AgentRuntime) -> str:
    """A card: agent, plugins and run counts."""
    runs = runtime.metrics.runs
    failures = sum(1 for r in runs if not r[5])
    parts = [f"<div><b>AgentRuntime</b> · agent {escape(runtime.agent_id)}</div>",
             _row("plugins", ", ".join(runtime.registry.plugins) or "none"),
             _row("actions", ", ".join(runtime.registry.action_names()) or "none"),
             _row("runs", f"{len(runs)} ({failures} failed)")]  # fmt: skip
    return _CARD.format("".join(parts))
