"""The agent loop of elizaOS 1.7: a text model decides what the agent does with a message.

``process_message`` runs :func:`respond` when a ``TEXT_LARGE`` or ``TEXT_SMALL`` model is
registered (without one it keeps the rule-based routing). For one stored message:

1. **should respond** — only when the setting ``CHECK_SHOULD_RESPOND`` is true or the room is a
   group (``runtime.mark_group(room_id)``, or ``content.channel_type == "GROUP"``): the
   should-respond prompt goes to ``TEXT_SMALL``; ``IGNORE`` or ``STOP`` ends the turn;
2. **state** — the providers compose the state (:meth:`MessageLoop.compose_state`);
3. **prompt** — the message-handler template (:data:`eliza_nb.prompts.MESSAGE_HANDLER_TEMPLATE`,
   or the character's ``templates["messageHandlerTemplate"]``) filled from the state;
4. **model** — ``TEXT_LARGE`` (else ``TEXT_SMALL``) answers, within the ``MODEL_TIMEOUT``
   setting (120 s by default);
5. **parse** — the XML answer ``<response><thought/><actions>A,B</actions><providers/><text/>
   </response>`` read by :func:`eliza_nb.prompts.parse_key_value_xml` (the JSON answer
   ``{"thought", "text", "actions"}`` of earlier versions is still accepted);
6. the providers the model names are composed into the state, the decision's text is said,
   the chosen actions run as a chain (:mod:`eliza_nb.chains`), then the evaluators.

``REPLY`` and ``NONE`` run nothing (the text is said), ``IGNORE`` says nothing, unless an action
of that name is registered. Nothing here raises into the runtime: the decision is recorded like
an action run (a run row whose ``action`` is the model type) and a failure is blamed on its
stage, with a reply saying so: ``STATE_ERROR``, ``PROMPT_ERROR``, ``MODEL_ERROR`` (or the
model's own code, ``TIMEOUT``), ``PARSE_ERROR``; an action's failure keeps its code
(``ACTION_NOT_FOUND`` for a name that does not exist) and an evaluator's is
``EVALUATOR_ERROR``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from eliza_nb import prompts
from eliza_nb._checks import shown
from eliza_nb.decisions import Decision, DecisionParseError, parse_decision
from eliza_nb.errors import Code, ModelNotFoundError
from eliza_nb.handler_output import error_info
from eliza_nb.models import ModelEntry, call_model, model_error_code
from eliza_nb.settings import seconds_setting
from eliza_nb.types import ActionResult, Content, ErrorInfo, Memory, State

if TYPE_CHECKING:
    from eliza_nb.character import Character
    from eliza_nb.dispatcher import Dispatcher
    from eliza_nb.models import ModelRegistry
    from eliza_nb.records import MetricsRecorder
    from eliza_nb.registry import Registry
    from eliza_nb.settings import Settings
    from eliza_nb.tracing import Tracer

__all__ = [
    "DEFAULT_MODEL_TIMEOUT",
    "Decision",
    "DecisionParseError",
    "parse_decision",
    "prompt_state",
    "respond",
    "should_check",
]

log = logging.getLogger("eliza_nb")


class PromptContext(Protocol):
    """What building a prompt reads: the message loop (or an ``AgentRuntime``)."""

    settings: Settings
    character: Character | None
    agent_id: str
    registry: Registry


class Loop(PromptContext, Protocol):
    """What the agent loop uses of the message loop (:class:`eliza_nb.message_loop.MessageLoop`)."""

    owner: Any
    models: ModelRegistry
    recorder: MetricsRecorder
    dispatcher: Dispatcher
    tracer: Tracer
    group_rooms: set[str]

    async def compose_state(
        self, message: Any = None, include: Sequence[str] | None = None
    ) -> State: ...

    async def execute_actions(
        self,
        names: Sequence[str],
        message: Any = None,
        *,
        state: State,
        thought: str,
        responses: Sequence[Content],
    ) -> list[ActionResult]: ...

    async def evaluate(self, msg: Memory, state: State) -> None: ...

    async def say(self, msg: Memory, content: Content) -> None: ...

    async def remember_reply(self, result: ActionResult, msg: Memory) -> None: ...


DEFAULT_MODEL_TIMEOUT = 120.0
_PSEUDO = frozenset({"REPLY", "NONE", "IGNORE"})


class _StageError(Exception):
    """A stage of the loop failed: ``code`` blames it, ``__cause__`` is what it raised."""

    def __init__(self, code: str, cause: BaseException) -> None:
        super().__init__(code)
        self.code = code
        self.__cause__ = cause


# -- prompt -----------------------------------------------------------------------------
def prompt_state(ctx: PromptContext, state: State, message: Memory) -> State:
    """``state`` with what the runtime knows added to its values, for a prompt template.

    Added (a provider's value of the same name wins): ``agentName``, ``bio``, ``system``,
    ``topics``, ``adjectives``, ``style``, ``senderName``, ``message``, ``recentMessages``
    (the room's conversation, this message last), ``actionNames``, ``actions`` (one
    ``- NAME: description`` line each, with similes and parameters), ``providers`` (the
    providers' text) and ``providerNames`` (the providers the model may ask for).
    """
    values = {**_known_values(ctx, state, message), **state.values}
    return state.model_copy(update={"values": values})


def _known_values(ctx: PromptContext, state: State, message: Memory) -> dict[str, Any]:
    char = ctx.character
    name = char.name if char is not None else ctx.agent_id
    lines = [m for m in state.recent_messages if m.id != message.id] + [message]
    style = [*char.style.get("all", []), *char.style.get("chat", [])] if char else []
    return {
        "agentName": name,
        "bio": " ".join(char.bio) if char else f"{name} is a helpful agent.",
        "system": char.system if char and char.system else "",
        "topics": ", ".join(char.topics) if char else "",
        "adjectives": ", ".join(char.adjectives) if char else "",
        "style": "\n".join(f"- {s}" for s in style),
        "senderName": message.user_id,
        "message": message.content.text,
        "recentMessages": "\n".join(f"{m.user_id}: {m.content.text}" for m in lines),
        "actionNames": ", ".join(state.actions),
        "actions": _actions_block(ctx, state),
        "providers": state.text,
        "providerNames": ", ".join(_askable(ctx, state)) or "none",
    }


def _actions_block(ctx: PromptContext, state: State) -> str:
    from eliza_nb.parameters import describe_parameters

    lines = []
    for name in state.actions:
        entry = ctx.registry.find(name)
        if entry is None:
            continue
        act = entry[0]
        line = f"- {act.name}: {act.description or 'no description'}"
        if act.similes:
            line += f" (also: {', '.join(act.similes)})"
        if act.parameters is not None:
            line += f" [parameters: {describe_parameters(act.parameters)}]"
        lines.append(line)
    return "\n".join(lines) or "(none: answer with text only, actions REPLY)"


def _askable(ctx: PromptContext, state: State) -> list[str]:
    composed = state.data.get("providers", {})
    return [p.name for p, _ in ctx.registry.providers if p.dynamic and p.name not in composed]


def render_prompt(ctx: PromptContext, state: State, message: Memory) -> str:
    """The message-handler prompt for ``message`` (the character's template, else ours), masked."""
    template = prompts.template_for(ctx.character, "messageHandlerTemplate")
    return prompts.compose_prompt(template, prompt_state(ctx, state, message))


def should_check(loop: Loop, message: Memory) -> bool:
    """Whether the should-respond step runs: ``CHECK_SHOULD_RESPOND``, or a group room."""
    flag = str(loop.settings.get("CHECK_SHOULD_RESPOND") or "").strip().lower()
    if flag in ("1", "true", "yes", "on"):
        return True
    kind = (message.content.model_extra or {}).get("channel_type")
    return message.room_id in loop.group_rooms or str(kind).upper() == "GROUP"


# -- the loop ---------------------------------------------------------------------------
async def respond(
    loop: Loop, message: Memory, *, timeout: float | None = None
) -> list[ActionResult]:
    """Run the agent loop for a message that is already stored (``process_message`` stores it).

    Returns the decision's result first (``action`` is the model type, ``text`` the reply,
    ``data`` the thought, chosen actions and providers), then one result per step of the
    chain that ran. Failures come back as results with ``success=False``; nothing is raised.

    Raises:
        ModelNotFoundError: no text model is registered (``process_message`` checks first).
    """
    entry = loop.models.text_model()
    if entry is None:
        raise ModelNotFoundError(
            "The agent loop needs a TEXT_LARGE or TEXT_SMALL model: register a model plugin first."
        )
    limit = (
        timeout
        if timeout is not None
        else seconds_setting(loop.settings, "MODEL_TIMEOUT", DEFAULT_MODEL_TIMEOUT)
    )
    if should_check(loop, message):
        gate = await _should_respond(loop, message, limit)
        if gate is not None:
            return [gate]
    step, decision, state = await _decide(loop, entry, message, limit)
    if decision is None or state is None:
        await loop.say(message, step.responses[0])
        if state is not None:
            await loop.evaluate(message, state)
        return [step]
    return [step, *await _act(loop, message, decision, state, step)]


async def _act(
    loop: Loop, message: Memory, decision: Decision, state: State, step: ActionResult
) -> list[ActionResult]:
    """Say the decision's text, compose the providers it names, run its chain, evaluate."""
    names = _chain(loop, decision)
    if _speaks(loop, decision, names):
        await loop.say(message, step.responses[0])
    asked = [p for p in decision.providers if _provider_known(loop, p)]
    if asked:
        state = await loop.compose_state(message, asked)
    results = await loop.execute_actions(
        names, message, state=state, thought=decision.thought, responses=step.responses
    )
    for result in results:
        if result.error_code == Code.ACTION_NOT_FOUND:
            await _cannot(loop, result, message)
        else:
            await loop.remember_reply(result, message)
    await loop.evaluate(message, state)
    return results


def _provider_known(loop: Loop, name: str) -> bool:
    return any(p.name.upper() == name.upper() for p, _ in loop.registry.providers)


def _chain(loop: Loop, decision: Decision) -> list[str]:
    """The actions to run, read as elizaOS 1.7 reads them.

    REPLY alone, with a text and no providers, is elizaOS's simple mode: the text is the
    reply and nothing runs. REPLY, NONE and IGNORE run only when a plugin (bootstrap)
    registers them.
    """
    actions = list(decision.actions)
    simple = [a.upper() for a in actions] == ["REPLY"] and not decision.providers
    if simple and decision.text:
        return []
    return [n for n in actions if loop.registry.find(n) or n.upper() not in _PSEUDO]


def _speaks(loop: Loop, decision: Decision, names: list[str]) -> bool:
    """A decision's text is said unless it is empty, the model chose IGNORE, or a registered
    REPLY or IGNORE runs: those speak through their callback (elizaOS's actions mode)."""
    chosen = {a.upper() for a in decision.actions}
    speakers = {n.upper() for n in names if loop.registry.find(n)} & {"REPLY", "IGNORE"}
    return bool(decision.text) and "IGNORE" not in chosen and not speakers


async def _cannot(loop: Loop, result: ActionResult, message: Memory) -> None:
    reply = Content(
        text=f"Sorry, I cannot do {result.action}: there is no such action (ACTION_NOT_FOUND).",
        error=Code.ACTION_NOT_FOUND,
        in_reply_to=str(message.id),
    )
    result.responses.append(reply)
    result.text = reply.text
    await loop.say(message, reply)


async def _decide(
    loop: Loop, entry: ModelEntry, msg: Memory, limit: float
) -> tuple[ActionResult, Decision | None, State | None]:
    """Compose the state, render the prompt, ask the model, parse: each stage blamed alone."""
    step = _new_step(loop, entry)
    t0 = time.perf_counter()
    state: State | None = None
    answer: Any = None
    try:
        state = await _stage(Code.STATE_ERROR, loop.compose_state(msg))
        with loop.tracer.span("prompt", "message_handler") as span:
            prompt = _stage_now(Code.PROMPT_ERROR, render_prompt, loop, state, msg)
            if span is not None:
                span.set(prompt=prompt)
        params = _params(loop, state, msg, prompt)
        answer = await _ask(loop, entry, params, limit)
        with loop.tracer.span("parse", "decision", answer=answer) as span:
            decision = _stage_now(Code.PARSE_ERROR, parse_decision, answer)
            if span is not None:
                span.set(decision=_shown_decision(decision))
    except _StageError as exc:
        info = _failure(entry, exc, limit, answer)
        return _record(loop, step, msg, t0, None, info), None, state
    return _record(loop, step, msg, t0, decision, None), decision, state


async def _should_respond(loop: Loop, msg: Memory, limit: float) -> ActionResult | None:
    """The should-respond step: None to go on, else the recorded result that ends the turn."""
    with loop.tracer.span("should_respond", msg.room_id) as span:
        gate = await _gate(loop, msg, limit)
        if span is not None:
            span.set(verdict="RESPOND" if gate is None else gate.data["should_respond"])
        return gate


async def _gate(loop: Loop, msg: Memory, limit: float) -> ActionResult | None:
    entry = loop.models.text_model(small=True)
    assert entry is not None  # respond() checked that a text model is served
    step = _new_step(loop, entry)
    t0 = time.perf_counter()
    answer: Any = None
    try:
        state = await _stage(Code.STATE_ERROR, loop.compose_state(msg))
        template = prompts.template_for(loop.character, "shouldRespondTemplate")
        view = _stage_now(Code.PROMPT_ERROR, prompt_state, loop, state, msg)
        prompt = _stage_now(Code.PROMPT_ERROR, prompts.compose_prompt, template, view)
        params = {"prompt": prompt, "message": msg.content.text, "stage": "should_respond"}
        answer = await _ask(loop, entry, params, limit)
        verdict = _stage_now(Code.PARSE_ERROR, _verdict, answer)
    except _StageError as exc:  # a broken gate must not silence the agent: it goes on
        _record(loop, step, msg, t0, None, _failure(entry, exc, limit, answer))
        return None
    step.data = {"stage": "should_respond", "should_respond": verdict}
    _record(loop, step, msg, t0, Decision(), None)
    step.text = None
    return None if verdict == "RESPOND" else step


def _verdict(answer: Any) -> str:
    verdict = prompts.parse_should_respond(answer if isinstance(answer, str) else "")
    if verdict is None:
        raise DecisionParseError(f"no RESPOND, IGNORE or STOP in {shown(answer, 120)}")
    return verdict


def _shown_decision(decision: Decision) -> dict[str, Any]:
    """What a parse span shows of the decision."""
    return {
        "thought": decision.thought,
        "text": decision.text,
        "actions": list(decision.actions),
        "providers": list(decision.providers),
    }


def _params(loop: Loop, state: State, msg: Memory, prompt: str) -> dict[str, Any]:
    char = loop.character
    return {
        "prompt": prompt,
        "system": char.system if char is not None and char.system else _system(loop),
        "message": msg.content.text,
        "actions": list(state.actions),
        "providers": [p.name for p, _ in loop.registry.providers],
        "stage": "message_handler",
    }


def _system(ctx: PromptContext) -> str:
    return f"You are {ctx.agent_id}. Answer in the XML format the prompt gives."


async def _stage(code: str, awaitable: Any) -> Any:
    try:
        return await awaitable
    except Exception as exc:
        raise _StageError(code, exc) from exc


def _stage_now(code: str, fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception as exc:
        raise _StageError(code, exc) from exc


async def _ask(loop: Loop, entry: ModelEntry, params: dict[str, Any], limit: float) -> Any:
    try:
        async with asyncio.timeout(limit):  # in this task: SystemExit cannot escape the loop
            return await call_model(loop.owner, entry, params)
    except TimeoutError as exc:
        raise _StageError(Code.TIMEOUT, exc) from exc
    except Exception as exc:
        raise _StageError(model_error_code(exc), exc) from exc


def _failure(entry: ModelEntry, exc: _StageError, limit: float, answer: Any) -> ErrorInfo:
    cause = exc.__cause__
    assert isinstance(cause, BaseException)
    who = f"{entry.model_type} of {entry.plugin}"
    if exc.code == Code.TIMEOUT and isinstance(cause, TimeoutError):
        message = f"{who} gave no answer within {limit:g} s; raise the MODEL_TIMEOUT setting"
        return ErrorInfo(code=Code.TIMEOUT, error_type="TimeoutError", message=message)
    if exc.code == Code.PARSE_ERROR:
        message = f"{who} gave an answer that cannot be parsed ({cause}): {shown(answer, 200)}"
        return ErrorInfo(code=Code.PARSE_ERROR, error_type=type(cause).__name__, message=message)
    info = error_info(cause, code=exc.code)
    if exc.code in (Code.STATE_ERROR, Code.PROMPT_ERROR):
        stage = "composing the state" if exc.code == Code.STATE_ERROR else "building the prompt"
        info.message = f"{stage} failed before the model was asked: {info.message}"
    return info


_APOLOGIES = {
    Code.PARSE_ERROR: "Sorry, I could not make sense of my model's answer (PARSE_ERROR).",
    Code.TIMEOUT: "Sorry, my model did not answer in time (TIMEOUT).",
    Code.STATE_ERROR: "Sorry, I could not gather what I know (STATE_ERROR).",
    Code.PROMPT_ERROR: "Sorry, I could not write my model's prompt (PROMPT_ERROR).",
}


def _apology(info: ErrorInfo) -> str:
    return _APOLOGIES.get(info.code, f"Sorry, my model failed ({info.code}): {info.message}")


def _new_step(loop: Loop, entry: ModelEntry) -> ActionResult:
    return ActionResult(
        loop.recorder.new_run_id(), entry.model_type, entry.plugin, False, started=time.time()
    )


def _record(
    loop: Loop,
    step: ActionResult,
    msg: Memory,
    t0: float,
    decision: Decision | None,
    info: ErrorInfo | None,
) -> ActionResult:
    """Record the model step (a run row, and an error row on failure) and fill its result."""
    step.duration_ms = (time.perf_counter() - t0) * 1000.0
    code = info.code if info is not None else None
    loop.recorder.run(
        step.run_id, step.plugin, step.action, step.started, step.duration_ms, msg.room_id, code
    )
    if info is not None:
        step.error = info = loop.recorder.failure(step.run_id, step.plugin, step.action, info)
        log.warning(
            "agent loop: %s.%s failed [%s]: %s", step.plugin, step.action, info.code, info.message
        )
        reply = Content(text=_apology(info), error=info.code, in_reply_to=str(msg.id))
        step.text, step.responses = reply.text, [reply]
        return step
    assert decision is not None
    actions, providers = list(decision.actions), list(decision.providers)
    step.responses = [
        Content(
            text=decision.text, thought=decision.thought, actions=actions, in_reply_to=str(msg.id)
        )
    ]
    step.success, step.text = True, decision.text or None
    if step.data is None:
        step.data = {"thought": decision.thought, "actions": actions, "providers": providers}
    return step
