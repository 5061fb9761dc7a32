"""pyproject.toml declares what pipeline/ imports, and nothing it does not."""
from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NEEDED_WITHOUT_IMPORT = {"sniffio"}  # see its comment in pyproject.toml


def imported_distributions() -> set[str]:
    modules = set()
    for path in (ROOT / "pipeline").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    third_party = modules - set(sys.stdlib_module_names) - {"pipeline", "__future__"}
    owners = packages_distributions()
    return {canonical(owners[module][0]) for module in third_party}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_distributions() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {canonical(re.split(r"[<>=\[; ]", requirement, maxsplit=1)[0]) for requirement in project["dependencies"]}


def test_every_imported_distribution_is_declared_and_every_declared_one_is_imported():
    imported, declared = imported_distributions(), declared_distributions()
    assert imported - declared == set()
    assert declared - imported == NEEDED_WITHOUT_IMPORT
