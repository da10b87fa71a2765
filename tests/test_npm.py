"""eliza_nb.npm: finding Node and npm, reading specs, installing packages into a cache.

The real npm installs ``is-number@7.0.0`` (no dependencies) from the registry; those tests skip
when npm is missing or the registry cannot be reached. Failures npm cannot be made to produce
on demand come from a fake ``npm`` script put first on ``PATH``.
"""

from __future__ import annotations

import json
import logging
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from eliza_nb import npm
from eliza_nb.errors import PluginError, ValidationError
from eliza_nb.npm import InstalledPackage, PackageSpec

HAVE_NPM = shutil.which("npm") is not None and shutil.which("node") is not None
needs_npm = pytest.mark.skipif(not HAVE_NPM, reason="no node/npm on PATH (make node)")


@pytest.fixture(autouse=True)
def _fresh_probe_cache() -> Iterator[None]:
    """Every test asks the tools for their versions afresh (the cache is per path and mtime)."""
    npm._version_of.cache_clear()
    yield
    npm._version_of.cache_clear()


def _script(folder: Path, name: str, body: str) -> Path:
    """An executable Python script ``folder/name`` (absolute shebang: PATH may be empty)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"#!{sys.executable}\nimport os, sys\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _fake_npm(folder: Path, body: str) -> Path:
    """A fake ``npm``: ``--version`` works, ``install`` runs ``body`` (``prefix`` is set)."""
    return _script(
        folder,
        "npm",
        "if sys.argv[1:] == ['--version']:\n    print('10.0.0'); sys.exit(0)\n"
        "prefix = sys.argv[sys.argv.index('--prefix') + 1]\n" + body,
    )


# A fake npm that "installs" the requested package with $FAKE_VERSION (1.0.0 by default).
WRITES_PACKAGE = """
spec = sys.argv[-1]
name = spec[:1] + spec[1:].split('@')[0]
folder = os.path.join(prefix, 'node_modules', name)
os.makedirs(folder)
version = os.environ.get('FAKE_VERSION', '1.0.0')
open(os.path.join(folder, 'package.json'), 'w').write(
    '{"name": "%s", "version": "%s"}' % (name, version))
"""


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """The npm cache of one test (created by install)."""
    return tmp_path / "cache"


@pytest.fixture
def fake_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder that is all of PATH: put fake tools in it."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", str(folder))
    return folder


@pytest.fixture(scope="session")
def registry_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache shared by the real-npm tests, holding is-number@7.0.0 (skips when offline)."""
    if not HAVE_NPM:
        pytest.skip("no node/npm on PATH (make node)")
    cache = tmp_path_factory.mktemp("npm-cache")
    try:
        npm.install("is-number@7.0.0", cache=cache)
    except PluginError as exc:
        if "could not reach the registry" in exc.message:
            pytest.skip(f"npm registry unreachable: {exc.message}")
        raise
    return cache


# -- cache_dir ---------------------------------------------------------------------------------


def test_cache_dir_prefers_its_own_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ELIZA_NB_NPM_CACHE", str(tmp_path / "own"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert npm.cache_dir() == tmp_path / "own"


def test_cache_dir_makes_a_relative_variable_absolute(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ELIZA_NB_NPM_CACHE", "rel")
    assert npm.cache_dir() == tmp_path / "rel"


def test_cache_dir_then_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ELIZA_NB_NPM_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert npm.cache_dir() == tmp_path / "xdg" / "eliza_nb" / "npm"


@pytest.mark.parametrize("xdg", [None, "", "relative/cache"])
def test_cache_dir_then_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, xdg: str | None
) -> None:
    monkeypatch.delenv("ELIZA_NB_NPM_CACHE", raising=False)
    if xdg is None:
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_CACHE_HOME", xdg)  # XDG: a relative value is ignored
    monkeypatch.setenv("HOME", str(tmp_path))
    assert npm.cache_dir() == tmp_path / ".cache" / "eliza_nb" / "npm"


# -- PackageSpec.parse -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "name", "version", "shown"),
    [
        ("@elizaos/plugin-bootstrap@1.7.2", "@elizaos/plugin-bootstrap", "1.7.2", None),
        ("@elizaos/plugin-bootstrap", "@elizaos/plugin-bootstrap", None, None),
        ("is-number@^7", "is-number", "^7", None),
        ("is-number", "is-number", None, None),
        ("is-number@latest", "is-number", "latest", None),
        ("is-number@>=7 <8", "is-number", ">=7 <8", None),
        ("npm:is-number@7.0.0", "is-number", "7.0.0", "is-number@7.0.0"),
        ("  is-number@7.0.0\n", "is-number", "7.0.0", "is-number@7.0.0"),
    ],
)
def test_parse_registry_specs(spec: str, name: str, version: str | None, shown: str | None) -> None:
    parsed = PackageSpec.parse(spec)
    assert (parsed.name, parsed.version, parsed.folder) == (name, version, None)
    assert str(parsed) == (shown or spec)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("", "no package name"),
        ("@1.0.0", "characters npm does not allow"),
        ("is number", "space"),
        ("Is-Number@1.0.0", "upper-case"),
        ("@Elizaos/plugin", "upper-case"),
        ("_private", "starting with '.' or '_'"),
        ("is-number!", "characters npm does not allow"),
        ("@scope/", "characters npm does not allow"),
        ("a/b", "characters npm does not allow"),
        ("x" * 215, "longer than 214"),
        ("is-number@", "no usable version"),
        ("is-number@git+https://x/y.git", "no usable version"),
    ],
)
def test_parse_refuses_bad_names(spec: str, words: str) -> None:
    with pytest.raises(ValidationError) as info:
        PackageSpec.parse(spec)
    assert info.value.code == "VALIDATION_ERROR"
    assert info.value.field == "spec"
    assert words in info.value.message
    assert "'@scope/name@1.2.3'" in info.value.message or "a range or a tag" in info.value.message


def test_parse_refuses_what_is_not_a_string() -> None:
    with pytest.raises(ValidationError) as info:
        PackageSpec.parse(7)  # type: ignore[arg-type]
    assert info.value.message == "npm spec must be a string, not int"


@pytest.fixture
def local_plugin(tmp_path: Path) -> Path:
    folder = tmp_path / "plugin-local"
    folder.mkdir()
    (folder / "package.json").write_text('{"name": "@me/plugin-local", "version": "0.3.1"}')
    return folder


def test_parse_local_folder_forms(
    local_plugin: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    forms = [
        "./plugin-local",
        str(local_plugin),
        "~/plugin-local",
        f"file:{local_plugin}",
        f"file://{local_plugin}",
        "npm:./plugin-local",
    ]
    for form in forms:
        parsed = PackageSpec.parse(form)
        assert parsed == PackageSpec("@me/plugin-local", None, local_plugin), form
        assert str(parsed) == str(local_plugin)


def test_parse_local_folder_must_exist(tmp_path: Path) -> None:
    with pytest.raises(PluginError) as info:
        PackageSpec.parse(str(tmp_path / "nowhere"))
    assert info.value.code == "PLUGIN_ERROR"
    assert str(tmp_path / "nowhere") in info.value.message
    assert "does not exist" in info.value.message


def test_parse_local_folder_needs_a_package_json(tmp_path: Path) -> None:
    with pytest.raises(PluginError) as info:
        PackageSpec.parse(str(tmp_path))
    assert info.value.code == "PLUGIN_ERROR"
    assert f"No package.json in {tmp_path}" in info.value.message


# -- install: a local folder -------------------------------------------------------------------


def test_install_a_local_folder_runs_no_npm(
    local_plugin: Path, fake_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(npm.subprocess, "run", _no_subprocess)
    installed = npm.install(str(local_plugin), cache=fake_bin / "unused")
    assert installed == InstalledPackage("@me/plugin-local", "0.3.1", local_plugin)
    assert not (fake_bin / "unused").exists()


def test_install_a_local_folder_needs_a_name(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text('{"version": "1.0.0"}')
    with pytest.raises(PluginError) as info:
        npm.install(str(tmp_path))
    assert info.value.code == "PLUGIN_ERROR"
    assert 'has no "name"' in info.value.message
    assert info.value.plugin == str(tmp_path)


def test_install_a_local_folder_with_broken_json(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text("{not json")
    with pytest.raises(PluginError) as info:
        npm.install(f"file:{tmp_path}")
    assert info.value.code == "PLUGIN_ERROR"
    assert f"Cannot read {tmp_path / 'package.json'}" in info.value.message


# -- find_node / find_npm ----------------------------------------------------------------------


@needs_npm
def test_find_node_and_npm_on_this_machine() -> None:
    node = npm.find_node()
    assert Path(node).name == "node"
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout
    assert int(version.lstrip("v").split(".")[0]) >= npm.MIN_NODE_MAJOR
    assert Path(npm.find_npm()).name == "npm"


def test_find_node_missing(fake_bin: Path) -> None:
    with pytest.raises(PluginError) as info:
        npm.find_node()
    assert info.value.code == "PLUGIN_ERROR"
    assert "Node.js was not found on PATH" in info.value.message
    assert "install Node.js 18 or later" in info.value.message
    assert "sudo apt-get install nodejs npm" in info.value.message
    assert "https://nodejs.org" in info.value.message


def test_find_node_too_old(fake_bin: Path) -> None:
    _script(fake_bin, "node", "print('v16.0.0')")
    with pytest.raises(PluginError) as info:
        npm.find_node()
    assert info.value.code == "PLUGIN_ERROR"
    assert f"Node.js v16.0.0 at {fake_bin / 'node'} is too old" in info.value.message
    assert "install Node.js 18 or later" in info.value.message


def test_find_node_that_prints_no_version(fake_bin: Path) -> None:
    _script(fake_bin, "node", "print('hello')")
    with pytest.raises(PluginError) as info:
        npm.find_node()
    assert "printed 'hello', not a version" in info.value.message


def test_find_node_asks_each_executable_once(fake_bin: Path) -> None:
    calls = fake_bin / "calls"
    _script(fake_bin, "node", f"open({str(calls)!r}, 'a').write('x'); print('v20.1.0')")
    assert npm.find_node() == npm.find_node() == str(fake_bin / "node")
    assert calls.read_text() == "x"


def test_find_npm_missing(fake_bin: Path) -> None:
    with pytest.raises(PluginError) as info:
        npm.find_npm()
    assert info.value.code == "PLUGIN_ERROR"
    assert "npm was not found on PATH" in info.value.message
    assert "sudo apt-get install npm" in info.value.message


def test_find_npm_that_does_not_run(fake_bin: Path) -> None:
    _script(fake_bin, "npm", "sys.exit(3)")
    with pytest.raises(PluginError) as info:
        npm.find_npm()
    assert f"`{fake_bin / 'npm'} --version` failed; reinstall npm" in info.value.message


# -- install: the real npm ---------------------------------------------------------------------


def _no_subprocess(*args: object, **kwargs: object) -> None:
    raise AssertionError(f"ran a subprocess: {args}")


@needs_npm
def test_install_from_the_registry(registry_cache: Path) -> None:
    installed = npm.install("is-number@7.0.0", cache=registry_cache)
    folder = registry_cache / "is-number@7.0.0" / "node_modules" / "is-number"
    assert installed == InstalledPackage("is-number", "7.0.0", folder)
    assert (folder / "index.js").is_file()
    assert [p.name for p in registry_cache.iterdir()] == ["is-number@7.0.0"]  # no tmp left


@needs_npm
def test_a_second_install_runs_no_npm(
    registry_cache: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(npm.subprocess, "run", _no_subprocess)
    monkeypatch.setenv("PATH", str(tmp_path))
    installed = npm.install(PackageSpec.parse("is-number@7.0.0"), cache=registry_cache)
    assert installed.version == "7.0.0"


@needs_npm
def test_install_says_which_package_npm_lacks(registry_cache: Path, cache: Path) -> None:
    spec = "@eliza-nb/certainly-not-a-real-package-xyz@1.0.0"
    with pytest.raises(PluginError) as info:
        npm.install(spec, cache=cache)
    name = "@eliza-nb/certainly-not-a-real-package-xyz"
    assert info.value.code == "PLUGIN_ERROR"
    assert info.value.message == f"npm has no package '{name}'; check the name (npm view {name})"
    assert info.value.plugin == spec
    assert info.value.details["exit_code"] != 0
    assert "E404" in info.value.details["stderr"]
    assert list(cache.iterdir()) == []


@needs_npm
def test_install_says_which_version_npm_lacks(registry_cache: Path, cache: Path) -> None:
    with pytest.raises(PluginError) as info:
        npm.install("is-number@999.0.0", cache=cache)
    assert info.value.code == "PLUGIN_ERROR"
    assert info.value.message == (
        "npm has no version '999.0.0' of 'is-number'; `npm view is-number versions` lists them"
    )
    assert "ETARGET" in info.value.details["stderr"]
    assert list(cache.iterdir()) == []


@needs_npm
def test_install_logs_what_it_runs(
    registry_cache: Path, cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="eliza_nb.npm"):
        npm.install("is-number@7.0.0", cache=cache)
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert infos == [f"installing is-number@7.0.0 into {cache / 'is-number@7.0.0'}"]
    assert any("--ignore-scripts" in r.getMessage() for r in caplog.records)


# -- install: failures and the cache, with a fake npm ------------------------------------------


def test_a_failing_npm_says_why_and_leaves_nothing(fake_bin: Path, cache: Path) -> None:
    _fake_npm(
        fake_bin,
        "os.makedirs(os.path.join(prefix, 'node_modules', 'junk'))\n"
        "print('npm error code EWHATEVER', file=sys.stderr)\n"
        "print('npm error the disk is made of cheese', file=sys.stderr)\n"
        "print('npm error A complete log of this run can be found in: /x.log', file=sys.stderr)\n"
        "sys.exit(1)",
    )
    with pytest.raises(PluginError) as info:
        npm.install("some-plugin@1.0.0", cache=cache)
    assert info.value.code == "PLUGIN_ERROR"
    assert info.value.message == (
        "npm install some-plugin@1.0.0 failed (exit 1): the disk is made of cheese"
    )
    assert info.value.details["exit_code"] == 1
    assert "EWHATEVER" in info.value.details["stderr"]
    assert list(cache.iterdir()) == []


@pytest.mark.parametrize("word", ["ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ETIMEDOUT"])
def test_network_errors_say_the_registry_was_unreachable(
    fake_bin: Path, cache: Path, word: str
) -> None:
    _fake_npm(fake_bin, f"print('npm error code {word}', file=sys.stderr); sys.exit(1)")
    with pytest.raises(PluginError) as info:
        npm.install("some-plugin@1.0.0", cache=cache)
    assert info.value.message.startswith(f"npm could not reach the registry ({word})")
    assert "some-plugin@1.0.0" in info.value.message


def test_a_missing_dependency_is_named_as_one(fake_bin: Path, cache: Path) -> None:
    _fake_npm(
        fake_bin,
        "print(\"npm error 404  'left-pad-xyz@^9' is not in this registry.\", file=sys.stderr)\n"
        "sys.exit(1)",
    )
    with pytest.raises(PluginError) as info:
        npm.install("some-plugin@1.0.0", cache=cache)
    assert info.value.message == (
        "npm has no package 'left-pad-xyz' (a dependency of some-plugin@1.0.0); "
        "check the name (npm view left-pad-xyz)"
    )


def test_a_timeout_says_how_long(
    fake_bin: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_npm(fake_bin, "")

    def too_slow(cmd: list[str], **kwargs: object) -> None:
        raise subprocess.TimeoutExpired(cmd, 7.5)

    npm.find_npm()  # probe the fake before run is replaced
    monkeypatch.setattr(npm.subprocess, "run", too_slow)
    with pytest.raises(PluginError) as info:
        npm.install("some-plugin@1.0.0", cache=cache, timeout=7.5)
    assert info.value.code == "PLUGIN_ERROR"
    assert "npm install some-plugin@1.0.0 took over 7.5 s" in info.value.message
    assert list(cache.iterdir()) == []


def test_npm_that_installs_nothing(fake_bin: Path, cache: Path) -> None:
    _fake_npm(fake_bin, "")
    with pytest.raises(PluginError) as info:
        npm.install("some-plugin@1.0.0", cache=cache)
    assert info.value.code == "PLUGIN_ERROR"
    assert "npm install some-plugin@1.0.0 left no " in info.value.message
    assert "node_modules/some-plugin/package.json" in info.value.message
    assert list(cache.iterdir()) == []


def test_npm_runs_with_the_flags_and_manifest_promised(
    fake_bin: Path, tmp_path: Path, cache: Path
) -> None:
    seen = tmp_path / "seen.json"
    _fake_npm(
        fake_bin,
        "import json\n"
        f"json.dump({{'argv': sys.argv[1:], 'cwd': os.getcwd(),"
        f" 'notifier': os.environ.get('npm_config_update_notifier'),"
        f" 'manifest': json.load(open(os.path.join(prefix, 'package.json')))}},"
        f" open({str(seen)!r}, 'w'))\n" + WRITES_PACKAGE,
    )
    npm.install("@scope/some-plugin@^2", cache=cache)
    facts = json.loads(seen.read_text())
    prefix = facts["argv"][facts["argv"].index("--prefix") + 1]
    assert Path(prefix).name.startswith(".@scope+some-plugin@%5E2.tmp-")
    assert facts["cwd"] == prefix
    assert {"install", "--ignore-scripts", "--no-audit", "--no-fund"} <= set(facts["argv"])
    assert facts["argv"][-1] == "@scope/some-plugin@^2"
    assert facts["notifier"] == "false"
    assert facts["manifest"] == {"name": "eliza-nb-plugin-cache", "private": True}
    assert [p.name for p in cache.iterdir()] == ["@scope+some-plugin@%5E2"]


def test_a_range_reuses_its_folder_until_refreshed(
    fake_bin: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_npm(fake_bin, WRITES_PACKAGE)
    assert npm.install("some-plugin", cache=cache).version == "1.0.0"
    monkeypatch.setenv("FAKE_VERSION", "1.1.0")
    assert npm.install("some-plugin", cache=cache).version == "1.0.0"
    refreshed = npm.install("some-plugin", cache=cache, refresh=True)
    assert refreshed == InstalledPackage(
        "some-plugin", "1.1.0", cache / "some-plugin" / "node_modules" / "some-plugin"
    )
    assert [p.name for p in cache.iterdir()] == ["some-plugin"]


def test_an_exact_version_replaces_a_folder_holding_another(fake_bin: Path, cache: Path) -> None:
    stale = cache / "some-plugin@1.0.0" / "node_modules" / "some-plugin"
    stale.mkdir(parents=True)
    (stale / "package.json").write_text('{"name": "some-plugin", "version": "0.9.0"}')
    _fake_npm(fake_bin, WRITES_PACKAGE)
    assert npm.install("some-plugin@1.0.0", cache=cache).version == "1.0.0"
    assert [p.name for p in cache.iterdir()] == ["some-plugin@1.0.0"]


def test_another_process_that_finished_first_wins(fake_bin: Path, cache: Path) -> None:
    # While "our" npm runs, another process puts its finished install in place.
    theirs = cache / "some-plugin@1.0.0" / "node_modules" / "some-plugin"
    _fake_npm(
        fake_bin,
        WRITES_PACKAGE
        + f"os.makedirs({str(theirs)!r})\n"
        + f"open(os.path.join({str(theirs)!r}, 'package.json'), 'w')"
        + '.write(\'{"name": "some-plugin", "version": "1.0.0", "theirs": true}\')',
    )
    installed = npm.install("some-plugin@1.0.0", cache=cache)
    assert installed.folder == theirs
    assert json.loads((theirs / "package.json").read_text())["theirs"] is True
    assert [p.name for p in cache.iterdir()] == ["some-plugin@1.0.0"]


def test_an_unwritable_cache_says_so(fake_bin: Path, tmp_path: Path) -> None:
    _fake_npm(fake_bin, WRITES_PACKAGE)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(PluginError) as info:
        npm.install("some-plugin@1.0.0", cache=blocker / "cache")
    assert info.value.code == "PLUGIN_ERROR"
    assert f"Cannot write the npm cache at {blocker / 'cache'}" in info.value.message
    assert "ELIZA_NB_NPM_CACHE" in info.value.message


def test_install_needs_npm(fake_bin: Path, cache: Path) -> None:
    with pytest.raises(PluginError) as info:
        npm.install("some-plugin@1.0.0", cache=cache)
    assert "npm was not found on PATH" in info.value.message
    assert not cache.exists()
