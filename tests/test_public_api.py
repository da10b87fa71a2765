"""The curated public API: what ``eliza_nb`` exports, sorted, importable and complete."""

from __future__ import annotations

import importlib
import inspect

import pytest

import eliza_nb
from eliza_nb import errors

# SPEC §1 (the plugin model) and §2 (the runtime); every ElizaError is added below.
SPEC_NAMES = {
    "Content",
    "Memory",
    "State",
    "ActionExample",
    "Action",
    "Provider",
    "Evaluator",
    "Service",
    "Client",
    "Plugin",
    "PluginConfig",
    "Character",
    "ActionResult",
    "ErrorInfo",
    "action",
    "provider",
    "evaluator",
    "AgentRuntime",
    "MemoryManager",
    "get_runtime",
    "load_ipython_extension",
}

# The modules that define SPEC §1-2; their public names are the package's public names.
CORE_MODULES = ["types", "errors", "plugin", "character", "runtime", "memory"]
# Public by name for sibling modules' use, deliberately not part of the package API.
NOT_EXPORTED = {"types": {"new_id", "quick_message"}}


def test_all_is_sorted_and_unique() -> None:
    assert eliza_nb.__all__ == sorted(eliza_nb.__all__)
    assert len(eliza_nb.__all__) == len(set(eliza_nb.__all__))


@pytest.mark.parametrize("name", eliza_nb.__all__)
def test_every_exported_name_is_importable(name: str) -> None:
    obj = getattr(eliza_nb, name)
    assert obj is not None
    if name != "__version__":
        assert getattr(obj, "__module__", "").startswith("eliza_nb"), name


def test_star_import() -> None:
    namespace: dict[str, object] = {}
    exec("from eliza_nb import *", namespace)
    assert set(eliza_nb.__all__) <= set(namespace)


def test_spec_names_and_every_error_are_exported() -> None:
    error_names = {
        name
        for name, obj in vars(errors).items()
        if isinstance(obj, type) and issubclass(obj, errors.ElizaError)
    }
    missing = (SPEC_NAMES | error_names) - set(eliza_nb.__all__)
    assert not missing, f"add to eliza_nb.__all__: {sorted(missing)}"


@pytest.mark.parametrize("module_name", CORE_MODULES)
def test_public_names_of_core_modules_are_exported(module_name: str) -> None:
    """httpx's habit: a public class or function added to a core module must be exported."""
    module = importlib.import_module(f"eliza_nb.{module_name}")
    defined = {
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(obj) or inspect.isfunction(obj))
        and obj.__module__ == module.__name__
    }
    missing = defined - NOT_EXPORTED.get(module_name, set()) - set(eliza_nb.__all__)
    assert not missing, (
        f"eliza_nb.{module_name} defines public {sorted(missing)}: export them from eliza_nb "
        "(sorted into __all__) or prefix them with _"
    )


@pytest.mark.parametrize(
    "name", [n for n in eliza_nb.__all__ if inspect.isclass(getattr(eliza_nb, n))]
)
def test_public_classes_have_docstrings(name: str) -> None:
    doc = inspect.getdoc(getattr(eliza_nb, name)) or ""
    assert doc.strip(), f"{name} needs a docstring"


def test_version() -> None:
    assert eliza_nb.__version__.count(".") == 2
