"""Reading `requirements.in` and the pip-compile lock: just enough of the format to judge pins and hashes,
in the standard library, so the lock check does not import a package it is supposed to be checking."""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")
_PIN = re.compile(r"^==\s*([^\s;=<>!~,]+)\s*(;.*)?$")


def normalize(name: str) -> str:
    """PEP 503: `Scikit_Learn` and `scikit-learn` are one project."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Requirement:
    name: str  # normalized
    spec: str  # what follows the name, e.g. "==2.4.6" or ">=1" or ""
    version: str | None  # the pinned version, when spec is exactly `==X`
    marker: str | None
    hashes: tuple[str, ...]
    line: int
    text: str  # the entry as written, continuation lines joined

    @property
    def pinned(self) -> bool:
        return self.version is not None


def _entries(text: str) -> list[tuple[int, str]]:
    """Logical lines: continuations joined, comments and blank lines dropped, with their first line number."""
    entries: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0] if not raw.lstrip().startswith("#") else ""
        if not pending:
            start = number
        if line.rstrip().endswith("\\"):
            pending.append(line.rstrip()[:-1])
            continue
        pending.append(line)
        joined = " ".join(part.strip() for part in pending).strip()
        pending = []
        if joined:
            entries.append((start, joined))
    return entries


def parse(text: str) -> tuple[list[Requirement], list[str]]:
    """Requirements, and the lines that are not requirements (options such as `-e`, `--index-url`, URLs)."""
    requirements: list[Requirement] = []
    others: list[str] = []
    for number, entry in _entries(text):
        tokens = entry.split()
        hashes = tuple(token.split("=", 1)[1] for token in tokens if token.startswith("--hash="))
        head = " ".join(token for token in tokens if not token.startswith("--hash="))
        match = _NAME.match(head)
        if head.startswith("-") or match is None or "://" in head or " @ " in head:
            others.append(f"line {number}: {entry[:120]}")
            continue
        spec = match.group(3).strip()
        pin = _PIN.match(spec)
        marker = spec.split(";", 1)[1].strip() if ";" in spec else None
        requirements.append(
            Requirement(
                name=normalize(match.group(1)),
                spec=spec,
                version=pin.group(1) if pin else None,
                marker=marker,
                hashes=hashes,
                line=number,
                text=entry,
            )
        )
    return requirements, others


def lock_problems(text: str) -> list[str]:
    """Every entry of a lock must be `name==version` with at least one sha256 hash; nothing else may appear."""
    requirements, others = parse(text)
    problems = [f"{other}: not a pinned requirement (a lock holds only `name==version --hash=...`)" for other in others]
    for requirement in requirements:
        if not requirement.pinned:
            problems.append(
                f"line {requirement.line}: {requirement.name} is not pinned with == "
                f"({requirement.spec or 'no version'})"
            )
        if not requirement.hashes:
            problems.append(f"line {requirement.line}: {requirement.name} has no --hash")
        elif any(not digest.startswith("sha256:") for digest in requirement.hashes):
            problems.append(f"line {requirement.line}: {requirement.name} has a hash that is not sha256")
    seen: set[str] = set()
    for requirement in requirements:
        if requirement.name in seen:
            problems.append(f"line {requirement.line}: {requirement.name} is pinned twice")
        seen.add(requirement.name)
    return problems
