"""Typed action parameters: a pydantic model class that describes and checks an action's options.

An action with ``parameters=Model`` gets its options validated before the handler runs; the
handler finds the validated model in ``options["parameters"]``. Invalid options never reach the
handler: the run fails with code ``INVALID_PARAMETERS`` and one line per bad field. The same
description serves every front end: ``%eliza actions`` (:func:`describe_parameters`), the
action runner's form (:func:`parameter_fields`) and the agent loop's prompt.

Example:
    >>> from pydantic import BaseModel
    >>> class Forecast(BaseModel):
    ...     city: str
    ...     days: int = 3
    >>> describe_parameters(Forecast)
    'city: str (required), days: int = 3'
    >>> check_options(Forecast, {"city": "Oslo", "days": "2"})
    Forecast(city='Oslo', days=2)
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from eliza_nb._checks import shown
from eliza_nb.errors import InvalidParametersError

__all__ = [
    "RESERVED_OPTIONS",
    "ParameterField",
    "check_options",
    "check_parameters_class",
    "describe_parameters",
    "parameter_fields",
]

#: Option keys the runtime itself fills in (never validated against an action's parameters).
RESERVED_OPTIONS = frozenset({"action_context", "action_plan", "parameters", "responses"})


@dataclass(frozen=True, slots=True)
class ParameterField:
    """One field of a parameters model, as a form or a listing shows it.

    ``kind`` is ``"text"``, ``"integer"``, ``"number"``, ``"boolean"``, ``"choice"`` (with
    ``choices``) or ``"json"`` (anything else: lists, dicts, nested models).
    """

    name: str
    kind: str
    type_label: str
    required: bool
    default: Any = None
    choices: tuple[Any, ...] = ()
    description: str = ""


def check_parameters_class(value: Any) -> str | None:
    """None if ``value`` is None or a pydantic model class, else what is wrong with it."""
    if value is None or (isinstance(value, type) and issubclass(value, BaseModel)):
        return None
    return f"must be a pydantic model class (a BaseModel subclass), got {shown(value)}"


def check_options(model: type[BaseModel], options: Mapping[str, Any], action: str = "") -> Any:
    """The options (minus the reserved keys) validated against ``model``.

    Raises:
        InvalidParametersError: a field is missing, of the wrong type or refused by a validator.
    """
    given = {k: v for k, v in options.items() if k not in RESERVED_OPTIONS}
    try:
        return model.model_validate(given)
    except PydanticValidationError as exc:
        problems = _problems(exc)
    except Exception as exc:  # a validator that raised what pydantic does not wrap
        problems = [{"field": "(model)", "message": f"{type(exc).__name__}: {exc}"}]
    lines = "".join(f"\n{p['field']}: {p['message']}" for p in problems)
    raise InvalidParametersError(
        f"invalid parameters for {action or model.__name__}:{lines}", errors=problems
    )


def _problems(exc: PydanticValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "(model)"
        message = " ".join(str(err["msg"]).split())
        if err.get("type") != "missing" and "input" in err:
            message += f" (got {shown(err['input'], 40)})"
        out.append({"field": where, "message": message})
    return out


def parameter_fields(model: type[BaseModel]) -> list[ParameterField]:
    """The fields of a parameters model in declaration order, classified for a form."""
    fields = []
    for name, info in model.model_fields.items():
        kind, choices = _kind(info.annotation)
        default = None if info.is_required() else _default(info)
        fields.append(
            ParameterField(
                name=name,
                kind=kind,
                type_label=_label(info.annotation),
                required=info.is_required(),
                default=default,
                choices=choices,
                description=info.description or "",
            )
        )
    return fields


def _default(info: Any) -> Any:
    """A field's default; a ``default_factory`` that fails is shown, not raised: a listing
    must not break on a model the handler has not even run with."""
    try:
        return info.get_default(call_default_factory=True)
    except Exception as exc:
        return f"<default_factory failed: {type(exc).__name__}>"


def describe_parameters(model: type[BaseModel] | None) -> str:
    """One line naming each parameter, its type and its default (``""`` without a model)."""
    if model is None:
        return ""
    parts = []
    for f in parameter_fields(model):
        parts.append(f"{f.name}: {f.type_label}" + (" (required)" if f.required else ""))
        if not f.required:
            parts[-1] += f" = {f.default!r}"
    return ", ".join(parts)


def _optional_inner(annotation: Any) -> Any:
    """``X`` for ``X | None`` (a form shows the field as ``X``, empty meaning None)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _kind(annotation: Any) -> tuple[str, tuple[Any, ...]]:
    inner = _optional_inner(annotation)
    if typing.get_origin(inner) is Literal:
        return "choice", typing.get_args(inner)
    if isinstance(inner, type) and issubclass(inner, enum.Enum):
        return "choice", tuple(inner)
    simple = {bool: "boolean", int: "integer", float: "number", str: "text"}
    return simple.get(inner, "json") if isinstance(inner, type) else "json", ()


def _label(annotation: Any) -> str:
    if isinstance(annotation, type) and typing.get_origin(annotation) is None:
        return annotation.__name__
    return str(annotation).replace("typing.", "")
