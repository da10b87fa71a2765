"""Reports of one runtime: the frames of its runs, errors, memories and parts, and its snapshot.

:mod:`eliza_nb.frames` knows how records become DataFrames; this module knows where a runtime
keeps them (the recorder, the store, the registry) and answers ``runtime.metrics_frame()``,
``errors_frame()``, ``memories_frame()``, ``components_frame()``, ``metrics_summary()``,
``custom_metrics_frame()`` and ``snapshot()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from eliza_nb import frames
from eliza_nb._checks import int_arg, room_arg, text_arg, time_arg
from eliza_nb.parameters import describe_parameters

if TYPE_CHECKING:
    import pandas as pd

    from eliza_nb.plugin import Plugin
    from eliza_nb.records import MetricsRecorder
    from eliza_nb.registry import Registry
    from eliza_nb.settings import Settings
    from eliza_nb.store import MemoryStore
    from eliza_nb.store.base import TimeBound

__all__ = ["Reports"]


class Reports:
    """The frames and the snapshot of a runtime, read from its recorder, store and registry."""

    def __init__(
        self,
        recorder: MetricsRecorder,
        store: MemoryStore,
        registry: Registry,
        settings: Settings,
        agent_id: str,
    ) -> None:
        self.recorder = recorder
        self.store = store
        self.registry = registry
        self.settings = settings
        self.agent_id = agent_id

    def metrics_frame(
        self,
        action: str | None = None,
        *,
        start: TimeBound = None,
        end: TimeBound = None,
        session_id: int | None = None,
    ) -> pd.DataFrame:
        """One row per action execution (see ``AgentRuntime.metrics_frame``)."""
        found = None if action is None else self.registry.find(text_arg(action, "action"))
        if found is not None:  # any case or simile names the action, as in execute_action
            action = found[0].name
        return frames.run_history(self.recorder, action, **_filters(start, end, session_id))

    def errors_frame(
        self, *, start: TimeBound = None, end: TimeBound = None, session_id: int | None = None
    ) -> pd.DataFrame:
        """One row per logged error (see ``AgentRuntime.errors_frame``)."""
        return frames.error_history(self.recorder, **_filters(start, end, session_id))

    def metrics_summary(
        self, *, start: TimeBound = None, end: TimeBound = None, session_id: int | None = None
    ) -> pd.DataFrame:
        """Per action: runs, successes, failures, rates and latencies."""
        return frames.summary_history(self.recorder, **_filters(start, end, session_id))

    def memories_frame(
        self,
        room_id: str | None = None,
        *,
        table: str | None = None,
        start: TimeBound = None,
        end: TimeBound = None,
    ) -> pd.DataFrame:
        """One row per stored memory (see ``AgentRuntime.memories_frame``)."""
        room = None if room_id is None else room_arg(room_id)
        table = None if table is None else text_arg(table, "table")
        bounds = _filters(start, end, None)
        return frames.memories_frame(
            self.store.memory_rows(room, table, start=bounds["start"], end=bounds["end"])
        )

    def custom_metrics_frame(self) -> pd.DataFrame:
        """Handlers' own figures from ``runtime.metrics.increment`` / ``record``."""
        return frames.custom_history(self.recorder)

    def components_frame(self) -> pd.DataFrame:
        """One row per registered part: ``plugin, kind, name, description, similes``, then an
        action's ``parameters`` and a provider's ``position, dynamic, private``."""
        rows = [row for name, p in self.registry.plugins.items() for row in _parts(name, p)]
        return frames.components_frame(rows)

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able picture for snapshot tests: parts, masked settings, memories, run counts.

        Volatile fields (ids, times, durations) are left out so two runs compare equal.
        """
        memories = [
            {"table": r[1], "room_id": r[2], "user_id": r[3], "text": r[6], "action": r[7]}
            for r in self.store.memory_rows()
        ]
        return {
            "agent": self.agent_id,
            "plugins": {n: _inventory(p) for n, p in sorted(self.registry.plugins.items())},
            "settings": self.settings.masked(),
            "memories": memories,
            "metrics": self._run_counts(),
        }

    def _run_counts(self) -> dict[str, dict[str, Any]]:
        # From the recorder's totals: runs that left memory (a file store's window) still count.
        counts: dict[str, dict[str, Any]] = {}
        for (action, success, code), n in self.recorder.run_tally().items():
            entry = counts.setdefault(action, {"runs": 0, "successes": 0, "error_codes": {}})
            entry["runs"] += n
            if success:
                entry["successes"] += n
            else:
                codes = entry["error_codes"]
                codes[code] = codes.get(code, 0) + n
        return dict(sorted(counts.items()))


def _filters(start: TimeBound, end: TimeBound, session_id: int | None) -> dict[str, Any]:
    """The time and session filters of a frame, checked (the argument is named on failure)."""
    session = None if session_id is None else int_arg(session_id, "session_id")
    return {"start": time_arg(start, "start"), "end": time_arg(end, "end"), "session_id": session}


def _service_type(spec: Any) -> str:
    return str(getattr(spec if isinstance(spec, type) else type(spec), "service_type", ""))


def _parts(name: str, plugin: Plugin) -> list[tuple[Any, ...]]:
    """The components-frame rows of one plugin (``frames.COMPONENT_COLUMNS``)."""
    rows = [
        _row(name, "action", a.name, a.description, a.similes, describe_parameters(a.parameters))
        for a in plugin.actions
    ]
    rows += [
        _row(name, "provider", p.name, p.description, (), None, p.position, p.dynamic, p.private)
        for p in plugin.providers
    ]
    rows += [_row(name, "evaluator", e.name, e.description, e.similes) for e in plugin.evaluators]
    for spec in plugin.services:
        cls = spec if isinstance(spec, type) else type(spec)
        rows.append(_row(name, "service", _service_type(spec), (cls.__doc__ or "").strip()))
    for model_type, handler in plugin.models.items():
        doc = (getattr(handler, "__doc__", None) or "").strip().split("\n")[0]
        rows.append(_row(name, "model", str(model_type), doc))
    for event, handlers in plugin.events.items():
        rows.append(_row(name, "event", str(event), f"{len(handlers)} handler(s)"))
    return rows


def _row(
    plugin: str,
    kind: str,
    name: str,
    description: str,
    similes: Sequence[str] = (),
    parameters: str | None = None,
    position: int | None = None,
    dynamic: bool | None = None,
    private: bool | None = None,
) -> tuple[Any, ...]:
    """One components-frame row; the columns of other kinds of part stay None (null)."""
    return (plugin, kind, name, description, list(similes), parameters, position, dynamic, private)


def _inventory(plugin: Plugin) -> dict[str, Any]:
    """What the snapshot lists of one plugin."""
    return {
        "version": plugin.version,
        "actions": sorted(a.name for a in plugin.actions),
        "providers": sorted(x.name for x in plugin.providers),
        "evaluators": sorted(e.name for e in plugin.evaluators),
        "models": sorted(str(m) for m in plugin.models),
        "events": sorted(str(e) for e in plugin.events),
        "services": sorted(_service_type(s) for s in plugin.services),
    }
