"""A deterministic model plugin: scripted answers and hash-based embeddings, all offline.

Use it wherever a plugin or the agent loop needs a model and a test (or a notebook) must give
the same result on every run:

Example:
    >>> import asyncio
    >>> from eliza_nb.testing import DeterministicModel, create_test_runtime
    >>> model = DeterministicModel(replies=['{"text": "Hi!", "actions": []}'])
    >>> rt = asyncio.run(create_test_runtime(plugins=[model.plugin]))
    >>> rt.run_sync(rt.use_model("TEXT_LARGE", prompt="Hello"))
    '{"text": "Hi!", "actions": []}'
    >>> len(rt.run_sync(rt.use_model("TEXT_EMBEDDING", text="hello")))
    64

Text models answer, in order: the next scripted reply; else ``responder(params)`` if given;
else a default, which depends on what the agent loop asks (the ``stage`` of its params):

- ``stage="should_respond"``: the XML answer of :data:`eliza_nb.prompts.SHOULD_RESPOND_TEMPLATE`,
  always ``<action>RESPOND</action>``, named for the runtime's agent;
- ``stage="message_handler"``, or any prompt that contains ``<response>``: the XML decision of
  :data:`eliza_nb.prompts.MESSAGE_HANDLER_TEMPLATE`, ``<actions>`` naming the chosen action
  (else ``REPLY``) and ``<text>`` saying ``default_text``;
- no stage, but ``actions`` in the params (the JSON agent loop): the same decision as a JSON
  object, ``{"thought": ..., "text": ..., "actions": [...]}``;
- anything else: ``default_text``.

The chosen action is the first usable one (listed in ``params["actions"]``) whose name or
simile appears in the message, as the rule-based routing would choose. Object models answer
the next scripted reply as a dict.

Example:
    >>> from eliza_nb.prompts import parse_key_value_xml
    >>> answer = rt.run_sync(rt.use_model(
    ...     "TEXT_LARGE", stage="message_handler", prompt="...", message="Hi & bye", actions=[]))
    >>> answer.startswith("<response><thought>")
    True
    >>> decision = parse_key_value_xml(answer)
    >>> decision["actions"], decision["text"]
    (['REPLY'], 'I heard: Hi & bye')
    >>> rt.close()
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import re
from collections import deque
from collections.abc import Callable, Iterable
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol
from xml.sax.saxutils import escape

from eliza_nb.models import ModelType
from eliza_nb.plugin import Plugin

if TYPE_CHECKING:
    from eliza_nb.registry import Registry

__all__ = ["DeterministicModel", "hash_embedding"]

_WORD = re.compile(r"\w+")


class _Routing(Protocol):
    """What the model reads of the runtime it is called with: the registry, to pick an action."""

    @property
    def registry(self) -> Registry: ...


def hash_embedding(text: str | None, dim: int = 64) -> list[float]:
    """A unit vector of hashed words: equal texts are equal, texts sharing words are close.

    Stable across processes (blake2b, not ``hash()``); the empty text gives zeros.
    """
    vector = [0.0] * dim
    for word in _WORD.findall((text or "").lower()):
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        index = int.from_bytes(digest[:4], "big") % dim
        vector[index] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm else vector


class DeterministicModel:
    """A model plugin whose answers are fixed in advance (``model.plugin`` to register).

    Args:
        replies: Scripted answers, used once each in order by the text and object models. An
            item may be a string, a dict (sent as JSON text, or as-is to object models), an
            exception (raised), or a function ``fn(params)`` (sync or async) whose return is
            the answer: a function that never returns simulates a model that hangs.
        default_text: What the default answer says; ``{message}`` is replaced by the message.
        responder: ``responder(params)`` answers once the script is used up.
        dim: Length of the embeddings.
        name, priority: The plugin's name and priority (higher wins over other model plugins).

    Attributes:
        calls: Every call as ``(model_type, params)``, for assertions on prompts.
    """

    __test__ = False

    def __init__(
        self,
        replies: Iterable[Any] = (),
        *,
        default_text: str = "I heard: {message}",
        responder: Callable[[dict[str, Any]], Any] | None = None,
        dim: int = 64,
        name: str = "deterministic-model",
        priority: int = 0,
    ) -> None:
        self.script: deque[Any] = deque(replies)
        self.default_text = default_text
        self.responder = responder
        self.dim = dim
        self.name = name
        self.priority = priority
        self.calls: list[tuple[str, dict[str, Any]]] = []

    @cached_property
    def plugin(self) -> Plugin:
        """The plugin serving every ``ModelType`` with this model."""
        return Plugin(
            name=self.name,
            description="Offline test model: scripted answers, hashed embeddings",
            priority=self.priority,
            models={
                ModelType.TEXT_SMALL: self._text_small,
                ModelType.TEXT_LARGE: self._text_large,
                ModelType.TEXT_EMBEDDING: self._embedding,
                ModelType.OBJECT_SMALL: self._object_small,
                ModelType.OBJECT_LARGE: self._object_large,
            },
        )

    def add_replies(self, *replies: Any) -> None:
        """Append answers to the script."""
        self.script.extend(replies)

    async def _text_small(self, runtime: _Routing, params: dict[str, Any]) -> Any:
        return await self._text(ModelType.TEXT_SMALL, runtime, params)

    async def _text_large(self, runtime: _Routing, params: dict[str, Any]) -> Any:
        return await self._text(ModelType.TEXT_LARGE, runtime, params)

    async def _object_small(self, runtime: _Routing, params: dict[str, Any]) -> Any:
        return _as_object(await self._answer(ModelType.OBJECT_SMALL, runtime, params))

    async def _object_large(self, runtime: _Routing, params: dict[str, Any]) -> Any:
        return _as_object(await self._answer(ModelType.OBJECT_LARGE, runtime, params))

    def _embedding(self, runtime: _Routing, params: dict[str, Any]) -> list[float]:
        self.calls.append((ModelType.TEXT_EMBEDDING.value, dict(params)))
        return hash_embedding(params.get("text"), self.dim)

    async def _text(self, kind: ModelType, runtime: _Routing, params: dict[str, Any]) -> Any:
        answer = await self._answer(kind, runtime, params)
        return json.dumps(answer) if isinstance(answer, dict) else answer

    async def _answer(self, kind: ModelType, runtime: _Routing, params: dict[str, Any]) -> Any:
        self.calls.append((kind.value, dict(params)))
        if self.script:
            item = self.script.popleft()
        elif self.responder is not None:
            item = self.responder
        else:
            return self._default(runtime, params)
        if isinstance(item, BaseException):
            raise item
        if callable(item):
            item = item(params)
            if inspect.isawaitable(item):
                item = await item
        return item

    def _default(self, runtime: _Routing, params: dict[str, Any]) -> Any:
        stage = params.get("stage")
        if stage == "should_respond":
            return _should_respond_xml(str(getattr(runtime, "agent_id", "agent")))
        message = str(params.get("message", params.get("prompt", "")))
        text = self.default_text.replace("{message}", message)
        xml = stage == "message_handler" or "<response>" in str(params.get("prompt", ""))
        if not xml and "actions" not in params:
            return text
        chosen = _chosen(runtime, message, params.get("actions") or [])
        thought = f"The message asks for {chosen[0]}." if chosen else "No action fits; I reply."
        if xml:
            return _decision_xml(thought, chosen or ["REPLY"], text)
        return json.dumps({"thought": thought, "text": text, "actions": chosen})

    def __repr__(self) -> str:
        return (
            f"DeterministicModel(name={self.name!r}, scripted={len(self.script)}, "
            f"calls={len(self.calls)})"
        )


def _chosen(runtime: _Routing, message: str, actions: Iterable[str]) -> list[str]:
    """The first usable action named in the message (by name or simile), as a list of 0 or 1."""
    usable = {str(a).upper() for a in actions}
    entry = runtime.registry.find_in_text(message)
    return [entry[0].name] if entry is not None and entry[0].name.upper() in usable else []


def _decision_xml(thought: str, actions: list[str], text: str) -> str:
    # Escaped: a message with "<" or "&" must not break the answer's XML.
    return (
        f"<response><thought>{escape(thought)}</thought><actions>{escape(','.join(actions))}"
        f"</actions><providers></providers><text>{escape(text)}</text></response>"
    )


def _should_respond_xml(agent: str) -> str:
    return (
        f"<response><name>{escape(agent)}</name><reasoning>This test model answers every "
        "message.</reasoning><action>RESPOND</action></response>"
    )


def _as_object(answer: Any) -> Any:
    if isinstance(answer, str):
        try:
            return json.loads(answer)
        except ValueError:
            return {"text": answer}
    return answer
