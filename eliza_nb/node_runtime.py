"""The runtime a TypeScript plugin sees, answered from the Python ``AgentRuntime``.

The Node side (``eliza_nb/js/bridge.mjs``) gives each TS call a ``runtime`` object whose
methods come here, one per elizaOS name, in :data:`ASYNC` and :data:`SYNC`. What the TS code
gets back is in elizaOS's shapes (:mod:`eliza_nb.node_shapes`); what it hands in (a callback's
content, a stored memory) enters through the same paths as a Python plugin's, so it is
masked the same way. A secret reaches the TS side only through ``getSetting``: the Node process
inherits none of our environment.

A method not listed here fails on the Node side with a message naming it and the plugin.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from eliza_nb._calls import call_hook
from eliza_nb.errors import ValidationError
from eliza_nb.memory import MemoryManager
from eliza_nb.models import ModelRuntime
from eliza_nb.node_shapes import (
    content_from_js,
    memory_from_js,
    memory_to_js,
    state_from_js,
    state_to_js,
)

if TYPE_CHECKING:
    from eliza_nb.node_bridge import Call
    from eliza_nb.plugin import Plugin
    from eliza_nb.registry import Registry
    from eliza_nb.store.base import MemoryStore
    from eliza_nb.tracing import Tracer
    from eliza_nb.types import State

__all__ = ["ASYNC", "CONVERSATION_LENGTH", "SYNC", "NodeHost", "NodeRuntime"]

#: elizaOS's default number of recent messages (``getConversationLength``).
CONVERSATION_LENGTH = 32
_ROOM_SCAN = 200  # how many recent messages of a room name its entities


class NodeHost(ModelRuntime, Protocol):
    """What of the ``AgentRuntime`` the bridge uses: what plugins see, and a little more."""

    registry: Registry
    store: MemoryStore
    tracer: Tracer
    loop: Any  # the MessageLoop: its group_rooms say which rooms are groups

    async def compose_state(  # type: ignore[override]  # elizaOS's include / only_include too
        self, message: Any = None, include: Any = None, only_include: bool = False
    ) -> State: ...

    async def register_plugin(self, plugin: Plugin) -> None: ...


class NodeRuntime:
    """Answers the runtime calls of the TS plugins of one ``AgentRuntime``."""

    def __init__(self, runtime: NodeHost) -> None:
        self.runtime = runtime
        self._tables: dict[str, MemoryManager] = {"messages": runtime.messages}

    def call(self, method: str, args: list[Any], call: Call) -> Awaitable[Any]:
        """The answer to ``runtime.<method>(*args)`` made by the TS code serving ``call``."""
        handler = ASYNC.get(method)
        if handler is None:
            raise ValidationError(f"the bridge has no runtime.{method}", field="method")
        return handler(self, call, *args)

    def call_sync(self, method: str, args: list[Any]) -> Any:
        """The answer to a synchronous ``runtime.<method>(*args)`` (from the bridge's thread)."""
        return SYNC[method](self, *args)

    # -- helpers ----------------------------------------------------------------------------
    def table(self, name: Any) -> MemoryManager:
        """The memory manager of an elizaOS table name (``messages`` unless said)."""
        name = str(name or "messages")
        if name not in self._tables:
            rt = self.runtime
            self._tables[name] = MemoryManager(rt, rt.store, name, rt.tracer)
        return self._tables[name]

    def memory(self, value: Any) -> Any:
        """A memory the TS code passed in, as a ``Memory`` of this agent."""
        if not isinstance(value, Mapping):
            raise ValidationError("expected an elizaOS Memory object", field="memory")
        return memory_from_js(value, self.runtime.agent_id)

    def entity(self, entity_id: str) -> dict[str, Any]:
        """elizaOS's ``Entity`` for an id: the agent under its character's name, else the id."""
        rt = self.runtime
        name = rt.character.name if rt.character and entity_id == rt.agent_id else entity_id
        return {"id": entity_id, "names": [name], "metadata": {}, "components": []}

    async def room_entities(self, room_id: str) -> list[str]:
        """The ids of who spoke in a room (the agent first), from its recent messages."""
        memories = await self.runtime.messages.get_memories(room_id, _ROOM_SCAN)
        return list(dict.fromkeys([self.runtime.agent_id, *(m.user_id for m in memories)]))


# -- the asynchronous surface ---------------------------------------------------------------
async def _use_model(rt: NodeRuntime, call: Call, model_type: str, params: Any = None) -> Any:
    return await rt.runtime.use_model(model_type, dict(params or {}))


async def _compose_state(
    rt: NodeRuntime, call: Call, message: Any, include: Any = None, only: Any = False, *_: Any
) -> Any:
    known = {p.name.upper(): p.name for p, _owner in rt.runtime.registry.providers}
    # elizaOS skips names it does not know; compose_state refuses them.
    names = [known[n.upper()] for n in include or [] if isinstance(n, str) and n.upper() in known]
    state = await rt.runtime.compose_state(rt.memory(message), names or None, bool(only))
    return state_to_js(state)


async def _create_memory(
    rt: NodeRuntime, call: Call, memory: Any, table: Any = None, *_: Any
) -> str:
    stored = await rt.table(table).create_memory(rt.memory(memory))
    return str(stored.id)


async def _get_memories(rt: NodeRuntime, call: Call, params: Any) -> list[dict[str, Any]]:
    params = dict(params or {})
    if not params.get("roomId"):
        raise ValidationError(
            "getMemories needs a roomId (eliza_nb keeps memories by room)", field="roomId"
        )
    count = int(params.get("count") or params.get("limit") or 10)
    found = await rt.table(params.get("tableName")).get_memories(str(params["roomId"]), count)
    return [memory_to_js(m) for m in found]


async def _memories_by_rooms(rt: NodeRuntime, call: Call, params: Any) -> list[dict[str, Any]]:
    params = dict(params or {})
    out: list[dict[str, Any]] = []
    for room in params.get("roomIds") or []:
        got = {**params, "roomId": room}
        out += await _get_memories(rt, call, got)
    return out


async def _search_memories(rt: NodeRuntime, call: Call, params: Any) -> list[dict[str, Any]]:
    params = dict(params or {})
    room = params.get("roomId")
    if not room:
        raise ValidationError("searchMemories needs a roomId", field="roomId")
    found = await rt.table(params.get("tableName")).search_memories(
        str(room),
        query=params.get("query"),
        embedding=params.get("embedding"),
        top_k=int(params.get("count") or params.get("limit") or 10),
    )
    return [memory_to_js(m) for m in found]


async def _delete_memory(rt: NodeRuntime, call: Call, memory_id: Any, *_: Any) -> bool:
    return bool(await rt.runtime.messages.remove_memory(str(memory_id)))


async def _count_memories(rt: NodeRuntime, call: Call, room_id: Any, *_: Any) -> int:
    return int(await rt.runtime.messages.count_memories(str(room_id)))


async def _emit_event(rt: NodeRuntime, call: Call, event: Any, params: Any = None) -> None:
    payload = {k: v for k, v in dict(params or {}).items() if k != "runtime"}
    for name in event if isinstance(event, list) else [event]:
        await rt.runtime.emit(str(name), payload)


async def _get_room(rt: NodeRuntime, call: Call, room_id: Any) -> dict[str, Any]:
    room = str(room_id)
    group = room in rt.runtime.loop.group_rooms
    return {
        "id": room,
        "name": room,
        "source": "eliza_nb",
        "type": "GROUP" if group else "DM",
        "agentId": rt.runtime.agent_id,
    }


async def _entity_by_id(rt: NodeRuntime, call: Call, entity_id: Any) -> dict[str, Any]:
    return rt.entity(str(entity_id))


async def _room_entities(
    rt: NodeRuntime, call: Call, room_id: Any, *_: Any
) -> list[dict[str, Any]]:
    return [rt.entity(e) for e in await rt.room_entities(str(room_id))]


async def _participants(rt: NodeRuntime, call: Call, room_id: Any) -> list[str]:
    return await rt.room_entities(str(room_id))


async def _rooms_for(rt: NodeRuntime, call: Call, *_: Any) -> list[str]:
    return []  # eliza_nb keeps no participant table: no other rooms are known


async def _callback(rt: NodeRuntime, call: Call, content: Any, files: Any = None) -> list[Any]:
    if call.extra is None:
        raise ValidationError(f"{call.op} {call.name} has no callback", field="callback")
    await call.extra(content_from_js(content), files or None)
    return []


async def _validate_part(
    rt: NodeRuntime, call: Call, kind: str, name: str, message: Any, state: Any = None
) -> bool:
    registry = rt.runtime.registry
    parts = registry.evaluators if kind == "evaluators" else list(registry.actions.values())
    part = next((p for p, _ in parts if p.name == name), None)
    if part is None or part.validate is None:
        return part is not None
    return bool(
        await call_hook(part.validate, rt.runtime, rt.memory(message), state_from_js(state))
    )


async def _service_call(rt: NodeRuntime, call: Call, name: str, method: str, args: Any) -> Any:
    service = rt.runtime.get_service(name)
    fn = getattr(service, method, None)
    if service is None or method.startswith("_") or not callable(fn):
        raise ValidationError(f"service {name!r} has no method {method!r}", field="method")
    value = fn(*(args or []))
    return await value if inspect.isawaitable(value) else value


ASYNC: dict[str, Callable[..., Awaitable[Any]]] = {
    "useModel": _use_model,
    "composeState": _compose_state,
    "createMemory": _create_memory,
    "getMemories": _get_memories,
    "getMemoriesByRoomIds": _memories_by_rooms,
    "searchMemories": _search_memories,
    "deleteMemory": _delete_memory,
    "countMemories": _count_memories,
    "emitEvent": _emit_event,
    "getRoom": _get_room,
    "getEntityById": _entity_by_id,
    "getEntitiesForRoom": _room_entities,
    "getParticipantsForRoom": _participants,
    "getRoomsForParticipants": _rooms_for,
    "callback": _callback,
    "validatePart": _validate_part,
    "serviceCall": _service_call,
}


# -- the synchronous surface (answered on the bridge's thread, never on the loop) ---------------
def _get_setting(rt: NodeRuntime, key: Any) -> Any:
    return rt.runtime.get_setting(str(key))


def _conversation_length(rt: NodeRuntime) -> int:
    return int(rt.runtime.get_setting("CONVERSATION_LENGTH", CONVERSATION_LENGTH))


def _has_service(rt: NodeRuntime, name: Any) -> bool:
    return rt.runtime.get_service(str(name)) is not None


def _model_types(rt: NodeRuntime) -> list[str]:
    return rt.runtime.models.types()


SYNC: dict[str, Callable[..., Any]] = {
    "getSetting": _get_setting,
    "getConversationLength": _conversation_length,
    "hasService": _has_service,
    "getModelTypes": _model_types,
}
