"""Target 6, the lock: `requirements.txt` is exactly what pip-compile makes of `requirements.in`; every entry is
`==` with sha256 hashes; the environment running this check is the lock (`pip check`, and every pinned version
is the installed one); and every third-party module the code imports is declared in `requirements.in`.

Currency in two halves. Pins: pip-compile regenerates the lock in a temp directory, starting from the committed
file, and the result is diffed. Starting from it is honest for pins: pip-compile keeps a pin only while it still
satisfies `requirements.in` and the rest of the graph, adds what is missing and drops what is orphaned (from
nothing it would pick each package's newest release instead, failing on every upstream release: a freshness
alarm, not currency). It is not honest for hashes, which it copies from the start file unchecked; so hashes are
checked against the index itself (`hashes.py`), the rule pip-compile applies when it generates them. Generating
them with pip-compile instead downloads every wheel of every platform: 1.5-6 minutes here, against ~15 s.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from verification.hashes import Digests, hash_problems, index_digests
from verification.imports import scan, undeclared
from verification.paths import REQUIREMENTS_IN, REQUIREMENTS_TXT, ROOT
from verification.requirements import Requirement, lock_problems, parse
from verification.result import CheckResult, verdict

TARGET = "lock"
CHECK = "pip-compile output == requirements.txt; hashes == the index's; == pins; env == lock; imports declared"
# The lock's header records this command; generating in a directory holding the two files reproduces it exactly.
COMPILE_ARGS = (
    "--allow-unsafe",
    "--generate-hashes",
    "--no-emit-find-links",
    "--no-emit-index-url",
    "--output-file=requirements.txt",
    # Extras kept (`coverage[toml]==...`): with them stripped, the pip that Python 3.11 bundles (23.2) refuses the
    # lock in hash mode, reading pytest-cov's `coverage[toml]>=...` as a requirement the lock does not pin.
    "--no-strip-extras",
    "requirements.in",
)
COMMAND = f"pip-compile {' '.join(COMPILE_ARGS)}"
Compiler = Callable[[str, str], str]  # (requirements.in, starting lock) -> the lock pip-compile writes


class CompileFailed(Exception):
    pass


def pip_compile(requirements_in: str, start: str, timeout: float = 900.0) -> str:
    with tempfile.TemporaryDirectory(prefix="churnguard-lock-") as tmp:
        (Path(tmp) / "requirements.in").write_text(requirements_in, encoding="utf-8")
        (Path(tmp) / "requirements.txt").write_text(start, encoding="utf-8")
        command = [sys.executable, "-m", "piptools", "compile", "--quiet", *COMPILE_ARGS]
        done = subprocess.run(command, cwd=tmp, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise CompileFailed(f"{COMMAND} exited {done.returncode}: {done.stderr.strip()[-1500:]}")
        return (Path(tmp) / "requirements.txt").read_text(encoding="utf-8")


def currency_problems(requirements_in: str, lock: str, compile_lock: Compiler) -> list[str]:
    try:
        compiled = compile_lock(requirements_in, lock)
    except (CompileFailed, OSError, subprocess.TimeoutExpired) as exc:
        return [f"cannot regenerate the lock: {exc}"]
    if compiled == lock:
        return []
    diff = list(difflib.unified_diff(lock.splitlines(), compiled.splitlines(), "requirements.txt", COMMAND, n=0))
    shown = "\n".join(line for line in diff[2:42] if not line.startswith("@@"))
    return [f"requirements.txt is not what `{COMMAND}` produces from requirements.in; regenerate it:\n{shown}"]


def installed_problems(
    pins: list[Requirement], version_of: Callable[[str], str] = importlib.metadata.version
) -> list[str]:
    problems = []
    for pin in pins:
        if pin.marker or not pin.pinned:
            continue  # not for this platform, or already reported as unpinned
        try:
            installed = version_of(pin.name)
        except importlib.metadata.PackageNotFoundError:
            problems.append(f"{pin.name}=={pin.version} is in the lock but not installed")
            continue
        if installed != pin.version:
            problems.append(f"{pin.name} {installed} is installed, the lock pins {pin.version}")
    return problems


def pip_check(python: str) -> tuple[list[str], str]:
    done = subprocess.run([python, "-m", "pip", "check"], capture_output=True, text=True, timeout=300, check=False)
    output = (done.stdout + done.stderr).strip()
    return ([] if done.returncode == 0 else [f"pip check: {output[-1500:]}"]), output


def check_lock(
    *,
    requirements_in: Path = REQUIREMENTS_IN,
    lock: Path = REQUIREMENTS_TXT,
    source_root: Path = ROOT,
    compile_lock: Compiler = pip_compile,
    python: str = sys.executable,
    version_of: Callable[[str], str] = importlib.metadata.version,
    digests: Digests = index_digests,
) -> CheckResult:
    started = time.perf_counter()
    declared_text, lock_text = requirements_in.read_text(encoding="utf-8"), lock.read_text(encoding="utf-8")
    pins, _ = parse(lock_text)
    declared = {requirement.name for requirement in parse(declared_text)[0]}
    imports, files = scan(source_root)
    pip_failures, pip_output = pip_check(python)
    failures = [f"requirements.txt {problem}" for problem in lock_problems(lock_text)]
    failures += installed_problems(pins, version_of)
    failures += pip_failures
    failures += undeclared(imports, declared)
    compile_started = time.perf_counter()
    failures += currency_problems(declared_text, lock_text, compile_lock)
    compile_seconds = time.perf_counter() - compile_started
    failures += hash_problems(pins, digests)
    evidence: dict[str, Any] = {
        "command": COMMAND,
        "packages_pinned": len(pins),
        "hashes": sum(len(pin.hashes) for pin in pins),
        "declared": len(declared),
        "packages_checked_installed": sum(1 for pin in pins if pin.pinned and not pin.marker),
        "pip_check": pip_output,
        "python_files_scanned": files,
        "third_party_imports": [item.module for item in imports],
        "compile_seconds": round(compile_seconds, 1),
        "hash_check_seconds": round(time.perf_counter() - compile_started - compile_seconds, 1),
    }
    summary = (
        f"{len(pins)} pins / {evidence['hashes']} hashes, {evidence['packages_checked_installed']} packages checked "
        f"installed, {len(imports)} third-party imports in {files} files; pip-compile {evidence['compile_seconds']} s, "
        f"hashes vs index {evidence['hash_check_seconds']} s"
    )
    return verdict(TARGET, CHECK, summary=summary, evidence=evidence, failures=failures, started=started)
