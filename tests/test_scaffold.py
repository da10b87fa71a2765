"""The plugin scaffold and ``python -m eliza_nb new-plugin``, tested for real.

A project is generated once per module; its own test suite runs in a subprocess, and it is
built and installed (no network: ``--no-index --no-build-isolation``) into a temporary target
to check that its entry point is discoverable.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest

from eliza_nb import ValidationError
from eliza_nb.__main__ import main
from eliza_nb.scaffold import ENTRY_POINT_GROUP, check_plugin_name, new_plugin

NAME = "my-weather"
PACKAGE = "my_weather"


def _env() -> dict[str, str]:
    """The environment for child processes: this interpreter's, without pytest overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.pop("PYTHONPATH", None)
    return env


def _run(
    *args: str | Path, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env={**_env(), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return new_plugin(NAME, tmp_path_factory.mktemp("scaffold"))


# -- what is written --------------------------------------------------------------------
def test_layout(project: Path) -> None:
    files = sorted(str(p.relative_to(project)) for p in project.rglob("*") if p.is_file())
    assert files == sorted(
        [
            ".gitignore",
            "README.md",
            "pyproject.toml",
            f"notebooks/{PACKAGE}.ipynb",
            *(
                f"src/{PACKAGE}/{m}"
                for m in (
                    "__init__.py",
                    "actions.py",
                    "plugin.py",
                    "providers.py",
                    "services.py",
                    "py.typed",
                )
            ),
            "tests/test_integration.py",
            "tests/test_unit.py",
        ]
    )


def test_pyproject_declares_the_entry_point(project: Path) -> None:
    config = tomllib.loads((project / "pyproject.toml").read_text())
    assert config["build-system"]["build-backend"] == "hatchling.build"
    assert config["project"]["name"] == NAME
    assert config["project"]["entry-points"][ENTRY_POINT_GROUP] == {
        NAME: f"{PACKAGE}.plugin:plugin"
    }
    assert config["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == [f"src/{PACKAGE}"]


def test_readme_follows_the_guide_template(project: Path) -> None:
    readme = (project / "README.md").read_text()
    for heading in [
        "# my-weather",
        "## Installation",
        "## Configuration",
        "## Usage",
        "## Actions",
        "## Providers",
        "## Error codes",
        "## Development",
    ]:
        assert f"\n{heading}\n" in f"\n{readme}", heading
    assert "| Setting | Description | Required | Default |" in readme
    assert "| `MY_WEATHER_GREETING` |" in readme
    assert "`MY_WEATHER_SERVICE_MISSING`" in readme


def test_starter_notebook_is_valid_nbformat_4(project: Path) -> None:
    notebook = nbformat.reads((project / f"notebooks/{PACKAGE}.ipynb").read_text(), as_version=4)
    nbformat.validate(notebook)
    sources = [cell.source for cell in notebook.cells]
    assert "%load_ext eliza_nb" in sources
    assert f"%eliza register {NAME}" in sources
    assert all(cell.outputs == [] for cell in notebook.cells if cell.cell_type == "code")


def test_generated_code_is_lint_clean(project: Path) -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    if ruff is None:
        pytest.skip("ruff is not installed next to this interpreter")
    checked = _run(ruff, "check", "--no-cache", ".", cwd=project)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    formatted = _run(ruff, "format", "--no-cache", "--check", ".", cwd=project)
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr


# -- it works ---------------------------------------------------------------------------
def test_the_generated_tests_pass(project: Path) -> None:
    # Only the plugins the project declares (pytest-asyncio): the dev tools installed here
    # (nbval, hypothesis, ...) would add seconds of start-up and nothing to the check.
    result = _run(
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "pytest_asyncio.plugin",
        cwd=project,
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "9 passed" in result.stdout


def test_installed_plugin_is_found_by_its_entry_point(project: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    built = _run(
        sys.executable,
        "-m",
        "pip",
        "install",
        "-q",
        "--no-deps",
        "--no-index",
        "--no-build-isolation",
        "--disable-pip-version-check",
        "--target",
        target,
        project,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    [dist] = importlib.metadata.distributions(path=[str(target)])
    [entry] = [ep for ep in dist.entry_points if ep.group == ENTRY_POINT_GROUP]
    assert (entry.name, entry.value) == (NAME, f"{PACKAGE}.plugin:plugin")
    probe = (
        "from importlib.metadata import entry_points\n"
        f"[ep] = entry_points(group={ENTRY_POINT_GROUP!r}, name={NAME!r})\n"
        "plugin = ep.load()\n"
        "print(type(plugin).__name__, plugin.name, [a.name for a in plugin.actions])\n"
    )
    loaded = _run(sys.executable, "-c", probe, cwd=tmp_path, PYTHONPATH=str(target))
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "Plugin my-weather ['MY_WEATHER_HELLO']"


# -- names and folders ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "package"),
    [
        ("weather", "weather"),
        ("my-weather", "my_weather"),
        ("a1_b2", "a1_b2"),
        ("x" * 50, "x" * 50),
    ],
)
def test_good_names(name: str, package: str) -> None:
    assert check_plugin_name(name) == package


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("", "is not valid"),
        ("Weather", "Did you mean 'weather'?"),
        ("my weather", "Did you mean 'my-weather'?"),
        ("9lives", "starting with a letter"),
        ("a--b", "single '-' or '_'"),
        ("x-", "is not valid"),
        ("x" * 51, "at most 50"),
        ("class", "Python keyword"),
        ("json", "standard-library"),
        ("eliza_nb", "eliza_nb module"),
        ("tests", "shadows"),
        ("pandas", "already installed"),
    ],
)
def test_bad_names_are_refused_clearly(name: str, needle: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=needle.replace("?", r"\?")) as info:
        new_plugin(name, tmp_path)
    assert info.value.field == "name"
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / NAME).mkdir()
    (tmp_path / NAME / "keep.txt").write_text("mine")
    with pytest.raises(ValidationError, match="already exists") as info:
        new_plugin(NAME, tmp_path)
    assert info.value.code == "TARGET_EXISTS"
    assert [p.name for p in (tmp_path / NAME).iterdir()] == ["keep.txt"]


def test_missing_parent_folders_are_created(tmp_path: Path) -> None:
    path = new_plugin("deep", tmp_path / "a" / "b")
    assert (path / "src" / "deep" / "plugin.py").is_file()


# -- the command line -------------------------------------------------------------------
def test_cli_creates_a_project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new-plugin", "cli-demo", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"Created plugin project {tmp_path / 'cli-demo'}" in out
    assert "%eliza register cli-demo" in out
    assert (tmp_path / "cli-demo" / "pyproject.toml").is_file()


def test_cli_reports_refusals_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new-plugin", "Bad Name", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: Plugin name 'Bad Name' is not valid")
    assert err.count("\n") == 1


def test_cli_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    assert "usage: python -m eliza_nb" in capsys.readouterr().err


def test_python_dash_m(tmp_path: Path) -> None:
    result = _run(sys.executable, "-m", "eliza_nb", "new-plugin", "sub-demo", "--dir", tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "sub-demo" / "src" / "sub_demo" / "__init__.py").is_file()
