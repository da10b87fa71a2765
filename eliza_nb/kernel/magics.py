"""The ``%eliza`` magic, the kernel-resident runtime, and loading/unloading the extension.

``%load_ext eliza_nb`` calls :func:`load_extension`: it patches the kernel's running loop (see
``eliza_nb.kernel.loop``), creates the runtime and registers :class:`ElizaMagics`. The magic
only parses, checks and delegates: the subcommands live in ``eliza_nb.kernel.commands``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any

from IPython.core.completer import SimpleCompletion, SimpleMatcherResult, context_matcher
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class, no_var_expand
from traitlets import Bool, Float

from eliza_nb import reprs
from eliza_nb.errors import ElizaError
from eliza_nb.kernel import commands
from eliza_nb.kernel.loop import patch_kernel_loop
from eliza_nb.plugin import Plugin
from eliza_nb.runtime import AgentRuntime
from eliza_nb.types import State

__all__ = ["ElizaMagics", "get_runtime", "load_extension", "unload_extension"]

_runtime: AgentRuntime | None = None


def get_runtime() -> AgentRuntime:
    """The kernel-resident runtime (created on first use, and again after a close)."""
    return _ensure_runtime(use_env=True)


def _ensure_runtime(use_env: bool) -> AgentRuntime:
    global _runtime
    if _runtime is None or _runtime.closed:
        _runtime = _kernel_runtime(use_env)
    return _runtime


def _replace_runtime(use_env: bool) -> AgentRuntime:
    global _runtime
    if _runtime is not None:
        _runtime.close()
    _runtime = _kernel_runtime(use_env)
    return _runtime


def _kernel_runtime(use_env: bool) -> AgentRuntime:
    """A runtime for the kernel: it traces every run unless the TRACING setting says no
    (a notebook is where traces are looked at; a script pays for them only when it asks)."""
    runtime = AgentRuntime(use_env=use_env)
    if runtime.get_setting("TRACING") in (None, ""):
        runtime.tracer.enabled = True
    return runtime


@magics_class
class ElizaMagics(Magics):
    """``%eliza`` / ``%%eliza``: drive the kernel's AgentRuntime (see ``%eliza help``)."""

    timeout = Float(
        None,
        allow_none=True,
        config=True,
        help="Default timeout (seconds) of %eliza run; None waits forever.",
    )
    progress = Bool(True, config=True, help="Show tqdm progress bars for repeated runs.")
    use_env = Bool(
        True,
        config=True,
        help="Read settings from the environment and .env (off for isolated tests).",
    )

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell, **kwargs)
        # %tb is wrapped (see tb below); unloading the extension puts this one back.
        self.builtin_tb: Callable[[str], Any] | None = (
            shell.find_line_magic("tb") if shell is not None else None
        )

    @no_var_expand
    @line_cell_magic
    def eliza(self, line: str, cell: str | None = None) -> Any:
        ctx = commands.Context(
            shell=self.shell,
            runtime=_ensure_runtime(self.use_env),
            cell=cell,
            timeout=self.timeout,
            progress=self.progress,
            reset=lambda: _replace_runtime(self.use_env),
        )
        return commands.dispatch(line, ctx)

    eliza.__doc__ = commands.usage()

    @line_magic
    def tb(self, line: str) -> None:
        """Print the last traceback: ``%tb [mode]``, IPython's magic, except that for an
        eliza_nb error (shown as one line with its code) it prints the full traceback."""
        value = getattr(sys, "last_value", None)
        if not isinstance(value, ElizaError):
            if self.builtin_tb is not None:
                self.builtin_tb(line)
            return
        shell: Any = self.shell
        itb = shell.InteractiveTB
        mode = itb.mode
        try:
            if line.strip():
                itb.set_mode(mode=line.strip().capitalize())
            stb = itb.structured_traceback(type(value), value, value.__traceback__)
        finally:
            itb.set_mode(mode=mode)
        shell._showtraceback(type(value), value, stb)


def _words_before_cursor(text: str) -> tuple[list[str], str]:
    """(completed words, the word being typed) of a ``%eliza`` line."""
    words = text.split()
    if text.endswith((" ", "\t")):
        return words, ""
    return words[:-1], words[-1] if words else ""


def _complete(context: Any) -> SimpleMatcherResult:
    """Tab completion: subcommands after ``%eliza``, then action, plugin or level names."""
    words, typed = _words_before_cursor(context.text_until_cursor.lstrip())
    if not words or words[0] not in ("%eliza", "%%eliza"):
        return {"completions": [], "suppress": False}
    names = _candidates(words)
    found = [SimpleCompletion(n, type="eliza") for n in names if n.startswith(typed)]
    return {"completions": found, "suppress": bool(found), "matched_fragment": typed}


def _candidates(words: list[str]) -> list[str]:
    """What the next word of ``%eliza ...`` may be (``words``: those before it)."""
    if len(words) == 1:
        return list(commands.COMMANDS)
    registry = get_runtime().registry
    if words[1] == "chain" and all(registry.find(w) is not None for w in words[2:]):
        return registry.action_names()  # the chain's steps go on until a word names none
    if len(words) != 2:
        return []
    if words[1] in ("run", "batch"):
        return registry.action_names()
    if words[1] == "unregister":
        return list(registry.plugins)
    if words[1] in ("debug", "help"):
        return list(commands.DEBUG_LEVELS if words[1] == "debug" else commands.COMMANDS)
    return []


# Plugin is a dataclass and State a pydantic model: their default reprs list every field.
_PLAIN_TEXT: dict[type, Callable[[Any], str]] = {
    Plugin: reprs.plugin_text,
    State: reprs.state_text,
}


def _pretty(fn: Callable[[Any], str]) -> Callable[[Any, Any, bool], None]:
    def printer(obj: Any, p: Any, cycle: bool) -> None:
        p.text(fn(obj))

    return printer


eliza_matcher: Any = context_matcher()(_complete)

# `%eliza SUBCOMMAND words...?`: a line whose text ends in `?`.
_QUESTION = re.compile(r"^(\s*)%eliza[ \t]+(\S+[ \t]+\S.*\?)[ \t]*$")


def _keep_questions(lines: list[str]) -> list[str]:
    """An input transform: ``%eliza send is it late?`` runs the magic with its text.

    IPython reads a line that ends in ``?`` as a request for help on its last word (``pinfo
    late``); a message is often a question. ``%eliza?`` and ``%eliza run?`` still ask for help.
    """
    return [_run_magic(line) for line in lines]


def _run_magic(line: str) -> str:
    match = _QUESTION.match(line.rstrip("\n"))
    if match is None:
        return line
    indent, rest = match.groups()
    return f"{indent}get_ipython().run_line_magic('eliza', {rest!r})\n"


def load_extension(shell: Any) -> None:
    """``%load_ext eliza_nb``: patch the kernel loop, create the runtime, register the magic."""
    patch_kernel_loop(shell)
    magics = ElizaMagics(shell)
    _ensure_runtime(magics.use_env)
    shell.register_magics(magics)
    plain = shell.display_formatter.formatters["text/plain"]
    for cls, fn in _PLAIN_TEXT.items():
        plain.for_type(cls, _pretty(fn))
    matchers = shell.Completer.custom_matchers
    if eliza_matcher not in matchers:
        matchers.append(eliza_matcher)
    transforms = shell.input_transformer_manager.line_transforms
    if _keep_questions not in transforms:
        transforms.append(_keep_questions)  # after cell_magic: a %%eliza cell is left alone


def unload_extension(shell: Any) -> None:
    """``%unload_ext eliza_nb``: close the runtime (on_unload, services stopped), drop the magic."""
    global _runtime
    manager = shell.magics_manager
    magics = manager.registry.pop("ElizaMagics", None)
    for kind in ("line", "cell"):
        manager.magics[kind].pop("eliza", None)
    if magics is not None:
        if magics.builtin_tb is not None:
            manager.magics["line"]["tb"] = magics.builtin_tb
        if magics in shell.configurables:
            shell.configurables.remove(magics)
    if eliza_matcher in shell.Completer.custom_matchers:
        shell.Completer.custom_matchers.remove(eliza_matcher)
    if _keep_questions in shell.input_transformer_manager.line_transforms:
        shell.input_transformer_manager.line_transforms.remove(_keep_questions)
    plain = shell.display_formatter.formatters["text/plain"]
    for cls in _PLAIN_TEXT:
        plain.pop(cls, None)
    if _runtime is not None:
        _runtime.close()
        _runtime = None
