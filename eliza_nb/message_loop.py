"""The message loop: from what a user says to the actions that run and the memories kept.

It owns turning input into a ``Memory`` (:meth:`MessageLoop.to_memory`, the one place text is
checked), composing the ``State`` (providers run concurrently, a failing one is recorded and
left out), ``process_message`` (store the message, route it to an action by name or simile, run
it through the dispatcher, keep the replies, run the evaluators) and, when a text model is
registered, hands the message to the elizaOS agent loop of :mod:`eliza_nb.agent`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import ValidationError as PydanticValidationError

from eliza_nb import agent
from eliza_nb._calls import call_hook
from eliza_nb._checks import (
    check_text,
    from_pydantic,
    one_line,
    printable,
    room_arg,
    text_arg,
)
from eliza_nb.chains import check_names, run_chain
from eliza_nb.dispatcher import check_state
from eliza_nb.errors import Code, ValidationError
from eliza_nb.events import EventType
from eliza_nb.handler_output import Callback, error_info
from eliza_nb.providers import (
    DEFAULT_PROVIDER_TIMEOUT,
    as_provider_result,
    provider_failure,
    provider_names,
)
from eliza_nb.settings import seconds_setting
from eliza_nb.tracing import Tracer
from eliza_nb.types import ActionResult, Content, Memory, ProviderResult, State, quick_message

if TYPE_CHECKING:
    from eliza_nb.character import Character
    from eliza_nb.dispatcher import Dispatcher
    from eliza_nb.events import EventEmitter
    from eliza_nb.memory import MemoryManager
    from eliza_nb.models import ModelRegistry
    from eliza_nb.plugin import Evaluator, Provider
    from eliza_nb.records import MetricsRecorder
    from eliza_nb.registry import Registry
    from eliza_nb.settings import Settings

__all__ = ["MessageLoop"]

log = logging.getLogger("eliza_nb")
M = TypeVar("M", Memory, Content)
_SKIPPED = "skipped"  # an evaluator whose validate said no (not an error code)


class MessageLoop:
    """Messages in, state composed, actions routed and run, evaluators, replies remembered.

    Its collaborators are public attributes (the agent loop of :mod:`eliza_nb.agent` uses
    them): ``owner`` (the runtime handed to providers and evaluators), ``dispatcher``,
    ``registry``, ``recorder``, ``settings``, ``models``, ``events``, ``messages``.
    """

    def __init__(
        self,
        owner: Any,
        dispatcher: Dispatcher,
        settings: Settings,
        models: ModelRegistry,
        events: EventEmitter,
        messages: MemoryManager,
        character: Character | None,
    ) -> None:
        self.owner = owner
        self.dispatcher = dispatcher
        #: The runtime's tracer: each stage below is a span while it is enabled.
        self.tracer: Tracer = dispatcher.tracer
        self.registry: Registry = dispatcher.registry
        self.recorder: MetricsRecorder = dispatcher.recorder
        self.settings = settings
        self.models = models
        self.events = events
        self.messages = messages
        self.character = character
        self.agent_id = character.name if character else "agent"
        #: Rooms marked as group conversations: the agent loop asks whether to respond there.
        self.group_rooms: set[str] = set()

    # -- input --------------------------------------------------------------------------
    def to_memory(
        self, message: Any, *, room_id: str | None = None, user_id: str = "user"
    ) -> Memory:
        """Coerce text, ``Content``, a dict or a ``Memory`` into a ``Memory`` of this agent.

        Raises:
            ValidationError: the message is of another type or malformed (the field is named).
            ElizaError: the runtime is closed (code ``RUNTIME_CLOSED``).
        """
        self.registry.require_open()
        if room_id is not None:
            room_id = room_arg(room_id)
        if user_id != "user":
            text_arg(user_id, "user_id")
        if message is None or isinstance(message, str):
            if message and not message.isascii():  # ASCII (the usual case) needs no check
                check_text(message, "text")
            # The hot path: a fresh message without validation (all fields are known good).
            return quick_message(message or "", user_id, self.agent_id, room_id or "default")
        if isinstance(message, Memory):
            _check_memory(message)
            return message if room_id is None else message.model_copy(update={"room_id": room_id})
        if isinstance(message, dict) and "content" in message:
            fields = {"agent_id": self.agent_id, **message}
            if room_id is not None:
                fields["room_id"] = room_id
            return _check_memory(_validated(Memory, fields))
        content = _content(message)
        check_text(content.text, "text")
        return Memory(
            user_id=user_id, agent_id=self.agent_id, room_id=room_id or "default", content=content
        )

    # -- state --------------------------------------------------------------------------
    async def compose_state(
        self,
        message: Any = None,
        include: Sequence[str] | None = None,
        only_include: bool = False,
        *,
        room_id: str | None = None,
        recent: int = 10,
    ) -> State:
        """Build the agent's ``State`` for a message, as elizaOS 1.7's ``composeState``.

        The providers that are neither private nor dynamic, plus those ``include`` names (only
        those with ``only_include``), run concurrently, each under the ``PROVIDER_TIMEOUT``
        setting. Their texts are joined in position order into ``state.text``, their values
        merged into ``state.values``, each result kept in ``state.data["providers"]``. A
        provider that fails or times out is recorded (``PROVIDER_ERROR`` / ``TIMEOUT``) and
        left out.

        Raises:
            ValidationError: ``include`` is not a list of provider names, or names an
                unknown one (the registered ones are listed).
        """
        msg = self.to_memory(message, room_id=room_id)
        chosen = self._chosen(include, only_include)
        with self.tracer.span("state", "compose_state", include=include) as span:
            state = await self._compose(msg, chosen, recent)
            if span is not None:
                span.set(providers=list(state.data["providers"]), text=state.text)
            return state

    async def _compose(self, msg: Memory, chosen: list[tuple[Provider, str]], recent: int) -> State:
        recent_messages = await self.messages.get_memories(msg.room_id, recent)
        state = State(recent_messages=recent_messages).masked_with(self.settings.masker)
        limit = seconds_setting(self.settings, "PROVIDER_TIMEOUT", DEFAULT_PROVIDER_TIMEOUT)
        results = await asyncio.gather(*(self._provide(p, o, msg, state, limit) for p, o in chosen))
        texts, found = [], {}
        for (provider, _), result in zip(chosen, results, strict=True):
            if result is None:
                continue
            found[provider.name] = result
            state.values.update(result.values)
            if result.text:
                texts.append(result.text)
        state.data["providers"] = found
        state.text = "\n\n".join(texts)
        state.actions = await self._usable_actions(msg, state)
        return state

    def _chosen(
        self, include: Sequence[str] | None, only_include: bool
    ) -> list[tuple[Provider, str]]:
        """The providers to compose, in position order (ties keep registration order)."""
        named = provider_names(include, self.registry.providers)
        if only_include:
            chosen = [(p, o) for p, o in self.registry.providers if p.name.upper() in named]
        else:
            chosen = [
                (p, o)
                for p, o in self.registry.providers
                if p.name.upper() in named or not (p.private or p.dynamic)
            ]
        return sorted(chosen, key=lambda entry: entry[0].position)

    async def _provide(
        self, provider: Provider, owner: str, msg: Memory, state: State, limit: float
    ) -> ProviderResult | None:
        """One provider's result, masked as it enters; None (recorded) when it fails."""
        with self.tracer.span("provider", provider.name, plugin=owner) as span:
            try:
                async with asyncio.timeout(limit):
                    value = provider.get(self.owner, msg, state)  # type: ignore[misc]
                    if provider.get_is_async or asyncio.iscoroutine(value):
                        value = await value
                result = as_provider_result(provider.name, value, self.settings.masker)
            except Exception as exc:
                info = self.recorder.failure(
                    None, owner, provider.name, provider_failure(exc, limit)
                )
                log.warning(
                    "provider %s.%s failed [%s]: %s", owner, provider.name, info.code, info.message
                )
                if span is not None:
                    span.fail(info.code)  # the code the error log holds (TIMEOUT, PROVIDER_ERROR)
                return None
            if span is not None:
                span.set(text=result.text, values=result.values)
            return result

    async def _usable_actions(self, msg: Memory, state: State) -> list[str]:
        usable = []
        for act in {id(a): a for a, _ in self.registry.actions.values()}.values():
            try:
                if act.validate is None or await self.dispatcher.validate(act, msg, state):
                    usable.append(act.name)
            except Exception as exc:
                # The eliza_nb log records are masked as they are made (observability).
                log.warning(
                    "validate of %s raised while composing state: %s", act.name, printable(exc)
                )
        return sorted(usable)

    async def render_prompt(self, message: Any = None, *, room_id: str | None = None) -> str:
        """The exact prompt the agent loop would send the model for ``message``, masked.

        The state is composed as the loop would (providers run); nothing is stored.
        """
        msg = self.to_memory(message, room_id=room_id)
        state = await self.compose_state(msg)
        return agent.render_prompt(self, state, msg)

    # -- chains -------------------------------------------------------------------------
    async def execute_actions(
        self,
        names: Sequence[str],
        message: Any = None,
        options: Mapping[str, Any] | None = None,
        *,
        state: State | None = None,
        room_id: str | None = None,
        timeout: float | None = None,
        thought: str = "",
        responses: Sequence[Content] = (),
    ) -> list[ActionResult]:
        """Run a chain of actions (see :mod:`eliza_nb.chains`); the results of the steps run.

        Without ``state`` the state is composed for the message first.
        """
        check_names(names)
        msg = self.to_memory(message, room_id=room_id)
        given = check_state(state)
        if given is None:
            state = await self.compose_state(msg)
        else:  # the chain's own: its steps' values and results must not reach the caller's
            update = {"values": dict(given.values), "data": dict(given.data)}
            state = given.model_copy(deep=False, update=update)
        with self.tracer.span("chain", ",".join(names), thought=thought) as span:
            results = await run_chain(
                self.dispatcher,
                names,
                msg,
                state,
                options=options,
                timeout=timeout,
                thought=thought,
                responses=responses,
            )
            if span is not None:
                span.set(steps=[r.action for r in results])
                span.fail(next((r.error_code for r in results if not r.success), None))
        return results

    # -- messages -----------------------------------------------------------------------
    async def process_message(
        self, message: Any, *, room_id: str | None = None
    ) -> list[ActionResult]:
        """Store a message, route it to an action, run it, then run the evaluators.

        Routing: ``content.action`` if set, else the first action name or simile found in the
        text (words, any case). With a text model registered the model decides instead (the
        agent loop of :func:`eliza_nb.agent.respond`). Returns the results of what ran.
        """
        msg = self.to_memory(message, room_id=room_id)
        text = msg.content.text
        name = text if len(text) <= 40 else text[:39] + "…"
        attributes = {"room_id": msg.room_id, "user_id": msg.user_id, "text": text}
        with self.tracer.span("message", name, **attributes) as span:
            results = await self._process(msg)
            if span is not None:
                for result in results:
                    result.trace_id = span.trace_id
                span.set(results=[(r.action, r.success, r.text) for r in results])
                span.fail(next((r.error_code for r in results if not r.success), None))
        return results

    async def _process(self, msg: Memory) -> list[ActionResult]:
        await self.messages.create_memory(msg)
        payload = {"room_id": msg.room_id, "user_id": msg.user_id, "text": msg.content.text}
        await self.events.emit(EventType.MESSAGE_RECEIVED, {**payload, "message": msg})
        if self.models.text_model() is not None:
            return await agent.respond(self, msg)
        state = await self.compose_state(msg)
        named = msg.content.action
        result = await self.run_named(named or "", msg, state, in_text=not named)
        await self.evaluate(msg, state)
        return [] if result is None else [result]

    async def run_named(
        self, name: str, msg: Memory, state: State, *, in_text: bool = False
    ) -> ActionResult | None:
        """Run the action ``name`` names (or, ``in_text``, the first one the text names).

        An unknown name is a recorded ``ACTION_NOT_FOUND`` result; no action in the text is
        None. The action's replies are kept as the agent's memories.
        """
        registry = self.registry
        entry = registry.find_in_text(msg.content.text) if in_text else registry.find(name)
        if entry is None:
            return None if in_text else self.dispatcher.not_found(name, msg)
        result = await self.dispatcher.run(entry[0], entry[1], msg, state=state)
        await self.remember_reply(result, msg)
        return result

    async def remember_reply(self, result: ActionResult, msg: Memory) -> None:
        """Keep what an action said (its responses, else its text) as the agent's memories.

        A TypeScript plugin's result speaks only through its responses (``ActionResult.quiet``),
        and an empty response (IGNORE passing on an empty decision) says nothing.
        """
        spoken = result.text and not result.quiet
        replies = result.responses or ([Content(text=result.text)] if spoken else [])
        for content in replies:
            if not content.text and not content.attachments:
                continue
            if content.action is None:
                content = content.model_copy(update={"action": result.action})
            await self.say(msg, content)

    async def say(self, msg: Memory, content: Content) -> None:
        """Store ``content`` as the agent's message in the room of ``msg``."""
        await self.messages.create_memory(
            Memory(
                user_id=self.agent_id, agent_id=self.agent_id, room_id=msg.room_id, content=content
            )
        )

    async def evaluate(self, msg: Memory, state: State) -> None:
        """Run every evaluator whose ``always_run`` is set or whose ``validate`` passes.

        A failing one is recorded (code ``EVALUATOR_ERROR``) and the others still run.
        """
        for ev, owner in list(self.registry.evaluators):
            with self.tracer.span("evaluator", ev.name, plugin=owner) as span:
                code = await self._evaluate(ev, owner, msg, state)
                if span is not None:
                    span.fail(code if code is not _SKIPPED else None)
                    span.set(ran=code is not _SKIPPED)
            if code is _SKIPPED:
                continue
            payload: dict[str, Any] = {"evaluator": ev.name, "plugin": owner}
            payload |= {"room_id": msg.room_id, "success": code is None, "error_code": code}
            await self.events.emit(EventType.EVALUATOR_COMPLETED, payload)

    async def _evaluate(self, ev: Evaluator, owner: str, msg: Memory, state: State) -> Any:
        """Run one evaluator: None when it succeeded, its error code, or ``_SKIPPED``."""
        try:
            if not await self._wanted(ev, msg, state):
                return _SKIPPED
            await self._run_evaluator(ev, msg, state)
        except Exception as exc:
            failure = error_info(exc, code=Code.EVALUATOR_ERROR)
            info = self.recorder.failure(None, owner, ev.name, failure)
            log.warning("evaluator %s.%s failed: %s", owner, ev.name, info.message)
            return info.code
        return None

    async def _wanted(self, ev: Evaluator, msg: Memory, state: State) -> bool:
        if ev.always_run or ev.validate is None:
            return True
        return bool(await call_hook(ev.validate, self.owner, msg, state))

    async def _run_evaluator(self, ev: Evaluator, msg: Memory, state: State) -> None:
        callback = Callback([], self.settings.masker)
        value = ev.handler(self.owner, msg, state, {}, callback)  # type: ignore[misc]
        if asyncio.iscoroutine(value):
            await value


def _content(message: Any) -> Content:
    if isinstance(message, Content):
        return message
    if isinstance(message, dict):
        return _validated(Content, message)
    raise ValidationError(
        f"message must be text, a dict, Content or Memory, got {type(message).__name__}",
        field="message",
    )


def _validated(model: type[M], fields: dict[str, Any]) -> M:
    try:
        return model.model_validate(fields)
    except PydanticValidationError as exc:
        raise from_pydantic(exc, "message is malformed", field="message") from None
    except Exception as exc:  # a validator that raised something pydantic does not wrap
        raise ValidationError(
            f"message is malformed: {type(exc).__name__}: {one_line(exc)}", field="message"
        ) from None


def _check_memory(memory: Memory) -> Memory:
    for field in ("room_id", "user_id", "agent_id"):
        check_text(getattr(memory, field), field)
    check_text(memory.content.text, "text")
    return memory
