"""What a runtime shows: frames, the snapshot, state composition and message routing.

A mixin of ``AgentRuntime``, kept apart so runtime.py stays about registration and execution.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any, cast

from eliza_nb import frames
from eliza_nb._calls import call_hook
from eliza_nb._execution import Callback, error_info
from eliza_nb._parity import RuntimeParity
from eliza_nb.agent import respond
from eliza_nb.plugin import Evaluator, Provider
from eliza_nb.types import ActionResult, Content, ErrorInfo, Memory, State

if TYPE_CHECKING:
    from collections.abc import Mapping

    import pandas as pd

    from eliza_nb.character import Character
    from eliza_nb.memory import MemoryManager
    from eliza_nb.records import MetricsRecorder
    from eliza_nb.registry import Registry
    from eliza_nb.runtime import AgentRuntime
    from eliza_nb.settings import Settings
    from eliza_nb.store import MemoryStore
    from eliza_nb.store.base import TimeBound

log = logging.getLogger("eliza_nb")
_SKIPPED = object()


def _printable(value: Any) -> str:
    """``str(value)``, or a placeholder when a provider's value cannot print itself."""
    try:
        return str(value)
    except Exception as exc:  # a broken __str__ must not break state composition
        return f"<{type(value).__name__}: unprintable ({type(exc).__name__})>"


class RuntimeViews(RuntimeParity):
    """Frames, snapshot, ``compose_state`` and ``process_message`` of ``AgentRuntime``."""

    registry: Registry
    metrics: MetricsRecorder
    settings: Settings
    store: MemoryStore
    messages: MemoryManager
    character: Character | None
    agent_id: str
    default_timeout: float | None
    _services: dict[str, Any]

    if TYPE_CHECKING:

        def to_memory(
            self, message: Any, *, room_id: str | None = None, user_id: str = "user"
        ) -> Memory: ...

        async def execute_action(
            self,
            name: str,
            message: Any = None,
            *,
            options: Mapping[str, Any] | None = None,
            state: State | None = None,
            room_id: str | None = None,
            timeout: float | None = None,
        ) -> ActionResult: ...

        async def _execute(self, *args: Any) -> ActionResult: ...

        async def _validate(self, action: Any, msg: Memory, state: State | None) -> bool: ...

    # -- frames -------------------------------------------------------------------------
    def metrics_frame(
        self,
        action: str | None = None,
        *,
        start: TimeBound = None,
        end: TimeBound = None,
        session_id: int | None = None,
    ) -> pd.DataFrame:
        """One row per action execution: ``run_id, plugin, action, started_at, duration_ms,
        success, error_code, room_id, session_id``. ``action`` filters by name, ``start``/``end``
        (datetime, ISO string or epoch s) by time, ``session_id`` by runtime session. With a
        database file it holds the runs of earlier sessions too."""
        found = self.registry.find(action) if isinstance(action, str) else None
        if found is not None:  # any case or simile names the action, as in execute_action
            action = found[0].name
        return frames.run_history(self.metrics, action, start=start, end=end, session_id=session_id)

    def errors_frame(
        self, *, start: TimeBound = None, end: TimeBound = None, session_id: int | None = None
    ) -> pd.DataFrame:
        """One row per logged error (secrets masked); filters as in ``metrics_frame``."""
        return frames.error_history(self.metrics, start=start, end=end, session_id=session_id)

    def memories_frame(
        self,
        room_id: str | None = None,
        *,
        table: str | None = None,
        start: TimeBound = None,
        end: TimeBound = None,
    ) -> pd.DataFrame:
        """One row per stored memory, optionally of one room, one table (``"messages"``,
        ``"notes"``, ...) and a time range; the ``table`` column says which."""
        rows = self.store.memory_rows(room_id, table, start=start, end=end)
        return frames.memories_frame(rows)

    def components_frame(self) -> pd.DataFrame:
        """One row per registered action, provider, evaluator, service, model and event handler
        list (``kind`` says which)."""
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
                stype = getattr(cls, "service_type", "")
                rows.append((pname, "service", stype, (cls.__doc__ or "").strip(), []))
            for model_type, handler in plugin.models.items():
                doc = (getattr(handler, "__doc__", None) or "").strip().split("\n")[0]
                rows.append((pname, "model", str(model_type), doc, []))
            for event, handlers in plugin.events.items():
                rows.append((pname, "event", str(event), f"{len(handlers)} handler(s)", []))
        return frames.components_frame(rows)

    def metrics_summary(
        self, *, start: TimeBound = None, end: TimeBound = None, session_id: int | None = None
    ) -> pd.DataFrame:
        """Per action: runs, successes, failures, success_rate, mean/p50/p95/max ms (then
        min/total ms); over the same history and filters as ``metrics_frame``."""
        return frames.summary_history(self.metrics, start=start, end=end, session_id=session_id)

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
                "models": sorted(str(m) for m in p.models),
                "events": sorted(str(e) for e in p.events),
                "services": sorted(
                    getattr(s if isinstance(s, type) else type(s), "service_type", "")
                    for s in p.services
                ),
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
        state_values = {
            p.name: v for (p, _), v in zip(providers, values, strict=True) if v is not _SKIPPED
        }
        recent_messages = await self.messages.get_memories(msg.room_id, recent)
        partial = State(values=state_values, recent_messages=recent_messages)
        partial._masker = self.settings.masker
        usable = []
        for act in {id(a): a for a, _ in self.registry.actions.values()}.values():
            try:
                if act.validate is None or await self._validate(act, msg, partial):
                    usable.append(act.name)
            except Exception as exc:
                log.warning(
                    "validate of %s raised while composing state: %s",
                    act.name,
                    self.settings.masker.mask(str(exc)),
                )
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
            self.metrics.errors.append(
                (
                    time.time(),
                    None,
                    owner,
                    provider.name,
                    info.code,
                    info.error_type,
                    info.message,
                    info.traceback,
                )
            )
            log.warning("provider %s.%s failed: %s", owner, provider.name, info.message)
            return _SKIPPED

    def _render_state(self, state: State) -> str:
        lines: list[str] = []
        if self.character is not None:
            lines.append(f"# {self.character.name}")
            lines += [f"- {b}" for b in self.character.bio]
        for name, value in state.values.items():
            lines.append(f"## {name}\n{self.settings.masker.mask(_printable(value))}")
        if state.recent_messages:
            lines.append("## Recent messages")
            lines += [f"{m.user_id}: {m.content.text}" for m in state.recent_messages]
        if state.actions:
            lines.append(f"## Actions\n{', '.join(state.actions)}")
        return "\n".join(lines)

    # -- messages -----------------------------------------------------------------------
    async def process_message(
        self, message: Any, *, room_id: str | None = None
    ) -> list[ActionResult]:
        """Store a message, route it to an action, run it, then run the evaluators.

        Routing: ``content.action`` if set, else the first action name or simile found in the
        text (words, any case). The action's responses are stored as the agent's memories.
        Evaluators run when ``always_run`` is set or their ``validate`` passes.
        Returns the results of the actions that ran ([] when none matched).

        With a text model registered (``TEXT_LARGE`` or ``TEXT_SMALL``) the model decides
        instead: this becomes the elizaOS agent loop of :func:`eliza_nb.agent.respond`.
        """
        msg = self.to_memory(message, room_id=room_id)
        await self.messages.create_memory(msg)
        await self._message_received(msg)
        if self.models.text_model() is not None:
            return await respond(cast("AgentRuntime", self), msg)
        state = await self.compose_state(msg)
        results: list[ActionResult] = []
        named = msg.content.action
        entry = self.registry.find(named) if named else self.registry.find_in_text(msg.content.text)
        if named and entry is None:
            results.append(self._not_found(named, msg))
        elif entry is not None:
            action, plugin = entry
            limit = action.timeout or self.default_timeout  # as execute_action does
            result = await self._dispatch(action, plugin, msg, state, {}, limit)
            results.append(result)
            await self._remember_reply(result, msg)
        await self._evaluate(msg, state)
        return results

    def _not_found(self, name: str, msg: Memory) -> ActionResult:
        """A recorded failure for a message that names an unknown action."""
        run_id = next(self._run_ids)  # type: ignore[attr-defined]
        now = time.time()
        info = ErrorInfo(
            code="ACTION_NOT_FOUND",
            message=f"No action named {name!r}",
            error_type="ActionNotFoundError",
        )
        self.metrics.runs.append((run_id, "", name, now, 0.0, False, info.code, msg.room_id))
        self.metrics.errors.append(
            (now, run_id, "", name, info.code, info.error_type, info.message, "")
        )
        return ActionResult(run_id, name, "", False, None, None, [], info, now, 0.0)

    async def _remember_reply(self, result: ActionResult, msg: Memory) -> None:
        replies = result.responses or ([Content(text=result.text)] if result.text else [])
        for content in replies:
            if content.action is None:
                content = content.model_copy(update={"action": result.action})
            await self.messages.create_memory(
                Memory(
                    user_id=self.agent_id,
                    agent_id=self.agent_id,
                    room_id=msg.room_id,
                    content=content,
                )
            )

    async def _evaluate(self, msg: Memory, state: State) -> None:
        for ev, owner in list(self.registry.evaluators):
            try:
                if (
                    ev.always_run
                    or ev.validate is None
                    or await call_hook(ev.validate, self, msg, state)
                ):
                    await self._run_evaluator(ev, msg, state)
                    await self._evaluator_completed(ev.name, owner, msg, None)
            except Exception as exc:
                info = error_info(exc, self.settings.masker)
                self.metrics.errors.append(
                    (
                        time.time(),
                        None,
                        owner,
                        ev.name,
                        info.code,
                        info.error_type,
                        info.message,
                        info.traceback,
                    )
                )
                log.warning("evaluator %s.%s failed: %s", owner, ev.name, info.message)
                await self._evaluator_completed(ev.name, owner, msg, info.code)

    async def _run_evaluator(self, ev: Evaluator, msg: Memory, state: State) -> None:
        value = ev.handler(self, msg, state, {}, Callback([]))  # type: ignore[misc]
        if asyncio.iscoroutine(value):
            await value
