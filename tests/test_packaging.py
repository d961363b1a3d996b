"""``pip install .``: what pyproject.toml declares against what the code and the checkout hold.

Every third-party module ``arena/`` imports comes from a declared dependency, each declared
range admits the exact pin of the requirements files, the package list and package data name
every folder and file of the package (templates and static included), the development tools
stay out of the runtime requirements, and the ``arena`` command is Flask's group. Building
and installing for real is ``scripts/ci/check-install.sh`` (run by ``.ci/run``).
"""

from __future__ import annotations

import ast
import fnmatch
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from flask import has_app_context
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from arena import PACKAGE_DIR, PROJECT_ROOT, create_app, pages_folder
from arena.cli import main as arena_main

PYPROJECT: dict[str, Any] = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text("utf-8"))
PROJECT = PYPROJECT["project"]
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
#: Declared without being imported: the web server that runs the app (``gunicorn wsgi:app``).
SERVES_THE_APP = {"gunicorn"}
DEV_TOOLS = {"pytest", "pytest-timeout", "hypothesis", "ruff", "playwright", "greenlet", "mypy"}
PIN = re.compile(r"^([A-Za-z0-9._-]+)(\[[^\]]*\])?==(\S+)$")


def third_party_imports() -> dict[str, set[str]]:
    """Top-level module imported -> the files of ``arena/`` importing it (absolute imports)."""
    found: dict[str, set[str]] = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.partition(".")[0]
                if top != "arena" and top not in sys.stdlib_module_names:
                    found.setdefault(top, set()).add(str(path.relative_to(PROJECT_ROOT)))
    return found


def declared(requirements: list[str]) -> dict[str, Requirement]:
    parsed = [Requirement(line) for line in requirements]
    return {canonicalize_name(req.name): req for req in parsed}


def pins(filename: str) -> dict[str, str]:
    """``name -> version`` of a requirements file's ``name==version`` lines (not its ``-r``)."""
    found = {}
    for line in (PROJECT_ROOT / filename).read_text("utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        match = PIN.match(line)
        assert match, f"{filename}: {line!r} is not an exact pin"
        found[canonicalize_name(match[1])] = match[3]
    return found


def test_every_third_party_import_is_a_declared_dependency() -> None:
    imports = third_party_imports()
    # The reader sees the direct imports that once came only through other packages.
    assert {"flask", "werkzeug", "click", "urllib3", "markupsafe", "alembic"} <= set(imports)
    distributions = importlib.metadata.packages_distributions()
    dependencies = declared(PROJECT["dependencies"])
    missing = []
    for module, files in sorted(imports.items()):
        names = {canonicalize_name(name) for name in distributions.get(module, [])}
        assert names, f"{module} (imported by {sorted(files)}) is not installed"
        if not names & set(dependencies):
            missing.append(f"{module} ({'/'.join(sorted(names))}), imported by {sorted(files)}")
    assert missing == [], "add them to [project] dependencies in pyproject.toml"
    imported = {
        canonicalize_name(name) for module in imports for name in distributions.get(module, [])
    }
    assert set(dependencies) - imported == SERVES_THE_APP


def test_each_declared_range_admits_the_tested_pin() -> None:
    runtime, local = pins("requirements.txt"), pins("requirements-local.txt")
    extras = PROJECT["optional-dependencies"]
    groups = {"dependencies": (PROJECT["dependencies"], runtime)}
    groups |= {
        f"[{name}]": (reqs, local if name == "local" else runtime) for name, reqs in extras.items()
    }
    wrong = []
    for group, (requirements, pinned) in groups.items():
        for name, req in declared(requirements).items():
            if name not in pinned:
                wrong.append(f"{group}: {req} has no pin")
            elif not req.specifier.contains(pinned[name], prereleases=True):
                wrong.append(f"{group}: {req} refuses the pinned {pinned[name]}")
    assert wrong == []
    # Every runtime pin imported by the code is declared too (the rest come through them).
    assert set(declared(PROJECT["dependencies"])) <= set(runtime)


def test_the_development_tools_are_out_of_the_runtime_requirements() -> None:
    runtime = pins("requirements.txt")
    dev_lines = (PROJECT_ROOT / "requirements-dev.txt").read_text("utf-8").splitlines()
    first = next(line for line in dev_lines if line.strip() and not line.startswith("#"))
    assert first.strip() == "-r requirements.txt"
    dev = pins("requirements-dev.txt")
    assert set(dev) >= DEV_TOOLS
    assert {name for name in dev if name.startswith("types-")}, "mypy's stubs belong here"
    assert not (set(dev) & set(runtime)), "a package is pinned twice"
    assert {"gunicorn", "psycopg", "flask"} <= set(runtime)


def test_the_package_list_names_every_folder() -> None:
    """The explicit list (needed for the templates and static mapping) misses no folder."""
    mapped = SETUPTOOLS["package-dir"]
    assert mapped == {"arena.templates": "templates", "arena.static": "static"}
    expected = {"arena"}
    for package, folder in [
        ("arena", PACKAGE_DIR),
        *[(n, PROJECT_ROOT / f) for n, f in mapped.items()],
    ]:
        expected.add(package)
        for sub in folder.rglob("*"):
            if sub.is_dir() and "__pycache__" not in sub.parts:
                expected.add(".".join([package, *sub.relative_to(folder).parts]))
    assert set(SETUPTOOLS["packages"]) == expected
    assert not {"tests", "scripts"} & {name.partition(".")[0] for name in expected}


def _folder_of(package: str) -> Path:
    mapped = SETUPTOOLS["package-dir"]
    for name, folder in mapped.items():
        if package == name or package.startswith(name + "."):
            return PROJECT_ROOT / folder / Path(*package[len(name) :].split(".")[1:])
    return PROJECT_ROOT / Path(*package.split("."))


def test_the_package_data_covers_every_file() -> None:
    """Each file of the package that is not Python ships: prompts, migrations, pages."""
    data: dict[str, list[str]] = SETUPTOOLS["package-data"]
    left_out = []
    for package in SETUPTOOLS["packages"]:
        folder = _folder_of(package)
        patterns = data.get(package, [])
        for path in folder.iterdir():
            if not path.is_file() or path.suffix in {".py", ".pyc"}:
                continue
            if not any(fnmatch.fnmatch(path.name, pattern) for pattern in patterns):
                left_out.append(str(path.relative_to(PROJECT_ROOT)))
    assert left_out == []
    shipped = {str(_folder_of(p).relative_to(PROJECT_ROOT)) for p in data}
    assert {"arena/data", "arena/migrations", "templates", "static"} <= shipped


def test_pages_come_from_the_checkout_else_from_the_installed_package(tmp_path: Path) -> None:
    app = create_app({"INSTANCE_PATH": str(tmp_path / "instance")})
    assert app.template_folder == str(PROJECT_ROOT / "templates")
    assert app.static_folder == str(PROJECT_ROOT / "static")

    # Installed: site-packages/arena/templates, and no pyproject.toml above the package, even
    # with some other distribution's top-level templates folder beside it.
    site = tmp_path / "site-packages"
    (site / "arena" / "templates").mkdir(parents=True)
    (site / "templates").mkdir()
    assert pages_folder("templates", site, site / "arena") == site / "arena" / "templates"
    assert pages_folder("static", site, site / "arena") == site / "arena" / "static"


def test_the_arena_command_is_flasks_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert PROJECT["scripts"] == {"arena": "arena.cli.main:main"}
    monkeypatch.setenv("ARENA_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setattr(sys, "argv", ["arena", "--help"])
    with pytest.raises(SystemExit) as stopped:
        arena_main.main()
    assert stopped.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("Usage: arena ")
    for command in ["run", "worker", "pregenerate", "models", "db", "doctor"]:
        assert re.search(rf"^  {command}\b", out, re.MULTILINE), command
    assert list((tmp_path / "instance").glob("*.db")) == [], "--help touched the database"
    assert not has_app_context()


def test_ci_runs_the_readme_test_command() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text("utf-8")
    block = re.search(r"Run the whole test suite.*?```sh\n(.*?)\n```", readme, re.DOTALL)
    assert block, "README's test command is gone"
    command = block[1].strip()
    assert "requirements-dev.txt" in command and "pytest" in command
    ci = (PROJECT_ROOT / ".ci" / "run").read_text("utf-8").splitlines()
    assert any(line.startswith(command) for line in ci), f"{command!r} is not in .ci/run"
