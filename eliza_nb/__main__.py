"""The command line: ``python -m eliza_nb new-plugin NAME [--dir D]``.

Exit status 0 on success, 1 when eliza_nb refuses (a bad name, an existing folder: one line on
stderr, no traceback), 2 for bad arguments (argparse's usage message).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from eliza_nb.errors import ElizaError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m eliza_nb",
        description="eliza_nb: build, run and test elizaOS-style agent plugins in Jupyter.",
    )
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    new = commands.add_parser(
        "new-plugin",
        help="create a plugin project (package, tests, README, notebook)",
        description="Create <dir>/<NAME>: a plugin project laid out like the elizaOS guide's.",
    )
    new.add_argument("name", metavar="NAME", help="plugin name, e.g. weather or my-weather")
    new.add_argument("--dir", default=".", metavar="D", help="parent folder (default: .)")
    return parser


def _version() -> str:
    from eliza_nb import __version__

    return f"eliza_nb {__version__}"


def _new_plugin(name: str, directory: str) -> str:
    from eliza_nb.scaffold import new_plugin

    path = new_plugin(name, directory)
    return (
        f"Created plugin project {path}\n\n"
        f"Next steps:\n"
        f"  cd {path}\n"
        f'  pip install -e ".[dev]"\n'
        f"  pytest\n"
        f"Then, in a notebook: %load_ext eliza_nb and %eliza register {name}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "new-plugin":
            print(_new_plugin(args.name, args.dir))
    except ElizaError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except OSError as exc:  # e.g. no permission to write the folder
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
