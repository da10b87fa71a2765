"""The ``%eliza`` subcommands: one small parser and one small function each, routed by a dict.

``dispatch(line, ctx)`` splits the line like a shell, looks the subcommand up in ``COMMANDS``,
parses the rest with that subcommand's parser (whose errors raise IPython's ``UsageError``,
never ``SystemExit``) and calls its function. Library errors pass through untouched, so they
render as one line with their code. In a subcommand that takes message text, every word after
``--`` is text (``%eliza run ECHO -- -5``).
"""

from __future__ import annotations

import argparse
import difflib
import functools
import logging
import re
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Any, TypeVar

from IPython.core.error import UsageError

from eliza_nb import frames, observability, reprs
from eliza_nb.errors import ActionNotFoundError, ValidationError
from eliza_nb.kernel._args import (
    Arg,
    HelpShown,
    UsageParser,
    arg,
    error_code,
    options,
    pairs,
    positive,
    split_chain,
    split_dashes,
    split_line,
    typed_fields,
)
from eliza_nb.kernel._expect import expecting, first_failure
from eliza_nb.kernel._resolve import register_one, registrables, resolve
from eliza_nb.kernel.shown_frames import for_people
from eliza_nb.plugin import Plugin
from eliza_nb.runtime import LOCAL_PLUGIN

if TYPE_CHECKING:
    import pandas as pd

    from eliza_nb.plugin import Action
    from eliza_nb.registry import Registry
    from eliza_nb.runtime import AgentRuntime
    from eliza_nb.types import ActionResult

__all__ = [
    "COMMANDS",
    "DEBUG_LEVELS",
    "ChainResults",
    "Command",
    "Context",
    "PromptText",
    "dispatch",
    "usage",
]

T = TypeVar("T")
#: The names ``%eliza debug`` accepts (and completes): modes, on/off, logging level names.
DEBUG_LEVELS = observability.MODE_NAMES


@dataclass
class Context:
    """What a subcommand works with: the shell, the runtime, the cell body and the options."""

    shell: Any
    runtime: AgentRuntime
    cell: str | None
    timeout: float | None
    progress: bool
    reset: Callable[[], AgentRuntime]

    def wait(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a runtime coroutine to completion (an interrupt cancels it: ActionCancelledError)."""
        return self.runtime.run_sync(coro, interruptible=True)


@dataclass(frozen=True)
class Command:
    """A subcommand: its parser, function and one-line summary.

    ``takes_text``: it has a ``text`` positional (message words), so the words after an
    option or after ``--`` join it.
    """

    name: str
    summary: str
    parser: UsageParser
    fn: Callable[[Context, argparse.Namespace], Any]
    cell: bool = False
    takes_text: bool = False


COMMANDS: dict[str, Command] = {}


def _command(
    name: str,
    summary: str,
    *args: Arg,
    cell: bool = False,
    usage: str | None = None,
    epilog: str | None = None,
) -> Callable[[Callable[[Context, argparse.Namespace], Any]], Any]:
    # An epilog is laid out by hand (a table of examples): argparse must not re-wrap it.
    layout = argparse.RawDescriptionHelpFormatter if epilog else argparse.HelpFormatter
    parser = UsageParser(
        prog=f"%eliza {name}",
        description=summary,
        usage=usage,
        epilog=epilog,
        formatter_class=layout,
    )
    for flags, kwargs in args:
        parser.add_argument(*flags, **kwargs)
    takes_text = isinstance(parser.get_default("text"), list)

    def register(fn: Callable[[Context, argparse.Namespace], Any]) -> Any:
        COMMANDS[name] = Command(name, summary, parser, fn, cell, takes_text)
        return fn

    return register


# -- dispatch ---------------------------------------------------------------------------
def dispatch(line: str, ctx: Context) -> Any:
    """Parse ``line`` (``SUBCOMMAND args...``) and run the subcommand.

    Raises:
        UsageError: unknown subcommand or bad arguments.
    """
    words = split_line(line)
    if not words:
        print(usage())
        return None
    cmd = COMMANDS.get(words[0])
    if cmd is None:
        close = difflib.get_close_matches(words[0], list(COMMANDS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UsageError(f"%eliza: unknown subcommand {words[0]!r}.{hint} See %eliza help")
    if ctx.cell is not None and not cmd.cell:
        cells = ", ".join(n for n, c in COMMANDS.items() if c.cell)
        raise UsageError(f"%%eliza {cmd.name}: takes no cell body (cell forms: {cells})")
    head, tail = split_dashes(words[1:]) if cmd.takes_text else (words[1:], None)
    try:
        args, extra = _parse(cmd.name, tuple(head))
    except HelpShown:
        return None
    args.dashes = None  # where the words after `--` start in args.text (None: no `--`)
    if extra or tail is not None:
        _more_text(cmd, args, extra, tail)
    return cmd.fn(ctx, args)


def _more_text(
    cmd: Command, args: argparse.Namespace, extra: list[str], tail: list[str] | None
) -> None:
    """Words after an option (`run ECHO hi --room r1 there`) and after `--` are message text."""
    if not cmd.takes_text or any(w[:1] == "-" for w in extra):
        cmd.parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.text = [*args.text, *extra]
    if tail is not None:
        args.dashes = len(args.text)
        args.text += tail


def _parse(name: str, words: tuple[str, ...]) -> tuple[argparse.Namespace, list[str]]:
    # A cell is often run again unchanged; argparse costs more than running a quick action.
    args, extra = _parse_cached(name, words)
    fresh = {k: list(v) if isinstance(v, list) else v for k, v in vars(args).items()}
    return argparse.Namespace(**fresh), list(extra)


@functools.lru_cache(maxsize=256)
def _parse_cached(name: str, words: tuple[str, ...]) -> tuple[argparse.Namespace, list[str]]:
    return COMMANDS[name].parser.parse_known_args(list(words))


def usage() -> str:
    """Usage of every subcommand, one line each (the text of ``%eliza help`` and ``%eliza?``)."""
    lines = ["%eliza SUBCOMMAND [args]   (%%eliza run|send: the cell body is the message text)", ""]
    for cmd in COMMANDS.values():
        synopsis = cmd.parser.format_usage().removeprefix("usage: ").strip()
        synopsis = " ".join(re.sub(r"\[-h\]", "", synopsis).split())
        lines.append(f"{synopsis}\n    {cmd.summary}")
    lines.append(
        "\nOptions: %config ElizaMagics.timeout = 5 (default timeout of run, seconds);"
        " ElizaMagics.progress = False (no progress bars)."
    )
    return "\n".join(lines)


def _message(ctx: Context, words: list[str]) -> str | None:
    if ctx.cell is not None:
        if words:
            raise UsageError("%%eliza: give the text either on the line or in the cell, not both")
        return ctx.cell.rstrip("\n")
    return " ".join(words) or None


def _timeout(ctx: Context, args: argparse.Namespace) -> float | None:
    return args.timeout if args.timeout is not None else ctx.timeout


def _options(args: argparse.Namespace, actions: Iterable[Action], prog: str) -> dict[str, Any]:
    """``--option`` and ``--json`` as handler options: typed parameters get the text as typed."""
    return options(args.option, args.json, typed_fields(a.parameters for a in actions), prog)


# -- running ----------------------------------------------------------------------------
_ROOM = arg("--room", help="room id of the message (default: 'default')")
_OPTION = arg(
    "--option",
    "-o",
    action="append",
    default=[],
    metavar="KEY=VALUE",
    help="handler option; a typed action's parameter gets the text as typed, for pydantic to "
    "convert and check; any other value is parsed as JSON when it can be",
)
_JSON = arg("--json", help="handler options as a JSON object")
_TIMEOUT = arg(
    "--timeout",
    type=positive(float),
    metavar="S",
    help="an async handler is cancelled after S seconds (TIMEOUT); a sync handler cannot be "
    "interrupted: it runs to its end, and is then marked TIMEOUT if it took longer",
)
_EXPECT = arg(
    "--expect",
    type=error_code,
    metavar="CODE",
    help="the error code this must fail with: the failure is shown and the cell passes; "
    "a success or another code fails the cell",
)


@_command(
    "run",
    "run one action; shows its ActionResult (with --repeat N: a list and a progress bar)",
    arg("action", help="action name or simile"),
    arg("text", nargs="*", default=[], help="message text"),
    _OPTION,
    _JSON,
    _ROOM,
    _TIMEOUT,
    arg("--repeat", type=positive(int), default=1, metavar="N", help="run N times"),
    _EXPECT,
    cell=True,
)
def _run(ctx: Context, args: argparse.Namespace) -> ActionResult | list[ActionResult] | None:
    return expecting(args.expect, "%eliza run", lambda: _run_action(ctx, args))


def _run_action(ctx: Context, args: argparse.Namespace) -> ActionResult | list[ActionResult]:
    entry = ctx.runtime.registry.find(args.action)  # None: execute_action says what is wrong
    options = _options(args, [entry[0]] if entry else [], "%eliza run")
    text = _message(ctx, args.text)
    timeout = _timeout(ctx, args)

    def once() -> Coroutine[Any, Any, ActionResult]:
        return ctx.runtime.execute_action(
            args.action, text, options=options, room_id=args.room, timeout=timeout
        )

    if args.repeat == 1:
        return ctx.wait(once())
    return ctx.wait(_repeat(once, args.repeat, args.action, ctx.progress))


async def _repeat(
    once: Callable[[], Coroutine[Any, Any, ActionResult]], n: int, label: str, progress: bool
) -> list[ActionResult]:
    from tqdm.auto import tqdm

    results = []
    with tqdm(total=n, desc=label, disable=not progress) as bar:
        for _ in range(n):
            results.append(await once())
            bar.update()
    return results


@_command(
    "send",
    "route a message to an action and run it (process_message)",
    arg("text", nargs="*", default=[]),
    _ROOM,
    _EXPECT,
    cell=True,
)
def _send(ctx: Context, args: argparse.Namespace) -> ActionResult | None:
    text = _message(ctx, args.text)
    results = expecting(
        args.expect,
        "%eliza send",
        lambda: ctx.wait(ctx.runtime.process_message(text, room_id=args.room)),
    )
    if results is None:
        return None  # the expected error was raised, and shown
    if not results:
        print("No action matched the message (it was stored in memory).")
        return None
    # The card shown is the expected failure's, whichever result it was.
    return first_failure(results, args.expect) or results[0]


@_command(
    "batch",
    "run an action over a DataFrame column or list held in a variable",
    arg("action"),
    arg("--from", dest="source", required=True, metavar="VARIABLE"),
    arg("--column", default="text", help="column holding the message text"),
    arg("--concurrency", type=positive(int), default=4),
)
def _batch(ctx: Context, args: argparse.Namespace) -> Any:
    if args.source not in ctx.shell.user_ns:
        raise UsageError(f"%eliza batch: no variable named {args.source!r}")
    return ctx.wait(
        ctx.runtime.run_batch(
            args.action,
            ctx.shell.user_ns[args.source],
            text_column=args.column,
            concurrency=args.concurrency,
            progress=ctx.progress,
        )
    )


@_command("state", "the composed State for a message", arg("text", nargs="*", default=[]), _ROOM)
def _state(ctx: Context, args: argparse.Namespace) -> Any:
    return ctx.wait(ctx.runtime.compose_state(_message(ctx, args.text), room_id=args.room))


_CHAIN_HELP = """\
Which words name the steps:
  %eliza chain A B some text       the leading words that name an action (a name or simile,
                                   any case) are the steps; the other words are the text
  %eliza chain A,B say hello       a comma list names the steps exactly: the rest is text
  %eliza chain A B -- say hello    so do the words before --; every word after it is text
  %%eliza chain A B                the line names the steps; the cell body is the text
A failed step stops the chain and skips the steps after it, unless its action sets
continue_on_error. The options go to every step."""


@_command(
    "chain",
    "run actions as one chain (execute_actions): a card per step, and the steps a failure skipped",
    arg(
        "text",
        nargs="*",
        default=[],
        metavar="ACTION [ACTION ...] [text]",
        help="the steps' action names, then the message text (see below)",
    ),
    _OPTION,
    _JSON,
    _ROOM,
    _TIMEOUT,
    _EXPECT,
    cell=True,
    usage="%(prog)s ACTION [ACTION ...] [text ...] [--option KEY=VALUE] [--json JSON] "
    "[--room ROOM] [--timeout S] [--expect CODE]",
    epilog=_CHAIN_HELP,
)
def _chain(ctx: Context, args: argparse.Namespace) -> ChainResults | None:
    return expecting(args.expect, "%eliza chain", lambda: _run_chain(ctx, args))


def _run_chain(ctx: Context, args: argparse.Namespace) -> ChainResults:
    registry = ctx.runtime.registry
    names, words = _chain_steps(ctx, registry, args)
    actions = [entry[0] for entry in map(registry.find, names) if entry is not None]
    options = _options(args, actions, "%eliza chain")
    coro = ctx.runtime.execute_actions(
        names, _message(ctx, words), options, room_id=args.room, timeout=_timeout(ctx, args)
    )
    return ChainResults(ctx.wait(coro), [a.name for a in actions])


def _chain_steps(
    ctx: Context, registry: Registry, args: argparse.Namespace
) -> tuple[list[str], list[str]]:
    """The step names and the message words of ``%eliza chain`` (see ``_CHAIN_HELP``).

    Raises:
        UsageError: no step is named, or a word that must name an action does not.
    """
    # In the cell form the whole line names the steps, as if it ended in `--`.
    dashes = len(args.text) if ctx.cell is not None and args.dashes is None else args.dashes
    names, words, listed = split_chain(args.text, lambda w: registry.find(w) is not None, dashes)
    if not names and (listed or not words):
        raise UsageError("%eliza chain: name the actions to run: %eliza chain A B [text]")
    if listed:
        unknown = next((n for n in names if registry.find(n) is None), None)
    else:
        unknown = None if names else words[0]
    if unknown is not None:
        missing = ActionNotFoundError(unknown, registry.suggest(unknown), len(registry.actions))
        raise UsageError(f"%eliza chain: {missing.message} See %eliza help chain")
    return names, words


class ChainResults(list["ActionResult"]):
    """What ``%eliza chain`` returns: the results of the steps that ran (a list, so ``_[0]`` is
    the first step's), shown as a card per step under a line naming the skipped steps."""

    def __init__(self, results: Iterable[ActionResult] = (), steps: Sequence[str] = ()) -> None:
        super().__init__(results)
        #: The action names of every step of the chain, run or not.
        self.steps = list(steps)

    @property
    def skipped(self) -> list[str]:
        """The steps a failure kept from running."""
        return self.steps[len(self) :]

    def summary(self) -> str:
        """One line: how many steps ran, and which were skipped after which failure."""
        count = len(self.steps)
        line = f"chain of {count} step{'' if count == 1 else 's'}: {len(self)} ran"
        if self.skipped:
            line += f"; skipped after {self[-1].action} failed: {', '.join(self.skipped)}"
        return line

    def _repr_html_(self) -> str:
        cards = "".join(reprs.result_html(result) for result in self)
        return f"<div><b>{escape(self.summary())}</b></div>{cards}"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text("\n".join([self.summary(), *(f"  {i}. {r!r}" for i, r in enumerate(self, 1))]))


@_command(
    "prompt",
    "the exact prompt the model would get for a message (secrets masked)",
    arg("text", nargs="*", default=[]),
    _ROOM,
    cell=True,
)
def _prompt(ctx: Context, args: argparse.Namespace) -> PromptText:
    coro = ctx.runtime.render_prompt(_message(ctx, args.text), room_id=args.room)
    return PromptText(ctx.wait(coro))


class PromptText(str):
    """What ``%eliza prompt`` returns: a ``str`` shown as it is (no quotes, real line breaks)."""

    __slots__ = ()

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))


# -- traces and cassettes ---------------------------------------------------------------
@_command(
    "trace",
    "the timeline of a run trace: the newest (last) or the one whose id is given",
    arg("trace_id", nargs="?", default="last", metavar="last|TRACE_ID"),
)
def _trace(ctx: Context, args: argparse.Namespace) -> Any:
    return ctx.runtime.trace(args.trace_id)


@_command(
    "cassette",
    "record or replay the model (and HTTP) calls in a cassette file; off stops it",
    arg("mode", choices=["record", "replay", "auto", "off"]),
    arg("path", nargs="?", help="the cassette file (JSON); not for off"),
)
def _cassette(ctx: Context, args: argparse.Namespace) -> Any:
    from eliza_nb.testing.cassette import Cassette

    active = Cassette.active(ctx.runtime)
    if args.mode == "off":
        if active is None:
            raise UsageError("%eliza cassette off: no cassette is in use")
        active.close()
        return None
    if args.path is None:
        raise UsageError(f"%eliza cassette {args.mode}: give the cassette file, e.g. calls.json")
    if active is not None:
        active.close()  # one at a time: the new one replaces it
    return ctx.runtime.use_cassette(args.path, args.mode)


# -- registering ------------------------------------------------------------------------
@_command(
    "register",
    "register a plugin (or action/provider/evaluator): a variable, "
    "module:attr, an installed plugin's entry-point name, or npm:PACKAGE[@VERSION] / "
    "npm:FOLDER for an elizaOS TypeScript plugin",
    arg("obj"),
)
def _register(ctx: Context, args: argparse.Namespace) -> Any:
    if args.obj.startswith("npm:"):
        return ctx.wait(ctx.runtime.register_npm_plugin(args.obj.removeprefix("npm:")))
    items = registrables(resolve(ctx.shell.user_ns, args.obj), args.obj)
    for item in items:
        ctx.wait(register_one(ctx.runtime, item))
    names = [i.name if isinstance(i, Plugin) else LOCAL_PLUGIN for i in items]
    plugins = [ctx.runtime.registry.plugins[n] for n in dict.fromkeys(names)]
    return plugins[0] if len(plugins) == 1 else plugins


@_command("unregister", "remove a plugin and all its parts", arg("name"))
def _unregister(ctx: Context, args: argparse.Namespace) -> None:
    ctx.wait(ctx.runtime.unregister_plugin(args.name))
    print(f"Unregistered plugin {args.name!r}.")


@_command("reset", "close the runtime and start a fresh one (plugins, memories, records gone)")
def _reset(ctx: Context, args: argparse.Namespace) -> AgentRuntime:
    return ctx.reset()


@_command(
    "new-plugin",
    "create a plugin package skeleton and print the next steps (returns its path)",
    arg("name"),
    arg("--dir", default=".", help="parent directory"),
)
def _new_plugin(ctx: Context, args: argparse.Namespace) -> Any:
    from eliza_nb.scaffold import new_plugin, notebook_next_steps

    path = new_plugin(args.name, args.dir)
    print(notebook_next_steps(path, args.name))
    return path


# -- looking ----------------------------------------------------------------------------
def _components(kind: str) -> Callable[[Context, argparse.Namespace], pd.DataFrame]:
    # The columns only other kinds fill (a provider's position) would be all nulls here.
    others = [c for k, cs in frames.COMPONENT_KIND_COLUMNS.items() if k != kind for c in cs]

    def show(ctx: Context, args: argparse.Namespace) -> pd.DataFrame:
        frame = ctx.runtime.components_frame()
        return frame[frame["kind"] == kind].drop(columns=others).reset_index(drop=True)

    return show


for _kind in ("action", "provider", "evaluator", "service"):
    _command(f"{_kind}s", f"DataFrame of the registered {_kind}s")(_components(_kind))


@_command("plugins", "DataFrame of the registered plugins")
def _plugins(ctx: Context, args: argparse.Namespace) -> pd.DataFrame:
    import pandas as pd

    rows = [
        (
            p.name,
            p.version,
            p.description,
            len(p.actions),
            len(p.providers),
            len(p.evaluators),
            len(p.services),
        )
        for p in ctx.runtime.registry.plugins.values()
    ]
    columns = ["plugin", "version", "description", "actions", "providers", "evaluators", "services"]
    return pd.DataFrame(rows, columns=columns)


@_command("metrics", "one row per run", arg("--action", help="only this action"))
def _metrics(ctx: Context, args: argparse.Namespace) -> pd.DataFrame:
    return for_people(ctx.runtime.metrics_frame(action=args.action), "no runs yet")


@_command("errors", "the error log (messages masked)")
def _errors(ctx: Context, args: argparse.Namespace) -> pd.DataFrame:
    return for_people(ctx.runtime.errors_frame(), "no errors")


@_command(
    "memories",
    "stored memories",
    arg("--room", help="only this room"),
    arg("--table", help="only this table (messages, notes, ...)"),
)
def _memories(ctx: Context, args: argparse.Namespace) -> pd.DataFrame:
    return for_people(
        ctx.runtime.memories_frame(room_id=args.room, table=args.table), "no memories"
    )


@_command("summary", "per action: runs, success rate, mean/p50/p95/max ms")
def _summary(ctx: Context, args: argparse.Namespace) -> pd.DataFrame:
    return for_people(ctx.runtime.metrics_summary(), "no runs yet")


@_command(
    "settings",
    "the settings in use and where each comes from, also the environment's and .env's "
    "(secrets shown as '***')",
)
def _settings(ctx: Context, args: argparse.Namespace) -> pd.DataFrame:
    import pandas as pd

    configs = [p.config for p in ctx.runtime.registry.plugins.values()]
    declared = [k for c in configs for k in (*c.required, *c.optional, *c.defaults)]
    rows = ctx.runtime.settings.listing(declared)
    return pd.DataFrame(rows, columns=["key", "value", "source"])


@_command(
    "set",
    "set settings (plugins are told through on_config_change)",
    arg("pairs", nargs="+", metavar="KEY=VALUE"),
)
def _set(ctx: Context, args: argparse.Namespace) -> None:
    for key, value in pairs(args.pairs, literal=False).items():
        ctx.wait(ctx.runtime.set_setting(key, value))
        print(f"{key} = {ctx.runtime.settings.masked().get(key)!r}")


@_command(
    "secret",
    "set KEY: prompt for a secret (getpass, never saved in the notebook); load: read saved ones",
    arg("verb", choices=["set", "load"]),
    arg("key", nargs="?"),
    arg("--save", action="store_true", help="also keep it encrypted in the secret store"),
    arg("--store", metavar="PATH", help="the secret store file (default ~/.eliza_nb)"),
)
def _secret(ctx: Context, args: argparse.Namespace) -> None:
    from eliza_nb.secrets import SecretStore, set_secret_interactive

    if args.verb == "set" and not args.key:
        raise UsageError("%eliza secret set KEY: name the setting to set")
    store = SecretStore(args.store) if (args.save or args.store or args.verb == "load") else None
    if args.verb == "load":
        assert store is not None
        store.load_into(ctx.runtime)
        print(f"loaded {len(store)} secret(s) from {store.path}")
        return
    set_secret_interactive(ctx.runtime, args.key, store)
    print(f"{args.key} = '***'")


@_command("test", "run the plugins' test suites (a DataFrame)", arg("plugin", nargs="?"))
def _test(ctx: Context, args: argparse.Namespace) -> pd.DataFrame:
    return ctx.wait(ctx.runtime.run_plugin_tests(args.plugin))


@_command("models", "the model handlers the plugins provide")
def _models(ctx: Context, args: argparse.Namespace) -> pd.DataFrame:
    return ctx.runtime.models_frame()


@_command("events", "the events emitted so far", arg("--last", type=positive(int), metavar="N"))
def _events(ctx: Context, args: argparse.Namespace) -> pd.DataFrame:
    return ctx.runtime.events_frame(last=args.last)


# -- widgets and help -------------------------------------------------------------------
@_command("ui", "the action-runner widget")
def _ui(ctx: Context, args: argparse.Namespace) -> Any:
    from eliza_nb.kernel.widgets import ActionRunner

    return ActionRunner(ctx.runtime)


@_command("dashboard", "the live metrics widget (it replaces the one shown before)")
def _dashboard(ctx: Context, args: argparse.Namespace) -> Any:
    from eliza_nb.kernel.widgets import kernel_dashboard

    return kernel_dashboard(ctx.runtime)


@_command(
    "debug",
    "how much eliza_nb logs: none|basic|verbose, on|off, or a level name (DEBUG, INFO, "
    "WARNING, ERROR); no argument shows the mode in force",
    arg("level", nargs="?", metavar="MODE", help="a mode, on/off, or a logging level name"),
)
def _debug(ctx: Context, args: argparse.Namespace) -> None:
    if args.level is None:
        mode = observability.get_debug_mode()
    else:
        try:
            mode = observability.set_debug_mode(args.level)
        except ValidationError as exc:  # a mistyped argument: one line, as argparse's
            raise UsageError(f"%eliza debug: {exc.message}") from None
    level = logging.getLevelName(logging.getLogger("eliza_nb").getEffectiveLevel())
    print(f"eliza_nb logging: {mode} ({level})")


@_command("help", "usage of every subcommand, or of one", arg("subcommand", nargs="?"))
def _help(ctx: Context, args: argparse.Namespace) -> None:
    cmd = COMMANDS.get(args.subcommand or "")
    if args.subcommand and cmd is None:
        raise UsageError(f"%eliza help: unknown subcommand {args.subcommand!r}")
    print(cmd.parser.format_help() if cmd else usage())
