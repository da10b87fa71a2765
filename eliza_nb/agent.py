"""The agent loop of elizaOS: a text model decides what the agent does with a message.

``process_message`` runs :func:`respond` when a ``TEXT_LARGE`` or ``TEXT_SMALL`` model is
registered (without one it keeps the rule-based routing). For one stored message it:

1. composes the state (providers, recent messages, usable actions);
2. renders the character, the state, the usable actions and the message into a prompt
   (:func:`render_prompt`) and asks ``TEXT_LARGE`` (else ``TEXT_SMALL``) for a decision;
3. parses the answer (:func:`parse_decision`) and stores its text as the agent's memory;
4. runs the chosen actions in order, storing their responses;
5. runs the evaluators.

The answer format the prompt asks for is one JSON object::

    {"thought": "why", "text": "what to say", "actions": ["ACTION_NAME", ...]}

Tolerated as well: the object inside prose or a ```json fence, ``"action"`` (one name, or names
separated by commas) instead of ``"actions"``, a dict (from an object model), and the XML form of
elizaOS 1.x, ``<response><thought>..</thought><actions>A,B</actions><text>..</text></response>``.
The names ``REPLY`` and ``NONE`` run nothing (the text is said), ``IGNORE`` says nothing, unless
an action of that name is registered.

Nothing here raises into the runtime. The model step is recorded like an action run (a metric
row whose ``action`` is the model type) and a failure gets a code and a reply saying so:
``MODEL_ERROR`` (an answer that cannot be parsed, or a model that raised a foreign exception),
``TIMEOUT`` (no answer within the ``MODEL_TIMEOUT`` setting, 120 s by default), the model's own
code when it raised an ``ElizaError`` (``API_ERROR``, ...), and ``ACTION_NOT_FOUND`` for a
chosen action that does not exist.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from eliza_nb._checks import shown
from eliza_nb.errors import Code, ElizaError, ModelNotFoundError
from eliza_nb.handler_output import error_info
from eliza_nb.models import ModelEntry, call_model
from eliza_nb.types import ActionResult, Content, ErrorInfo, Memory, State

if TYPE_CHECKING:
    from eliza_nb.character import Character
    from eliza_nb.dispatcher import Dispatcher
    from eliza_nb.models import ModelRegistry
    from eliza_nb.records import MetricsRecorder
    from eliza_nb.registry import Registry
    from eliza_nb.settings import Settings

__all__ = [
    "DEFAULT_MODEL_TIMEOUT",
    "Decision",
    "DecisionParseError",
    "parse_decision",
    "render_prompt",
    "respond",
]

log = logging.getLogger("eliza_nb")


class PromptContext(Protocol):
    """What rendering a prompt reads: an ``AgentRuntime`` or its message loop."""

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

    async def compose_state(self, message: Any = None) -> State: ...

    async def evaluate(self, msg: Memory, state: State) -> None: ...

    async def say(self, msg: Memory, content: Content) -> None: ...

    async def run_named(self, name: str, msg: Memory, state: State) -> ActionResult | None: ...


DEFAULT_MODEL_TIMEOUT = 120.0
_PSEUDO = frozenset({"REPLY", "NONE", "IGNORE"})
_KEYS = frozenset({"text", "actions", "action"})
_XML_TAG = re.compile(r"<(thought|text|actions?)>(.*?)</\1>", re.S | re.I)
_DECODER = json.JSONDecoder()
_FORMAT = """# Answer format
Answer with one JSON object and nothing else:
{"thought": "<why, in one sentence>", "text": "<what you say to the user>", "actions": ["<ACTION>"]}
Use only action names listed above, in the order they should run; use [] when none fits."""


@dataclass(frozen=True, slots=True)
class Decision:
    """What the model decided: its reasoning, what to say, which actions to run."""

    thought: str = ""
    text: str = ""
    actions: tuple[str, ...] = ()


class DecisionParseError(ValueError):
    """The model's answer is not in the answer format (nor in a tolerated variant)."""


# -- parsing ----------------------------------------------------------------------------
def parse_decision(answer: Any) -> Decision:
    """Read a model's answer as a :class:`Decision` (the formats are in the module docstring).

    Raises:
        DecisionParseError: the answer is empty, holds no object with ``text`` or ``actions``,
            or a field has the wrong type.
    """
    if isinstance(answer, Decision):
        return answer
    if isinstance(answer, Mapping):
        return _from_mapping(answer)
    if not isinstance(answer, str):
        raise DecisionParseError(f"expected text or a dict, got {type(answer).__name__}")
    text = answer.strip()
    if not text:
        raise DecisionParseError("the answer is empty")
    found = _first_object(text)
    if found is not None:
        return _from_mapping(found)
    tags = {m.group(1).lower(): m.group(2).strip() for m in _XML_TAG.finditer(text)}
    if tags.keys() & _KEYS:
        return _from_mapping(tags)
    raise DecisionParseError("no JSON object with 'text' or 'actions' and no <response> tags")


def _first_object(text: str) -> dict[str, Any] | None:
    for match in re.finditer(r"\{", text):
        try:
            obj, _ = _DECODER.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(obj, dict) and obj.keys() & _KEYS:
            return obj
    return None


def _from_mapping(data: Mapping[str, Any]) -> Decision:
    if not data.keys() & _KEYS:
        raise DecisionParseError("the answer has neither 'text' nor 'actions'")
    text, thought = data.get("text"), data.get("thought")
    for name, value in (("text", text), ("thought", thought)):
        if value is not None and not isinstance(value, str):
            raise DecisionParseError(f"'{name}' must be a string, got {type(value).__name__}")
    names = _names(data.get("actions", data.get("action")))
    return Decision(thought or "", text or "", names)


def _names(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise DecisionParseError(f"'actions' must be a list of names, got {type(value).__name__}")
    out: dict[str, str] = {}
    for item in items:
        name = item.get("name") if isinstance(item, Mapping) else item
        if not isinstance(name, str):
            raise DecisionParseError(f"'actions' must hold names, got {item!r}")
        if name.strip():
            out.setdefault(name.strip().upper(), name.strip())
    return tuple(out.values())


# -- prompt -----------------------------------------------------------------------------
def render_prompt(runtime: PromptContext, state: State, message: Memory) -> str:
    """The prompt of the agent loop: character, context, conversation, actions, message, format.

    Provider values are masked: no secret reaches a remote model.
    """
    mask = runtime.settings.masker.mask
    parts = [_character_block(runtime)]
    if state.values:
        parts.append(
            "# Context\n" + "\n".join(f"## {k}\n{mask(str(v))}" for k, v in state.values.items())
        )
    earlier = [m for m in state.recent_messages if m.id != message.id]
    if earlier:
        parts.append(
            "# Conversation\n" + "\n".join(f"{m.user_id}: {m.content.text}" for m in earlier)
        )
    parts.append("# Available actions\n" + _actions_block(runtime, state))
    parts.append(f"# Message\n{message.user_id}: {message.content.text}")
    parts.append(_FORMAT)
    return "\n\n".join(parts)


def _character_block(runtime: PromptContext) -> str:
    char = runtime.character
    if char is None:
        return f"# You\nYou are {runtime.agent_id}, a helpful agent."
    lines = [f"# You\nYou are {char.name}."]
    lines += char.bio
    lines += char.lore[:3]
    style = [*char.style.get("all", []), *char.style.get("chat", [])]
    for label, values in (
        ("Topics", char.topics),
        ("Adjectives", char.adjectives),
        ("Style", style),
    ):
        if values:
            lines.append(f"{label}: {'; '.join(values)}")
    return "\n".join(lines)


def _actions_block(runtime: PromptContext, state: State) -> str:
    lines = []
    for name in state.actions:
        entry = runtime.registry.find(name)
        if entry is None:
            continue
        act = entry[0]
        also = f" (also: {', '.join(act.similes)})" if act.similes else ""
        lines.append(f"- {act.name}: {act.description or 'no description'}{also}")
    return "\n".join(lines) or "(none: answer with text only)"


# -- the loop ---------------------------------------------------------------------------
def model_timeout(settings: Settings) -> float:
    """Seconds to wait for the model: the ``MODEL_TIMEOUT`` setting, else 120."""
    raw = settings.get("MODEL_TIMEOUT")
    try:
        value = float(raw) if raw not in (None, "") else DEFAULT_MODEL_TIMEOUT
    except (TypeError, ValueError):
        value = -1.0
    if not 0 < value < math.inf:
        log.warning(
            "MODEL_TIMEOUT=%r is not a positive number; using %s s", raw, DEFAULT_MODEL_TIMEOUT
        )
        return DEFAULT_MODEL_TIMEOUT
    return value


async def respond(
    loop: Loop, message: Memory, *, timeout: float | None = None
) -> list[ActionResult]:
    """Run the agent loop for a message that is already stored (``process_message`` stores it).

    Returns the model step's result first (``action`` is the model type, ``text`` the reply,
    ``data`` the thought and chosen actions), then one result per chosen action. Failures come
    back as results with ``success=False`` (see the module docstring); nothing is raised.

    Raises:
        ModelNotFoundError: no text model is registered (``process_message`` checks first).
    """
    entry = loop.models.text_model()
    if entry is None:
        raise ModelNotFoundError(
            "The agent loop needs a TEXT_LARGE or TEXT_SMALL model: register a model plugin first."
        )
    state = await loop.compose_state(message)
    step, decision = await _decide(loop, entry, message, state, timeout)
    results = [step]
    if decision is None or _speaks(loop, decision):
        await loop.say(message, step.responses[0])
    for name in decision.actions if decision is not None else ():
        result = await _run_action(loop, name, message, state)
        if result is not None:
            results.append(result)
    await loop.evaluate(message, state)
    return results


def _speaks(loop: Loop, decision: Decision) -> bool:
    """A decision's text is said unless it is empty or the model chose the IGNORE pseudo-action."""
    ignored = "IGNORE" in decision.actions and loop.registry.find("IGNORE") is None
    return bool(decision.text) and not ignored


async def _decide(
    loop: Loop, entry: ModelEntry, msg: Memory, state: State, timeout: float | None
) -> tuple[ActionResult, Decision | None]:
    run_id = loop.recorder.new_run_id()
    step = ActionResult(run_id, entry.model_type, entry.plugin, False, started=time.time())
    t0 = time.perf_counter()
    limit = timeout if timeout is not None else model_timeout(loop.settings)
    answer: Any = None
    try:  # a provider value that cannot be rendered fails the step, not the runtime
        params = {
            "prompt": render_prompt(loop, state, msg),
            "system": _system(loop),
            "message": msg.content.text,
            "actions": list(state.actions),
        }
        async with asyncio.timeout(limit):  # in this task: SystemExit cannot escape the loop
            answer = await call_model(loop.owner, entry, params)
        decision = parse_decision(answer)
    except Exception as exc:
        return _step(loop, step, msg, t0, None, _failure(entry, exc, limit, answer)), None
    return _step(loop, step, msg, t0, decision, None), decision


def _system(ctx: PromptContext) -> str:
    char = ctx.character
    if char is not None and char.system:
        return char.system
    return f"You are {ctx.agent_id}. Answer in the JSON format the prompt gives."


def _failure(entry: ModelEntry, exc: Exception, limit: float, answer: Any) -> ErrorInfo:
    if isinstance(exc, TimeoutError):
        return ErrorInfo(
            code=Code.TIMEOUT,
            error_type="TimeoutError",
            message=(
                f"{entry.model_type} of {entry.plugin} gave no answer within {limit:g} s; raise "
                "the MODEL_TIMEOUT setting or use a faster model"
            ),
        )
    if isinstance(exc, DecisionParseError):
        return ErrorInfo(
            code=Code.MODEL_ERROR,
            error_type="DecisionParseError",
            message=(
                f"{entry.model_type} of {entry.plugin} gave an answer that cannot be parsed "
                f"({exc}): {shown(answer, 200)}"
            ),
        )
    code = exc.code if isinstance(exc, ElizaError) else Code.MODEL_ERROR
    return error_info(exc, code=code)


def _apology(info: ErrorInfo) -> str:
    if info.code == Code.MODEL_ERROR:
        return "Sorry, I could not make sense of my model's answer (MODEL_ERROR)."
    if info.code == Code.TIMEOUT:
        return "Sorry, my model did not answer in time (TIMEOUT)."
    return f"Sorry, my model failed ({info.code}): {info.message}"


def _step(
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
    actions = list(decision.actions)
    step.responses = [
        Content(
            text=decision.text, thought=decision.thought, actions=actions, in_reply_to=str(msg.id)
        )
    ]
    step.success, step.text = True, decision.text or None
    step.data = {"thought": decision.thought, "actions": actions}
    return step


async def _run_action(loop: Loop, name: str, msg: Memory, state: State) -> ActionResult | None:
    if loop.registry.find(name) is not None:
        return await loop.run_named(name, msg, state)
    if name.upper() in _PSEUDO:
        return None
    result = loop.dispatcher.not_found(name, msg)
    reply = Content(
        text=f"Sorry, I cannot do {name}: there is no such action (ACTION_NOT_FOUND).",
        error=Code.ACTION_NOT_FOUND,
        in_reply_to=str(msg.id),
    )
    result.responses.append(reply)
    result.text = reply.text
    await loop.say(msg, reply)
    return result
