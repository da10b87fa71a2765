"""Binder: the repo2docker configuration is complete and gives an environment the notebooks run in.

repo2docker needs Docker to build, which this machine lacks, so the test checks the plan
(``repo2docker --no-build``) and then reproduces what the plan does: a fresh virtual environment,
``pip install -r binder/requirements.txt``, ``binder/postBuild``, and the quickstart executed there.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).parents[1]
BINDER = ROOT / "binder"
REPO2DOCKER = Path(sys.executable).with_name("repo2docker")


def test_configuration_files_exist() -> None:
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"
    assert os.access(BINDER / "postBuild", os.X_OK)
    postbuild = (BINDER / "postBuild").read_text()
    # binder/ makes repo2docker ignore pyproject.toml: postBuild must install the package.
    assert "pip install" in postbuild and "-e ." in postbuild


def _imports(nb_path: Path) -> set[str]:
    names: set[str] = set()
    for cell in nbformat.read(nb_path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        code = "\n".join(
            line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!"))
        )
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return names


def test_requirements_cover_what_the_notebooks_import() -> None:
    required = {
        line.split(">=")[0].split("==")[0].strip().lower().replace("-", "_")
        for line in (BINDER / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    distribution = {"eliza_nb": "eliza_nb", "nest_asyncio2": "nest_asyncio2"}
    stdlib = set(sys.stdlib_module_names)
    for nb_path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for module in _imports(nb_path) - stdlib:
            dist = distribution.get(module, module)
            assert dist == "eliza_nb" or dist in required, f"{nb_path.name} imports {module}"


@pytest.mark.skipif(not REPO2DOCKER.exists(), reason="jupyter-repo2docker is not installed")
def test_repo2docker_plans_the_build_without_docker() -> None:
    out = subprocess.run(
        [str(REPO2DOCKER), "--no-build", "--no-run", "--debug", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    plan = out.stdout + out.stderr
    assert "binder/requirements.txt" in plan
    assert "./binder/postBuild" in plan
    assert "PYTHON_VERSION=3.11" in plan or "python=3.11" in plan


@pytest.mark.binder
def test_fresh_environment_runs_the_quickstart(tmp_path: Path) -> None:
    env_dir = tmp_path / "binder-env"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    pip = [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(BINDER / "requirements.txt")], check=True, timeout=900)
    repo = tmp_path / "repo"  # postBuild runs from a checkout, as repo2docker does
    shutil.copytree(ROOT, repo, ignore=shutil.ignore_patterns(".venv", ".git", "test-artifacts"))
    environ = {**os.environ, "PATH": f"{env_dir / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    environ.pop("VIRTUAL_ENV", None)
    subprocess.run(
        [str(repo / "binder" / "postBuild")], cwd=repo, env=environ, check=True, timeout=300
    )
    executed = tmp_path / "quickstart.ipynb"
    subprocess.run(
        [
            str(env_dir / "bin" / "jupyter"),
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "--allow-errors",
            "--output",
            str(executed),
            str(repo / "notebooks" / "01-quickstart.ipynb"),
        ],
        cwd=repo / "notebooks",
        env=environ,
        check=True,
        timeout=300,
    )
    nb = nbformat.read(executed, as_version=4)
    errors = [
        o.ename
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.output_type == "error"
    ]
    # The quickstart shows its two lessons in failures without an error output (--expect, a
    # caught error): any error here means a missing package.
    assert errors == []
    text = "".join(
        str(o.get("text", "")) for c in nb.cells if c.cell_type == "code" for o in c.outputs
    )
    assert "ConfigurationError" in text and "ACTION_NOT_FOUND" in text
