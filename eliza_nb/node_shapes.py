"""eliza_nb's types in the shapes elizaOS's TypeScript code reads, and back.

elizaOS names fields in camelCase and keys a memory by ``entityId`` / ``roomId``; eliza_nb's
pydantic models use snake_case and ``user_id`` / ``room_id``. These functions are the only
place the two meet, so the bridge's other modules speak one dialect each:

- :func:`memory_to_js` / :func:`memory_from_js`, :func:`content_to_js` / :func:`content_from_js`;
- :func:`state_to_js` (``values.providers`` is the composed text, as ``composeState`` sets it)
  and :func:`state_from_js`;
- :func:`options_to_js`: ``action_context`` / ``action_plan`` / ``parameters`` as elizaOS's
  ``actionContext`` / ``actionPlan`` / ``parameters``;
- :func:`result_from_js`: what a TS handler returned, as ``fold_return`` reads it (a 1.7
  ``ActionResult`` keeps ``success, text, values, data, error``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from eliza_nb.errors import Code
from eliza_nb.parameters import RESERVED_OPTIONS
from eliza_nb.types import ActionResult, Content, ErrorInfo, Memory, ProviderResult, State

__all__ = [
    "content_from_js",
    "content_to_js",
    "example_from_js",
    "memory_from_js",
    "memory_to_js",
    "options_to_js",
    "provider_result_from_js",
    "result_from_js",
    "result_to_js",
    "state_from_js",
    "state_to_js",
]

# Python field <-> elizaOS field, for the Content keys that are spelled differently.
_CONTENT_KEYS = {"in_reply_to": "inReplyTo", "channel_type": "channelType"}
_CONTENT_KEYS_BACK = {js: py for py, js in _CONTENT_KEYS.items()}


def content_to_js(content: Content) -> dict[str, Any]:
    """A ``Content`` as elizaOS's ``Content`` (``actions`` a list, ``inReplyTo``)."""
    out: dict[str, Any] = {
        _CONTENT_KEYS.get(k, k): v for k, v in (content.model_extra or {}).items()
    }
    out["text"] = content.text
    if content.action and "actions" not in out:
        out["actions"] = [content.action]
    for key in ("source", "url", "in_reply_to"):
        value = getattr(content, key)
        if value is not None:
            out[_CONTENT_KEYS.get(key, key)] = value
    if content.attachments:
        out["attachments"] = content.attachments
    return out


def content_from_js(value: Any) -> dict[str, Any]:
    """elizaOS ``Content`` (or a plain string) as the dict a ``Content`` is validated from."""
    if isinstance(value, str):
        return {"text": value}
    if not isinstance(value, Mapping):
        return {"text": "" if value is None else str(value)}
    out = {_CONTENT_KEYS_BACK.get(str(k), str(k)): v for k, v in value.items() if v is not None}
    if not isinstance(out.get("text", ""), str):
        out["text"] = str(out["text"])
    return out


def memory_to_js(memory: Memory) -> dict[str, Any]:
    """A ``Memory`` as elizaOS's ``Memory`` (``entityId``, ``roomId``, ``createdAt`` in ms)."""
    out: dict[str, Any] = {
        "id": str(memory.id),
        "entityId": memory.user_id,
        "agentId": memory.agent_id,
        "roomId": memory.room_id,
        "content": content_to_js(memory.content),
        "createdAt": int(memory.created_at.timestamp() * 1000),
    }
    if memory.embedding is not None:
        out["embedding"] = memory.embedding
    return out


def memory_from_js(value: Mapping[str, Any], agent_id: str) -> Memory:
    """elizaOS's ``Memory`` as a ``Memory``; a missing or non-UUID id gets a fresh one."""
    fields: dict[str, Any] = {
        "user_id": str(value.get("entityId") or agent_id),
        "agent_id": str(value.get("agentId") or agent_id),
        "room_id": str(value.get("roomId") or "default"),
        "content": Content.model_validate(content_from_js(value.get("content"))),
    }
    if _is_uuid(value.get("id")):
        fields["id"] = uuid.UUID(str(value["id"]))
    created = value.get("createdAt")
    if isinstance(created, int | float) and not isinstance(created, bool):
        fields["created_at"] = datetime.fromtimestamp(created / 1000, UTC)
    if isinstance(value.get("embedding"), list):
        fields["embedding"] = value["embedding"]
    return Memory(**fields)


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return value is not None


def state_to_js(state: State | None) -> dict[str, Any] | None:
    """A ``State`` as elizaOS's ``{values, data, text}``, the text also as ``values.providers``."""
    if state is None:
        return None
    data = dict(state.data)
    providers = data.get("providers")
    if isinstance(providers, Mapping):
        data["providers"] = {k: _provider_to_js(v) for k, v in providers.items()}
    results = data.pop("action_results", None)
    if results is not None:
        data["actionResults"] = [result_to_js(r) for r in results]
    values = {"providers": state.text, **state.values}
    return {"values": values, "data": data, "text": state.text}


def _provider_to_js(value: Any) -> Any:
    if isinstance(value, ProviderResult):
        return {"text": value.text, "values": value.values, "data": value.data}
    return value


def state_from_js(value: Any) -> State | None:
    """elizaOS's state (``{values, data, text}``) as a ``State``; None stays None."""
    if not isinstance(value, Mapping):
        return None
    values = value.get("values") if isinstance(value.get("values"), Mapping) else {}
    data = value.get("data") if isinstance(value.get("data"), Mapping) else {}
    return State(
        values=dict(values or {}), data=dict(data or {}), text=str(value.get("text") or "")
    )


def result_to_js(result: Any) -> Any:
    """An ``ActionResult`` as elizaOS's ``ActionResult`` (``data.actionName`` included)."""
    if not isinstance(result, ActionResult):
        return result
    data = result.data if isinstance(result.data, Mapping) else {"value": result.data}
    return {
        "actionName": result.action,
        "success": result.success,
        "text": result.text,
        "values": dict(result.values),
        "data": {"actionName": result.action, **data},
        "error": result.error.message if result.error is not None else None,
    }


def options_to_js(options: Mapping[str, Any]) -> dict[str, Any]:
    """Handler options as elizaOS's: the chain's context and plan, the typed parameters."""
    out = {k: v for k, v in options.items() if k not in RESERVED_OPTIONS}
    context = options.get("action_context")
    if context is not None:
        out["actionContext"] = {
            "previousResults": [result_to_js(r) for r in context.previous_results]
        }
    plan = options.get("action_plan")
    if plan is not None:
        steps = [{"action": s.action, "status": s.status, "error": s.error} for s in plan.steps]
        out["actionPlan"] = {
            "thought": plan.thought,
            "totalSteps": plan.total_steps,
            "currentStep": plan.current_step,
            "steps": steps,
        }
    parameters = options.get("parameters")
    if parameters is not None:
        out["parameters"] = parameters.model_dump(mode="json")
    return out


def result_from_js(value: Any, action: str) -> Any:
    """What a TS handler returned, for ``fold_return``.

    An elizaOS ``ActionResult`` (a dict with ``success``) becomes a ``quiet`` ``ActionResult``:
    in elizaOS its text is for the chain, and the agent speaks only through ``callback``.
    """
    if not isinstance(value, dict) or "success" not in value:
        return value
    error = value.get("error")
    if isinstance(error, Mapping):
        error = error.get("message") or error.get("name") or "error"
    success = bool(value["success"])
    info = None if success else ErrorInfo(code=Code.HANDLER_ERROR, message=str(error or "failed"))
    text = value.get("text")
    values = value.get("values")
    result = ActionResult(
        0,
        action,
        "",
        success,
        text=None if text is None else str(text),
        data=value.get("data"),
        error=info,
        values=dict(values) if isinstance(values, Mapping) else {},
    )
    result.quiet = True
    return result


def provider_result_from_js(value: Any) -> ProviderResult | Any:
    """What a TS provider returned: ``{text, values, data}`` as a ``ProviderResult``."""
    if value is None:
        return ProviderResult()
    if isinstance(value, Mapping) and value.keys() <= {"text", "values", "data"}:
        text = value.get("text")
        return ProviderResult(
            text="" if text is None else str(text),
            values=dict(value.get("values") or {}),
            data=dict(value.get("data") or {}),
        )
    return value


def example_from_js(turn: Mapping[str, Any]) -> dict[str, Any]:
    """One turn of an elizaOS example (``{name, content}``) as an ``ActionExample`` dict."""
    return {
        "user": str(turn.get("name") or turn.get("user") or ""),
        "content": content_from_js(turn.get("content")),
    }
