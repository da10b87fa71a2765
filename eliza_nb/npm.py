"""Node.js and npm for the Node bridge: find the tools, install npm plugin packages into a cache.

The bridge that imports an elizaOS TypeScript plugin needs two things from here: a ``node``
executable (:func:`find_node`) and a folder holding the installed package (:func:`install`)::

    node = find_node()                              # '/usr/bin/node' (Node 18 or later)
    pkg = install("@elizaos/plugin-bootstrap@1.7.2")
    pkg.folder                                      # .../node_modules/@elizaos/plugin-bootstrap

Every registry spec gets its own install folder under :func:`cache_dir`, written to a temporary
sibling and renamed into place, so a half-finished install is never mistaken for a finished one
and two processes installing the same spec do not trip over each other. A folder that is there
is used without running npm. Failures raise one :class:`~eliza_nb.errors.PluginError` whose
message says what to do; ``details`` hold npm's exit code and the tail of its stderr.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import secrets
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from eliza_nb.errors import PluginError, ValidationError

__all__ = [
    "MIN_NODE_MAJOR",
    "InstalledPackage",
    "PackageSpec",
    "cache_dir",
    "find_node",
    "find_npm",
    "install",
]

log = logging.getLogger("eliza_nb.npm")

#: The oldest Node.js major version the bridge runs on.
MIN_NODE_MAJOR = 18

_NO_NPM = (
    "npm was not found on PATH; install it, e.g. `sudo apt-get install npm` "
    "or with Node.js from https://nodejs.org"
)
_INSTALL_NODE = (
    f"install Node.js {MIN_NODE_MAJOR} or later, "
    "e.g. `sudo apt-get install nodejs npm` or https://nodejs.org"
)
# npm's rules for new package names (validate-npm-package-name): lower case, URL-safe, no
# leading '.' or '_', at most 214 characters, optionally under one @scope.
_NAME = re.compile(r"(?:@[a-z0-9-][a-z0-9._-]*/)?[a-z0-9-][a-z0-9._-]*")
_MAX_NAME = 214
# A version, a range ('^1', '>=1.2 <2', '1.x || 2.x') or a dist-tag ('latest', 'next').
_VERSION = re.compile(r"[0-9A-Za-z.^~<>=|*+ -]+")
_EXACT = re.compile(r"\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?")
_CACHE_MANIFEST = json.dumps({"name": "eliza-nb-plugin-cache", "private": True}) + "\n"
_NETWORK = ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ETIMEDOUT", "ECONNRESET")
_MISSING = re.compile(r"'((?:@[^/\s']+/)?[^@\s']+)[^\s']*' (?:could not be found|is not in this)")
_NO_VERSION = re.compile(r"No matching version found for ((?:@[^/\s]+/)?[^@\s]+)@(\S+)")
_STDERR_TAIL = 20


def cache_dir() -> Path:
    """The folder npm plugin packages are installed into, shared by the tests and users.

    ``$ELIZA_NB_NPM_CACHE`` when set, else ``$XDG_CACHE_HOME/eliza_nb/npm`` (an absolute
    ``XDG_CACHE_HOME`` only, as the XDG spec says), else ``~/.cache/eliza_nb/npm``. Never a
    folder inside the project: a relative ``ELIZA_NB_NPM_CACHE`` is made absolute. The folder is
    created by :func:`install`, not here.
    """
    if own := os.environ.get("ELIZA_NB_NPM_CACHE"):
        return Path(own).expanduser().absolute()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "eliza_nb" / "npm"


def find_node() -> str:
    """The path of a ``node`` of version :data:`MIN_NODE_MAJOR` or later on ``PATH``.

    Each executable is asked for its version once (the answer is cached per path and
    modification time), so calling this for every runtime costs a ``PATH`` lookup.

    Raises:
        PluginError: there is no ``node`` on ``PATH``, it does not run, or it is too old (the
            message names the version found).
    """
    path, version = _probe("node", f"Node.js was not found on PATH; {_INSTALL_NODE}")
    match = re.fullmatch(r"v?(\d+)\.\d+\.\d+\S*", version)
    if match is None:
        raise PluginError(f"{path} --version printed {version!r}, not a version; {_INSTALL_NODE}")
    if int(match.group(1)) < MIN_NODE_MAJOR:
        raise PluginError(
            f"Node.js {version} at {path} is too old; {_INSTALL_NODE}",
            details={"node": path, "version": version},
        )
    return path


def find_npm() -> str:
    """The path of an ``npm`` on ``PATH`` that runs (any version; cached like :func:`find_node`).

    Raises:
        PluginError: there is no ``npm`` on ``PATH``, or ``npm --version`` fails.
    """
    return _probe("npm", _NO_NPM)[0]


def _probe(tool: str, missing: str) -> tuple[str, str]:
    """``tool``'s path and what its ``--version`` printed; PluginError(missing) if it has none."""
    path = shutil.which(tool)
    if path is None:
        raise PluginError(missing, details={"tool": tool})
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError:
        raise PluginError(missing, details={"tool": tool, "path": path}) from None
    version = _version_of(path, mtime)
    if version is None:
        raise PluginError(f"`{path} --version` failed; reinstall {tool}", details={"tool": tool})
    return path, version


@functools.lru_cache(maxsize=32)
def _version_of(path: str, mtime_ns: int) -> str | None:
    """What ``path --version`` prints, or None when it fails (once per file and mtime)."""
    start = time.perf_counter()
    try:
        done = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    log.debug("ran %s --version in %.2f s", path, time.perf_counter() - start)
    return done.stdout.strip() if done.returncode == 0 else None


@dataclass(frozen=True)
class PackageSpec:
    """What to install: an npm package (with a version, a range or a tag) or a local folder.

    Build it with :meth:`parse`. ``folder`` is set for a local folder, whose ``name`` is the one
    its ``package.json`` gives ('' when it gives none; :func:`install` then refuses it).
    """

    name: str
    version: str | None
    folder: Path | None = None

    @classmethod
    def parse(cls, spec: str) -> PackageSpec:
        """Read ``'@scope/name@1.2.3'``, ``'name@^1'``, ``'name'``, or a local folder.

        A local folder is ``./path``, ``../path``, ``/abs/path``, ``~/path``, ``file:/path``
        or any path of an existing folder; an optional leading ``npm:`` is dropped.

        Raises:
            ValidationError: the package name breaks npm's rules (empty, spaces, upper case,
                characters npm does not allow) or the version is not a version, range or tag
                (``field='spec'``).
            PluginError: a local folder does not exist or has no ``package.json``.
        """
        if not isinstance(spec, str):
            kind = type(spec).__name__
            raise ValidationError(f"npm spec must be a string, not {kind}", field="spec")
        text = spec.strip().removeprefix("npm:")
        if text.startswith("file:"):
            return _local_spec(spec, text.removeprefix("file:").removeprefix("//"))
        # An existing folder is a folder (npm would read 'dir/name' as a GitHub repository).
        if text.startswith((".", "/", "~")) or (text and Path(text).is_dir()):
            return _local_spec(spec, text)
        # The first '@' after the first character splits name and version: a scope's '@'
        # stays with the name.
        rest, sep, version = text[1:].partition("@")
        name = text[:1] + rest
        _check_name(spec, name)
        if sep:
            _check_version(spec, version)
        return cls(name, version if sep else None)

    def __str__(self) -> str:
        if self.folder is not None:
            return str(self.folder)
        return self.name if self.version is None else f"{self.name}@{self.version}"


@dataclass(frozen=True)
class InstalledPackage:
    """An installed package: ``name`` and ``version`` from its ``package.json``, its folder.

    ``folder`` is the package's own folder (``.../node_modules/<name>``, or a local folder
    itself): the bridge imports the package from there.
    """

    name: str
    version: str
    folder: Path


# The first rule a name breaks names the problem (the last one covers every other character).
_NAME_RULES: tuple[tuple[Callable[[str], bool], str], ...] = (
    (lambda name: not name, "has no package name"),
    (lambda name: len(name) > _MAX_NAME, f"has a name longer than {_MAX_NAME} characters"),
    (lambda name: any(c.isspace() for c in name), "has a space in its name"),
    (lambda name: name != name.lower(), "has upper-case letters (npm names are lower case)"),
    (lambda name: name.startswith((".", "_")), "has a name starting with '.' or '_'"),
    (lambda name: not _NAME.fullmatch(name), "has characters npm does not allow in a name"),
)


def _check_name(spec: str, name: str) -> None:
    """Raise ValidationError(field='spec') saying why ``name`` is not a valid npm name."""
    problem = next((text for broken, text in _NAME_RULES if broken(name)), None)
    if problem is not None:
        raise ValidationError(
            f"npm spec {spec!r} {problem}; write e.g. '@scope/name@1.2.3', 'name@^1', './dir'",
            field="spec",
        )


def _check_version(spec: str, version: str) -> None:
    if not _VERSION.fullmatch(version) or not version.strip():
        raise ValidationError(
            f"npm spec {spec!r} has no usable version after '@'; "
            "give a version, a range or a tag (e.g. '1.2.3', '^1', 'latest')",
            field="spec",
        )


def _local_spec(spec: str, path: str) -> PackageSpec:
    """The spec of the local package folder ``path``; PluginError if it holds no package.json."""
    folder = Path(path).expanduser().absolute()
    if not folder.is_dir():
        raise PluginError(
            f"Folder {folder} does not exist; point at the plugin's folder (with package.json)",
            plugin=spec,
        )
    if not (folder / "package.json").is_file():
        raise PluginError(
            f"No package.json in {folder}; point at the plugin's own folder", plugin=spec
        )
    return PackageSpec(_name_in(folder / "package.json"), None, folder)


def _name_in(manifest: Path) -> str:
    """The name ``manifest`` gives, '' if none (install reads it again and says what is wrong)."""
    try:
        name = json.loads(manifest.read_text(encoding="utf-8")).get("name")
    except (OSError, ValueError, AttributeError):
        return ""
    return name if isinstance(name, str) else ""


def install(
    spec: str | PackageSpec,
    *,
    cache: Path | None = None,
    timeout: float = 300,
    refresh: bool = False,
) -> InstalledPackage:
    """Install an npm package into the cache (once) and return where it is.

    A local folder is returned as it is, without npm. A registry spec installs into
    ``<cache>/<slug>/`` (``@elizaos+plugin-bootstrap@1.7.2``); when that folder already holds
    the package it is used without running npm: for an exact version if the versions match, for
    a range or tag (``'^1'``, ``'latest'``, none) whatever was installed first. To update one,
    delete its folder or pass ``refresh=True``.

    Args:
        spec: What :meth:`PackageSpec.parse` reads, or a parsed spec.
        cache: The cache folder; :func:`cache_dir` when None.
        timeout: Seconds npm may take before it is stopped.
        refresh: Install again even when the cache holds the package.

    Raises:
        ValidationError: ``spec`` cannot be read.
        PluginError: npm is missing, the package or version does not exist, the registry
            cannot be reached, npm failed or ran past ``timeout``, or the cache is not writable.
    """
    parsed = spec if isinstance(spec, PackageSpec) else PackageSpec.parse(spec)
    if parsed.folder is not None:
        return _local_package(parsed.folder, str(parsed))
    target = (cache if cache is not None else cache_dir()) / _slug(parsed)
    found = None if refresh else _reusable(target, parsed)
    if found is not None:
        log.debug("using %s@%s from %s", found.name, found.version, target)
        return found
    try:
        return _install_fresh(parsed, target, timeout)
    except OSError as exc:
        raise _unwritable(parsed, target.parent, exc) from exc


def _unwritable(spec: PackageSpec, cache: Path, exc: OSError) -> PluginError:
    return PluginError(
        f"Cannot write the npm cache at {cache} ({exc.strerror or exc}); "
        "set ELIZA_NB_NPM_CACHE to a writable folder",
        plugin=str(spec),
    )


def _slug(spec: PackageSpec) -> str:
    """The install folder's name: '/' becomes '+' (npm names hold no '+'), the version quoted."""
    slug = spec.name.replace("/", "+")
    return slug if spec.version is None else f"{slug}@{quote(spec.version, safe='')}"


def _local_package(folder: Path, spec: str) -> InstalledPackage:
    manifest = _manifest(folder / "package.json", spec)
    name = manifest.get("name")
    if not isinstance(name, str) or not name:
        raise PluginError(
            f'{folder / "package.json"} has no "name"; give the package a name', plugin=spec
        )
    version = manifest.get("version")
    return InstalledPackage(name, version if isinstance(version, str) else "", folder)


def _manifest(path: Path, spec: str) -> dict[str, Any]:
    """The JSON object in ``path``; PluginError if it cannot be read or is not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PluginError(f"Cannot read {path} ({exc}); fix or reinstall it", plugin=spec) from exc
    if not isinstance(data, dict):
        raise PluginError(f"{path} is not a JSON object; fix or reinstall it", plugin=spec)
    return data


def _reusable(target: Path, spec: PackageSpec) -> InstalledPackage | None:
    """The package installed in ``target`` if it can serve ``spec``, else None."""
    path = target / "node_modules" / spec.name / "package.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        name, version = manifest["name"], manifest["version"]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if name != spec.name or not isinstance(version, str):
        return None
    if spec.version is not None and _EXACT.fullmatch(spec.version) and version != spec.version:
        return None
    return InstalledPackage(name, version, path.parent)


def _install_fresh(spec: PackageSpec, target: Path, timeout: float) -> InstalledPackage:
    """npm-install ``spec`` into a temporary sibling of ``target``, then rename it into place."""
    npm = find_npm()
    replace = target.exists()  # stale, or refresh=True: ours takes its place
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        tmp.mkdir()
        (tmp / "package.json").write_text(_CACHE_MANIFEST, encoding="utf-8")
        log.info("installing %s into %s", spec, target)
        _run_npm(npm, spec, tmp, timeout)
        _installed(tmp, spec)
        _move_into_place(tmp, target, replace)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _installed(target, spec)


def _move_into_place(tmp: Path, target: Path, replace: bool) -> None:
    """Rename ``tmp`` to ``target``; if another process got there first, theirs stays."""
    if replace and target.exists():
        _swap(tmp, target)
        return
    try:
        os.rename(tmp, target)
    except OSError:
        if not target.is_dir():
            raise
        log.debug("another process installed %s first; using that one", target)


def _swap(tmp: Path, target: Path) -> None:
    """Put ``tmp`` where ``target`` is: move the old folder aside first, then delete it."""
    old = tmp.with_name(tmp.name.replace(".tmp-", ".old-"))
    os.replace(target, old)
    try:
        os.replace(tmp, target)
    finally:
        shutil.rmtree(old, ignore_errors=True)


def _installed(root: Path, spec: PackageSpec) -> InstalledPackage:
    """The package npm put under ``root``; PluginError if it is not there."""
    path = root / "node_modules" / spec.name / "package.json"
    if not path.is_file():
        raise PluginError(
            f"npm install {spec} left no {path}; delete {root} and try again", plugin=str(spec)
        )
    manifest = _manifest(path, str(spec))
    name, version = manifest.get("name"), manifest.get("version")
    if name != spec.name or not isinstance(version, str):
        raise PluginError(
            f"{path} is not {spec.name}'s (name {name!r}, version {version!r}); "
            f"delete {root} and try again",
            plugin=str(spec),
        )
    return InstalledPackage(spec.name, version, path.parent)


def _run_npm(npm: str, spec: PackageSpec, prefix: Path, timeout: float) -> None:
    """Run ``npm install`` of ``spec`` into ``prefix``; PluginError saying why if it fails."""
    cmd = _npm_command(npm, spec, prefix)
    env = {**os.environ, "npm_config_update_notifier": "false"}
    start = time.perf_counter()
    try:
        done = subprocess.run(
            cmd,
            capture_output=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
            cwd=prefix,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise _timed_out(spec, timeout) from None
    elapsed = time.perf_counter() - start
    log.debug("ran %s in %.2f s (exit %d)", shlex.join(cmd), elapsed, done.returncode)
    if done.returncode != 0:
        raise _npm_failure(spec, done.returncode, done.stderr)


def _timed_out(spec: PackageSpec, timeout: float) -> PluginError:
    return PluginError(
        f"npm install {spec} took over {timeout:g} s and was stopped; "
        "check the network, or pass a larger timeout=",
        plugin=str(spec),
        details={"exit_code": None, "timeout": timeout},
    )


def _npm_command(npm: str, spec: PackageSpec, prefix: Path) -> list[str]:
    # --ignore-scripts on purpose: a plugin is imported as the built ES module it ships, and the
    # install scripts of some dependencies (bun's, for one) download binaries and run arbitrary
    # code; none of that is needed to import the plugin.
    quiet = ["--no-audit", "--no-fund", "--loglevel=error"]
    return [npm, "install", "--ignore-scripts", *quiet, "--prefix", str(prefix), str(spec)]


def _npm_failure(spec: PackageSpec, code: int, stderr: str) -> PluginError:
    """The one PluginError that says what npm's failure means."""
    tail = stderr.strip().splitlines()[-_STDERR_TAIL:]
    return PluginError(
        _failure_message(spec, code, stderr),
        plugin=str(spec),
        details={"exit_code": code, "stderr": "\n".join(tail)},
    )


def _failure_message(spec: PackageSpec, code: int, stderr: str) -> str:
    if "E404" in stderr or "is not in this registry" in stderr:
        found = _MISSING.search(stderr)
        return _no_package(spec, found.group(1) if found else spec.name)
    if "ETARGET" in stderr or "No matching version" in stderr:
        found = _NO_VERSION.search(stderr)
        name, version = found.groups() if found else (spec.name, spec.version or "")
        return _no_version(spec, name, version.rstrip("."))
    network = next((word for word in _NETWORK if word in stderr), None)
    if network is not None:
        return _unreachable(spec, network)
    return f"npm install {spec} failed (exit {code}): {_last_line(stderr)}"


def _unreachable(spec: PackageSpec, error: str) -> str:
    return (
        f"npm could not reach the registry ({error}) to install {spec}; "
        "check the network and `npm config get registry`"
    )


def _no_package(spec: PackageSpec, name: str) -> str:
    return f"npm has no package '{name}'{_whose(spec, name)}; check the name (npm view {name})"


def _no_version(spec: PackageSpec, name: str, version: str) -> str:
    listing = f"`npm view {name} versions` lists them"
    return f"npm has no version '{version}' of '{name}'{_whose(spec, name)}; {listing}"


def _whose(spec: PackageSpec, name: str) -> str:
    """Says so when what npm lacks is not ``spec``'s package but one of its dependencies."""
    return "" if name == spec.name else f" (a dependency of {spec})"


def _last_line(stderr: str) -> str:
    """npm's last meaningful stderr line: without its 'npm error' prefix and the log's path."""
    for line in reversed(stderr.splitlines()):
        text = re.sub(r"^npm (?:error|ERR!)\s*", "", line.strip())
        if text and not text.startswith("A complete log of this run"):
            return text
    return "(npm printed nothing on stderr)"
