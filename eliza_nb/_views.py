"""What a runtime shows: frames, the snapshot, state composition and message routing.

A mixin of ``AgentRuntime``, kept apart so runtime.py stays about registration and execution.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from eliza_nb import frames
from eliza_nb._calls import call_hook
from eliza_nb._execution import Callback, error_info
from eliza_nb.plugin import Evaluator, Provider
from eliza_nb.types import ActionResult, Content, ErrorInfo, Memory, State

if TYPE_CHECKING:
    import pandas as pd

    from eliza_nb.character import Character
    from eliza_nb.memory import MemoryManager
    from eliza_nb.records import MetricsRecorder
    from eliza_nb.registry import Registry
    from eliza_nb.settings import Settings
    from eliza_nb.store import MemoryStore

log = logging.getLogger("eliza_nb")
_SKIPPED = object()


class RuntimeViews:
    """Frames, snapshot, ``compose_state`` and ``process_message`` of ``AgentRuntime``."""

    registry: Registry
    metrics: MetricsRecorder
    settings: Settings
    store: MemoryStore
    messages: MemoryManager
    character: Character | None
    agent_id: str
    _services: dict[str, Any]

    if TYPE_CHECKING:

        def to_memory(self, message: Any, *, room_id: str | None = None,
                      user_id: str = "user") -> Memory: ...  # fmt: skip

        async def execute_action(self, name: str, message: Any = None, **kw: Any) -> ActionResult: ...

        async def _execute(self, *args: Any) -> ActionResult: ...

        async def _validate(self, action: Any, msg: Memory, state: State | None) -> bool: ...

    # -- frames -------------------------------------------------------------------------
    def metrics_frame(self, action: str | None = None) -> pd.DataFrame:
        """One row per action execution: ``run_id, plugin, action, started_at, duration_ms,
        success, error_code, room_id``. ``action`` filters by name."""
        runs = self.metrics.runs
        if action is not None:
            runs = [r for r in runs if r[2] == action]
        return frames.metrics_frame(runs)

    def errors_frame(self) -> pd.DataFrame:
        """One row per logged error; messages and tracebacks have secrets masked."""
        return frames.errors_frame(self.metrics.errors)

    def memories_frame(self, room_id: str | None = None) -> pd.DataFrame:
        """One row per stored memory (all tables), optionally of one room."""
        rows = self.store.memory_rows(room_id)
        out = [(r[0], r[5], r[2], r[3], r[4], r[6], r[7], r[8]) for r in rows]
        return frames.memories_frame(out)

    def components_frame(self) -> pd.DataFrame:
        """One row per registered action, provider, evaluator and service."""
        rows: list[tuple[Any, ...]] = []
        for pname, plugin in self.registry.plugins.items():
            for a in plugin.actions:
                rows.append((pname, "action", a.name, a.description, list(a.similes)))
            for p in plugin.providers:
                rows.append((pname, "provider", p.name, p.description, []))
            for e in plugin.evaluators:
                rows.append((pname, "evaluator", e.name, e.description, list(e.similes)))
            for s in plugin.services:
                cls = s if isinstance(s, type) else type(s)
                rows.append((pname, "service", cls.service_type, (cls.__doc__ or "").strip(), []))
        return frames.components_frame(rows)

    def metrics_summary(self) -> pd.DataFrame:
        """Per action: runs, successes, failures, success_rate, mean/p50/p95/max ms."""
        return frames.metrics_summary(self.metrics.runs)

    def custom_metrics_frame(self) -> pd.DataFrame:
        """Handlers' own figures from ``runtime.metrics.increment`` / ``record``."""
        return frames.custom_metrics_frame(self.metrics.custom)

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able picture for snapshot tests: parts, masked settings, memories, run counts.

        Volatile fields (ids, times, durations) are left out so two runs compare equal.
        """
        counts: dict[str, dict[str, Any]] = {}
        for row in self.metrics.runs:
            entry = counts.setdefault(row[2], {"runs": 0, "successes": 0, "error_codes": {}})
            entry["runs"] += 1
            if row[5]:
                entry["successes"] += 1
            else:
                entry["error_codes"][row[6]] = entry["error_codes"].get(row[6], 0) + 1
        plugins = {
            name: {
                "version": p.version,
                "actions": sorted(a.name for a in p.actions),
                "providers": sorted(x.name for x in p.providers),
                "evaluators": sorted(e.name for e in p.evaluators),
                "services": sorted((s if isinstance(s, type) else type(s)).service_type
                                   for s in p.services),  # fmt: skip
            }
            for name, p in sorted(self.registry.plugins.items())
        }
        memories = [
            {"table": r[1], "room_id": r[2], "user_id": r[3], "text": r[6], "action": r[7]}
            for r in self.store.memory_rows()
        ]
        return {
            "agent": self.agent_id,
            "plugins": plugins,
            "settings": self.settings.masked(),
            "memories": memories,
            "metrics": dict(sorted(counts.items())),
        }

    # -- state --------------------------------------------------------------------------
    async def compose_state(
        self, message: Any = None, *, room_id: str | None = None, recent: int = 10
    ) -> State:
        """Build the agent's ``State`` for a message: every provider runs concurrently.

        A provider that raises is logged (and written to the error log with code
        ``PROVIDER_ERROR``); its value is left out and the state is still built.
        """
        msg = self.to_memory(message, room_id=room_id)
        providers = list(self.registry.providers)
        values = await asyncio.gather(*(self._provide(p, owner, msg) for p, owner in providers))
        state_values = {p.name: v for (p, _), v in zip(providers, values, strict=True)
                        if v is not _SKIPPED}  # fmt: skip
        recent_messages = await self.messages.get_memories(msg.room_id, recent)
        partial = State(values=state_values, recent_messages=recent_messages)
        usable = []
        for act in {id(a): a for a, _ in self.registry.actions.values()}.values():
            try:
                if act.validate is None or await self._validate(act, msg, partial):
                    usable.append(act.name)
            except Exception as exc:
                log.warning("validate of %s raised while composing state: %s", act.name, exc)
        partial.actions = sorted(usable)
        partial.text = self._render_state(partial)
        return partial

    async def _provide(self, provider: Provider, owner: str, msg: Memory) -> Any:
        try:
            value = provider.get(self, msg, None)  # type: ignore[misc]
            if provider.get_is_async or asyncio.iscoroutine(value):
                value = await value
            return value
        except Exception as exc:
            info = error_info(exc, self.settings.masker, code="PROVIDER_ERROR")
            self.metrics.errors.append((time.time(), None, owner, provider.name, info.code,
                                        info.error_type, info.message, info.traceback))  # fmt: skip
            log.warning("provider %s.%s failed: %s", owner, provider.name, info.message)
            return _SKIPPED

    def _render_state(self, state: State) -> str:
        lines: list[str] = []
        if self.character is not None:
            lines.append(f"# {self.character.name}")
            lines += [f"- {b}" for b in self.character.bio]
        for name, value in state.values.items():
            lines.append(f"## {name}\n{self.settings.masker.mask(str(value))}")
        if state.recent_messages:
            lines.append("## Recent messages")
            lines += [f"{m.user_id}: {m.content.text}" for m in state.recent_messages]
        if state.actions:
            lines.append(f"## Actions\n{', '.join(state.actions)}")
        return "\n".join(lines)

    # -- messages -----------------------------------------------------------------------
    async def process_message(self, message: Any, *, room_id: str | None = None) -> list[ActionResult]:
        """Store a message, route it to an action, run it, then run the evaluators.

        Routing: ``content.action`` if set, else the first action name or simile found in the
        text (words, any case). The action's responses are stored as the agent's memories.
        Evaluators run when ``always_run`` is set or their ``validate`` passes.
        Returns the results of the actions that ran ([] when none matched).
        """
        msg = self.to_memory(message, room_id=room_id)
        await self.messages.create_memory(msg)
        state = await self.compose_state(msg)
        results: list[ActionResult] = []
        named = msg.content.action
        entry = self.registry.find(named) if named else self.registry.find_in_text(msg.content.text)
        if named and entry is None:
            results.append(self._not_found(named, msg))
        elif entry is not None:
            action, plugin = entry
            result = await self._execute(action, plugin, msg, state, {}, None)
            results.append(result)
            await self._remember_reply(result, msg)
        await self._evaluate(msg, state)
        return results

    def _not_found(self, name: str, msg: Memory) -> ActionResult:
        """A recorded failure for a message that names an unknown action."""
        run_id = next(self._run_ids)  # type: ignore[attr-defined]
        now = time.time()
        info = ErrorInfo(code="ACTION_NOT_FOUND", message=f"No action named {name!r}",
                         error_type="ActionNotFoundError")  # fmt: skip
        self.metrics.runs.append((run_id, "", name, now, 0.0, False, info.code, msg.room_id))
        self.metrics.errors.append((now, run_id, "", name, info.code, info.error_type,
                                    info.message, ""))  # fmt: skip
        return ActionResult(run_id, name, "", False, None, None, [], info, now, 0.0)

    async def _remember_reply(self, result: ActionResult, msg: Memory) -> None:
        replies = result.responses or ([Content(text=result.text)] if result.text else [])
        for content in replies:
            if content.action is None:
                content = content.model_copy(update={"action": result.action})
            await self.messages.create_memory(
                Memory(user_id=self.agent_id, agent_id=self.agent_id, room_id=msg.room_id,
                       content=content)  # fmt: skip
            )

    async def _evaluate(self, msg: Memory, state: State) -> None:
        for ev, owner in list(self.registry.evaluators):
            try:
                if ev.always_run or ev.validate is None or await call_hook(
                        ev.validate, self, msg, state):  # fmt: skip
                    await self._run_evaluator(ev, msg, state)
            except Exception as exc:
                info = error_info(exc, self.settings.masker)
                self.metrics.errors.append((time.time(), None, owner, ev.name, info.code,
                                            info.error_type, info.message, info.traceback))  # fmt: skip
                log.warning("evaluator %s.%s failed: %s", owner, ev.name, info.message)

    async def _run_evaluator(self, ev: Evaluator, msg: Memory, state: State) -> None:
        value = ev.handler(self, msg, state, {}, Callback([]))  # type: ignore[misc]
        if asyncio.iscoroutine(value):
            await value
