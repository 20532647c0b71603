"""An import scan (what `deptry` calls DEP001/DEP003): every third-party module the code imports must come from
a distribution declared in `requirements.in`, not merely arrive as some other package's dependency."""

from __future__ import annotations

import ast
import importlib.metadata
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from verification.requirements import normalize

SKIP_DIRS = {"__pycache__", "node_modules", "build", "dist"}
# tox's inline plugin is loaded by tox itself, from the tool environment that `.ci/run` and the README pin (tox,
# tox-uv), never from the lock: its imports are that environment's, not the project's.
TOOL_FILES = {"toxfile.py"}


@dataclass(frozen=True)
class Import:
    module: str  # the top-level name, e.g. "sklearn"
    where: str  # file:line of the first import seen


def python_files(root: Path) -> list[Path]:
    """Every .py file of the project; hidden directories (.venv, .tox, .git), build output and the tool files
    (TOOL_FILES) are not the project."""
    files = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        parts = relative.parts[:-1]
        if str(relative) in TOOL_FILES:
            continue
        if not any(part.startswith(".") or part in SKIP_DIRS for part in parts):
            files.append(path)
    return files


def first_party(root: Path, files: Iterable[Path]) -> set[str]:
    """Top-level names the project itself provides: its packages' folders and top-level modules."""
    names = set()
    for path in files:
        parts = path.relative_to(root).parts
        names.add(parts[0] if len(parts) > 1 else path.stem)
    return names


def scan(root: Path) -> tuple[list[Import], int]:
    """Top-level modules imported from outside the standard library and the project, and the files read."""
    files = python_files(root)
    local = first_party(root, files)
    found: dict[str, Import] = {}
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".", 1)[0]
                if top in sys.stdlib_module_names or top in local or top == "__future__":
                    continue
                found.setdefault(top, Import(top, f"{path.relative_to(root)}:{node.lineno}"))
    return sorted(found.values(), key=lambda item: item.module), len(files)


def undeclared(
    imports: Iterable[Import], declared: set[str], providers: Mapping[str, list[str]] | None = None
) -> list[str]:
    """An import is declared when a distribution that provides it is named in requirements.in."""
    providers = importlib.metadata.packages_distributions() if providers is None else providers
    problems = []
    for item in imports:
        distributions = sorted({normalize(name) for name in providers.get(item.module, [])})
        if not distributions:
            problems.append(f"{item.module} (imported at {item.where}) is not installed: no distribution provides it")
        elif not declared.intersection(distributions):
            problems.append(
                f"{item.module} (imported at {item.where}) comes from {', '.join(distributions)}, "
                "which requirements.in does not declare"
            )
    return problems
