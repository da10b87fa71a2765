"""The plugin scaffold: a new plugin project laid out like the elizaOS guide's, in Python.

``python -m eliza_nb new-plugin weather`` (or ``%eliza new-plugin weather``, or
``new_plugin("weather")``) writes::

    weather/
    ├── pyproject.toml          hatchling; entry point in the "eliza_nb.plugins" group
    ├── README.md               the guide's template: settings, actions, providers, error codes
    ├── .gitignore
    ├── notebooks/weather.ipynb a starter notebook
    ├── src/weather/
    │   ├── __init__.py         exports ``plugin``
    │   ├── plugin.py           the Plugin: parts, settings, lifecycle hooks
    │   ├── actions.py          an action with examples, a validator and a handler
    │   ├── providers.py        a provider feeding the agent's state
    │   ├── services.py         a service holding state across calls
    │   └── py.typed
    └── tests/
        ├── test_unit.py        handlers called directly with eliza_nb.testing doubles
        └── test_integration.py the plugin registered in a test runtime

The project's tests pass as generated (``pytest`` in the new folder); once installed
(``pip install -e .``), ``%eliza register weather`` finds the plugin by its entry point.
"""

from __future__ import annotations

import importlib.util
import json
import keyword
import os
import re
import sys
from pathlib import Path
from string import Template

from eliza_nb._checks import check_text, one_line, printable, shown
from eliza_nb.errors import ValidationError

__all__ = ["ENTRY_POINT_GROUP", "check_plugin_name", "new_plugin", "notebook_next_steps"]

ENTRY_POINT_GROUP = "eliza_nb.plugins"
_NAME = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")  # used with fullmatch: no "x\n"
_MAX_NAME = 50
_RESERVED = {"eliza_nb", "src", "tests", "test", "notebooks", "plugin", "plugins"}
_TARGET_EXISTS = "TARGET_EXISTS"  # the code of a refusal to overwrite a folder


def check_plugin_name(name: str) -> str:
    """Return the Python package name for plugin ``name`` (``my-weather`` -> ``my_weather``).

    Raises:
        ValidationError: the name is not lower-case letters, digits and single ``-``/``_``
            starting with a letter, is too long, is a Python keyword, or would shadow a
            standard-library, eliza_nb or installed module.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > _MAX_NAME:
        fixed = re.sub(r"[^a-z0-9]+", "-", printable(name).lower()).strip("-")
        hint = f" Did you mean {fixed!r}?" if _NAME.fullmatch(fixed) else ""
        raise ValidationError(
            f"Plugin name {shown(name)} is not valid: use lower-case letters, digits and single "
            f"'-' or '_', starting with a letter, at most {_MAX_NAME} characters "
            f"(e.g. 'weather' or 'my-weather').{hint}",
            field="name",
        )
    package = name.replace("-", "_")
    if keyword.iskeyword(package) or package in _RESERVED or package in sys.stdlib_module_names:
        raise ValidationError(
            f"Plugin name {name!r} would make the package {package!r}, which is a Python "
            "keyword or shadows a standard-library or eliza_nb module: choose another name "
            f"(e.g. '{name}-plugin').",
            field="name",
        )
    if importlib.util.find_spec(package) is not None:
        raise ValidationError(
            f"Plugin name {name!r} would make the package {package!r}, but a module of that "
            f"name is already installed: choose another name (e.g. '{name}-plugin').",
            field="name",
        )
    return package


def new_plugin(name: str, directory: str | Path = ".") -> Path:
    """Write a new plugin project ``<directory>/<name>`` and return its path.

    Raises:
        ValidationError: a bad name (see :func:`check_plugin_name`), or the target folder
            already exists (nothing is overwritten).
    """
    package = check_plugin_name(name)
    target = _target(directory, name)
    if target.exists() or target.is_symlink():  # a dangling symlink too
        raise ValidationError(
            f"{shown(str(target), 200)} already exists: choose another name or --dir; "
            "nothing was written.",
            field="directory",
            code=_TARGET_EXISTS,
        )
    try:
        for relative, text in _project_files(name, package).items():
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ValidationError(
            f"cannot write the plugin to {shown(str(target), 200)}: {one_line(exc)}",
            field="directory",
        ) from None
    return target


def notebook_next_steps(path: Path, name: str) -> str:
    """What to do in a notebook after :func:`new_plugin` wrote ``path`` (``%eliza new-plugin``).

    A package installed into a running kernel is found only after a restart: an editable
    install works through a ``.pth`` file, which Python reads at startup.
    """
    plugin_file = path / "src" / name.replace("-", "_") / "plugin.py"
    return (
        f"Created plugin project {path}\n\n"
        "Next steps:\n"
        f"  1. edit {plugin_file} (its actions, settings and tests)\n"
        f'  2. %pip install -e "{path}[dev]"   then restart the kernel\n'
        f"  3. %eliza register {name}   (the installed plugin's entry point)\n"
        f"  4. !cd {path} && pytest   (the project's own tests)"
    )


def _target(directory: str | Path, name: str) -> Path:
    """``<directory>/<name>``, with ``~`` expanded; the directory must be a usable path."""
    if not isinstance(directory, str | os.PathLike):
        raise ValidationError(
            f"directory must be a path, got {type(directory).__name__}", field="directory"
        )
    try:
        folder = Path(directory)
        check_text(str(folder), "directory")
        return folder.expanduser() / name
    except (RuntimeError, TypeError, ValueError) as exc:  # "~nobody", a bytes PathLike
        raise ValidationError(
            f"directory is not usable: {one_line(exc)}", field="directory"
        ) from None


def _project_files(name: str, package: str) -> dict[str, str]:
    """Every file of the new project, by its path relative to the project folder."""
    values = {
        "name": name,
        "package": package,
        "upper": package.upper(),
        "camel": "".join(part.capitalize() for part in package.split("_")),
        "group": ENTRY_POINT_GROUP,
    }
    files = {
        path.replace("PKG", package): Template(text).substitute(values)
        for path, text in _TEMPLATES.items()
    }
    files[f"notebooks/{package}.ipynb"] = _notebook(values)
    files[f"src/{package}/py.typed"] = ""
    return files


def _notebook(v: dict[str, str]) -> str:
    """A starter notebook (nbformat v4): load, register, run, inspect."""
    cells = [*_intro_cells(v), *_magic_cells(v), *_python_cells(v)]
    for i, cell in enumerate(cells):
        cell["id"] = f"cell-{i}"  # nbformat 4.5 wants an id on every cell
    notebook = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(notebook, indent=1) + "\n"


def _md(text: str) -> dict[str, object]:
    return {"cell_type": "markdown", "metadata": {}, "source": text}


def _code(text: str) -> dict[str, object]:
    return {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {},
        "outputs": [],
        "source": text,
    }


def _intro_cells(v: dict[str, str]) -> list[dict[str, object]]:
    """The title, how to install the project, and loading the extension."""
    return [
        _md(
            f"# {v['name']}: starter notebook\n\nTry the plugin step by step. Install the "
            "project first (`pip install -e .` in its folder) so eliza_nb finds it by name."
        ),
        _md("Load the extension: it creates the kernel's agent runtime and the `%eliza` magic."),
        _code("%load_ext eliza_nb"),
    ]


def _magic_cells(v: dict[str, str]) -> list[dict[str, object]]:
    """Register, run, change a setting and read the state with ``%eliza``."""
    return [
        _md(
            "Register the plugin by its entry-point name. After editing `src/`, restart the "
            "kernel and run this again."
        ),
        _code(f"%eliza register {v['name']}"),
        _md("Run the action, with the message text after its name."),
        _code(f"%eliza run {v['upper']}_HELLO Ada"),
        _md("Settings change the plugin's behaviour at once."),
        _code(f"%eliza set {v['upper']}_GREETING=Howdy\n%eliza run {v['upper']}_HELLO Ada"),
        _md("The provider's value is part of the agent's state."),
        _code("%eliza state"),
    ]


def _python_cells(v: dict[str, str]) -> list[dict[str, object]]:
    """The same run from Python, and the metrics frame that records it."""
    return [
        _md("The same from Python: every run is recorded, with its duration and outcome."),
        _code(
            f"import eliza_nb\n\nruntime = eliza_nb.get_runtime()\n"
            f'result = await runtime.execute_action("{v["upper"]}_HELLO", "Grace")\n'
            "result.text"
        ),
        _code("runtime.metrics_frame()"),
    ]


_PYPROJECT = """\
[build-system]
requires = ["hatchling>=1.27"]
build-backend = "hatchling.build"

[project]
name = "$name"
version = "0.1.0"
description = "An eliza_nb plugin: $name."
readme = "README.md"
requires-python = ">=3.11"
license = "MIT"
dependencies = ["eliza_nb>=0.1"]

[project.optional-dependencies]
dev = ["pytest>=8", "pytest-asyncio>=0.23"]

# How eliza_nb finds the plugin once installed: `%eliza register $name`.
[project.entry-points."$group"]
$name = "$package.plugin:plugin"

[tool.hatch.build.targets.wheel]
packages = ["src/$package"]

[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["src"]
addopts = "--strict-markers"
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "function"
filterwarnings = ["error"]

[tool.ruff]
line-length = 100
src = ["src"]

[tool.ruff.lint]
select = ["E", "F", "W", "I", "B", "UP", "SIM", "RUF"]
"""

_README = """\
# $name

> An eliza_nb plugin: greets people by name. Replace this line with what your plugin does.

## Features

- `${upper}_HELLO`: an action that greets the person named in the message.
- `${package}_status`: a provider that tells the agent how many greetings were sent.
- `${camel}Service`: a service that keeps count across calls.

## Installation

```bash
pip install -e .            # from this folder; add [dev] for the test tools
```

## Configuration

| Setting | Description | Required | Default |
|---|---|---|---|
| `${upper}_GREETING` | The word the greeting starts with | no | `Hello` |
| `${upper}_MAX_LENGTH` | Longest message the action accepts | no | `280` |

Settings resolve like every eliza_nb setting: runtime settings, the character's secrets and
settings, the environment (and `.env`), then the defaults above. A setting whose name ends in
`KEY`, `TOKEN`, `SECRET` or `PASSWORD` is a secret and is shown as `***` everywhere.

## Usage

In a notebook:

```python
%load_ext eliza_nb
%eliza register $name
%eliza run ${upper}_HELLO Ada
```

In Python:

```python
from eliza_nb import AgentRuntime
from $package import plugin

runtime = AgentRuntime()
runtime.run_sync(runtime.register_plugin(plugin))
print(runtime.run("${upper}_HELLO", "Ada").text)  # Hello, Ada!
```

## Actions

### `${upper}_HELLO`

Greets the person named in the message (`world` when the message is empty).

- **Similes**: `${upper}_GREET`
- **Options**: `punctuation` (default `!`)
- **Returns**: the greeting as text; `data = {"greeted": <count>}`

## Providers

### `${package}_status`

How many greetings this runtime has sent, e.g. `3 greeting(s) sent`.

## Services

### `${camel}Service` (`service_type = "$package"`)

Counts greetings; reach it with `runtime.get_service("$package")`.

## Error codes

| Code | When | What to do |
|---|---|---|
| `VALIDATION_FAILED` | The message is longer than `${upper}_MAX_LENGTH` | Shorten it |
| `${upper}_SERVICE_MISSING` | The service is not running | Register the whole plugin |
| `CONFIGURATION_ERROR` | `${upper}_MAX_LENGTH` is not a positive integer | Fix the setting |

## Development

```bash
pip install -e ".[dev]"
pytest                      # unit and integration tests (eliza_nb.testing, offline)
```

Open `notebooks/$package.ipynb` to try the plugin step by step.

## License

MIT
"""

_INIT = '''\
"""$name: an eliza_nb plugin. Register it with ``%eliza register $name``."""

from $package.plugin import plugin

__all__ = ["plugin"]
__version__ = "0.1.0"
'''

_PLUGIN = '''\
"""The $name plugin: its parts, its settings and its lifecycle hooks."""

from __future__ import annotations

import logging

from eliza_nb import Plugin, PluginConfig

from $package.actions import hello
from $package.providers import status
from $package.services import ${camel}Service

log = logging.getLogger(__name__)


def on_load(runtime: object) -> None:
    """Called when the plugin is registered (before its service starts)."""
    log.info("$name loaded")


plugin = Plugin(
    name="$name",
    description="Greets people by name (replace with what your plugin does).",
    version="0.1.0",
    actions=[hello],
    providers=[status],
    services=[${camel}Service],
    config=PluginConfig(
        optional=["${upper}_GREETING", "${upper}_MAX_LENGTH"],
        defaults={"${upper}_GREETING": "Hello", "${upper}_MAX_LENGTH": 280},
    ),
    on_load=on_load,
)
'''

_ACTIONS = '''\
"""The actions of $name: what the agent can do."""

from __future__ import annotations

from typing import Any

from eliza_nb import AgentRuntime, ConfigurationError, Content, ElizaError, Memory, action


def max_length(runtime: AgentRuntime) -> int:
    """The ${upper}_MAX_LENGTH setting as a positive integer."""
    value = runtime.get_setting("${upper}_MAX_LENGTH", 280)
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number < 1:
        raise ConfigurationError(f"${upper}_MAX_LENGTH={value!r} must be a positive integer")
    return number


@action(
    name="${upper}_HELLO",
    description="Greet the person named in the message.",
    similes=["${upper}_GREET"],
    examples=[
        [
            {"user": "{{user1}}", "content": {"text": "Ada"}},
            {
                "user": "{{agent}}",
                "content": {"text": "Hello, Ada!", "action": "${upper}_HELLO"},
            },
        ]
    ],
)
async def hello(
    runtime: AgentRuntime,
    message: Memory,
    state: Any,
    options: dict[str, Any],
    callback: Any,
) -> dict[str, Any]:
    """Greet ``message.content.text`` (or the world) and count it in the service."""
    service = runtime.get_service("$package")
    if service is None:
        raise ElizaError(
            "${upper}_HELLO needs the $name service: register the whole plugin.",
            code="${upper}_SERVICE_MISSING",
        )
    who = message.content.text.strip() or "world"
    greeting = runtime.get_setting("${upper}_GREETING", "Hello")
    text = f"{greeting}, {who}{options.get('punctuation', '!')}"
    service.greeted += 1
    await callback(Content(text=text, action="${upper}_HELLO"))
    return {"success": True, "text": text, "data": {"greeted": service.greeted}}


@hello.validator
def short_enough(runtime: AgentRuntime, message: Memory, state: Any) -> bool:
    """Refuse messages longer than ${upper}_MAX_LENGTH (the run fails with VALIDATION_FAILED)."""
    return len(message.content.text) <= max_length(runtime)
'''

_PROVIDERS = '''\
"""The providers of $name: what the agent knows when it acts."""

from __future__ import annotations

from typing import Any

from eliza_nb import AgentRuntime, Memory, provider


@provider(name="${package}_status", description="How many greetings were sent.")
def status(runtime: AgentRuntime, message: Memory, state: Any) -> str:
    """A line for the agent's state; empty-handed when the service is not running."""
    service = runtime.get_service("$package")
    count = service.greeted if service is not None else 0
    return f"{count} greeting(s) sent"
'''

_SERVICES = '''\
"""The services of $name: state kept across calls, started and stopped with the plugin."""

from __future__ import annotations

from eliza_nb import AgentRuntime, Service


class ${camel}Service(Service):
    """Counts the greetings sent by this runtime."""

    service_type = "$package"

    def __init__(self) -> None:
        self.greeted = 0
        self.running = False

    async def initialize(self, runtime: AgentRuntime) -> None:
        """Open connections or load data here; raise to refuse registration."""
        self.running = True

    async def stop(self) -> None:
        """Release what initialize acquired."""
        self.running = False
'''

_TEST_UNIT = '''\
"""Unit tests: the handlers called directly, with eliza_nb.testing doubles."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eliza_nb import AgentRuntime, ConfigurationError, Content
from eliza_nb.testing import create_mock_memory, create_mock_runtime

from $package.actions import hello, max_length
from $package.services import ${camel}Service


class Recorder:
    """A callback that keeps what the handler reports."""

    def __init__(self) -> None:
        self.contents: list[Content] = []

    async def __call__(self, content: Content, attachments: Any = None) -> None:
        self.contents.append(content)


@pytest.fixture
def runtime() -> Iterator[AgentRuntime]:
    """A bare runtime (no plugins) with a few settings; closed after the test."""
    rt = create_mock_runtime({"${upper}_GREETING": "Hi", "${upper}_MAX_LENGTH": 3})
    yield rt
    rt.close()


async def test_hello_greets_by_name(runtime: AgentRuntime) -> None:
    service = ${camel}Service()
    await service.initialize(runtime)
    runtime.get_service = lambda service_type: service  # type: ignore[method-assign]
    callback = Recorder()
    result = await hello.handler(runtime, create_mock_memory("Ada"), None, {}, callback)
    assert result["text"] == "Hi, Ada!"
    assert callback.contents[0].text == "Hi, Ada!"
    assert service.greeted == 1


def test_validator_refuses_long_messages(runtime: AgentRuntime) -> None:
    assert hello.validate is not None
    assert hello.validate(runtime, create_mock_memory("Ada"), None)
    assert not hello.validate(runtime, create_mock_memory("Grace"), None)


def test_max_length_must_be_positive(runtime: AgentRuntime) -> None:
    runtime.settings.set("${upper}_MAX_LENGTH", "lots")
    with pytest.raises(ConfigurationError, match="${upper}_MAX_LENGTH"):
        max_length(runtime)
'''

_TEST_INTEGRATION = '''\
"""Integration tests: the whole plugin registered in an isolated test runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from eliza_nb import AgentRuntime
from eliza_nb.testing import create_test_runtime

from $package import plugin


@pytest.fixture
async def runtime() -> AsyncIterator[AgentRuntime]:
    rt = await create_test_runtime(plugins=[plugin])
    yield rt
    await rt.aclose()


async def test_the_action_runs_and_is_recorded(runtime: AgentRuntime) -> None:
    result = await runtime.execute_action("${upper}_HELLO", "Ada")
    assert result.success
    assert result.text == "Hello, Ada!"
    assert result.data == {"greeted": 1}
    assert runtime.metrics_frame()["success"].tolist() == [True]


async def test_the_simile_and_options_work(runtime: AgentRuntime) -> None:
    result = await runtime.execute_action("${package}_greet", "", options={"punctuation": "."})
    assert result.text == "Hello, world."


async def test_settings_take_effect(runtime: AgentRuntime) -> None:
    await runtime.set_setting("${upper}_GREETING", "Howdy")
    assert (await runtime.execute_action("${upper}_HELLO", "Ada")).text == "Howdy, Ada!"


async def test_long_messages_fail_validation(runtime: AgentRuntime) -> None:
    await runtime.set_setting("${upper}_MAX_LENGTH", 3)
    result = await runtime.execute_action("${upper}_HELLO", "Grace")
    assert not result.success
    assert result.error is not None
    assert result.error.code == "VALIDATION_FAILED"


async def test_the_provider_feeds_the_state(runtime: AgentRuntime) -> None:
    await runtime.execute_action("${upper}_HELLO", "Ada")
    state = await runtime.compose_state("hi")
    assert state.values["${package}_status"] == "1 greeting(s) sent"


async def test_the_service_is_running(runtime: AgentRuntime) -> None:
    assert runtime.get_service("$package").running
'''

_GITIGNORE = """\
__pycache__/
*.egg-info/
.venv/
.pytest_cache/
.ipynb_checkpoints/
dist/
build/
.env
"""

_TEMPLATES = {
    "pyproject.toml": _PYPROJECT,
    "README.md": _README,
    ".gitignore": _GITIGNORE,
    "src/PKG/__init__.py": _INIT,
    "src/PKG/plugin.py": _PLUGIN,
    "src/PKG/actions.py": _ACTIONS,
    "src/PKG/providers.py": _PROVIDERS,
    "src/PKG/services.py": _SERVICES,
    "tests/test_unit.py": _TEST_UNIT,
    "tests/test_integration.py": _TEST_INTEGRATION,
}
