"""What a provider hands back, read the elizaOS 1.7 way, and which providers a state composes.

A provider's return value becomes a :class:`~eliza_nb.ProviderResult` here, masked as it
enters: a ``ProviderResult`` (or a dict of its ``text`` / ``values`` / ``data`` keys) is taken
as it is; any other value ``v`` keeps the 0.x meaning, ``values == {name: v}``, with ``v``'s
text under a ``## name`` heading as the result's text (none for ``None``).
:meth:`MessageLoop.compose_state` uses it for every provider.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError as PydanticValidationError

from eliza_nb._checks import from_pydantic, printable, shown
from eliza_nb.errors import Code, ValidationError
from eliza_nb.handler_output import error_info
from eliza_nb.types import ErrorInfo, ProviderResult

if TYPE_CHECKING:
    from eliza_nb.plugin import Provider
    from eliza_nb.settings import Masker

__all__ = [
    "DEFAULT_PROVIDER_TIMEOUT",
    "as_provider_result",
    "provider_failure",
    "provider_names",
]

#: Seconds a provider may take (the ``PROVIDER_TIMEOUT`` setting overrides it).
DEFAULT_PROVIDER_TIMEOUT = 30.0
_KEYS = frozenset({"text", "values", "data"})


def as_provider_result(name: str, value: Any, masker: Masker) -> ProviderResult:
    """``value`` (what provider ``name`` returned) as a masked ``ProviderResult``.

    Raises:
        ValidationError: a result (or result dict) has fields of the wrong type.
    """
    if isinstance(value, dict) and value and value.keys() <= _KEYS:
        try:
            value = ProviderResult.model_validate(value)
        except PydanticValidationError as exc:
            raise from_pydantic(exc, f"provider {name}'s result", field=name) from None
    if isinstance(value, ProviderResult):
        return ProviderResult.model_construct(
            text=masker.mask(value.text),
            values=masker.mask_value(value.values),
            data=masker.mask_value(value.data),
        )
    value = masker.mask_value(value)
    text = "" if value is None else f"## {name}\n{masker.mask(printable(value))}"
    return ProviderResult.model_construct(text=text, values={name: value}, data={})


def provider_failure(exc: Exception, limit: float) -> ErrorInfo:
    """The recorded failure of a provider: ``TIMEOUT`` past ``limit`` s, else ``PROVIDER_ERROR``."""
    if isinstance(exc, TimeoutError):
        return ErrorInfo(
            code=Code.TIMEOUT,
            error_type="TimeoutError",
            message=f"no result within {limit:g} s; raise the PROVIDER_TIMEOUT setting",
        )
    return error_info(exc, code=Code.PROVIDER_ERROR)


def provider_names(
    include: Sequence[str] | None, registered: Iterable[tuple[Provider, str]]
) -> set[str]:
    """The upper-cased names in ``include``, each checked against the registered providers.

    Raises:
        ValidationError: ``include`` is not a list of strings, or names an unknown provider.
    """
    if include is None:
        return set()
    if isinstance(include, str) or not isinstance(include, Sequence):
        raise ValidationError(
            f"include must be a list of provider names, got {shown(include)}", field="include"
        )
    known = {p.name.upper(): p.name for p, _ in registered}
    names = set()
    for item in include:
        if not isinstance(item, str) or item.upper() not in known:
            listed = ", ".join(sorted(known.values())) or "none are registered"
            raise ValidationError(
                f"include names no provider {shown(item)} (providers: {listed})", field="include"
            )
        names.add(item.upper())
    return names
