"""Sabotage proofs for the lock check: an unpinned line, a missing hash, a drifted pin, an undeclared import, a
stale lock, a forged or dropped hash and a broken environment each fail it, by name. pip-compile and the index
are stood in for by the committed lock (they cost half a minute), except in two small real runs."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from testkit.paths import REQUIREMENTS_IN, REQUIREMENTS_TXT
from verification.hashes import index_digests
from verification.imports import scan
from verification.lock import Compiler, check_lock, currency_problems, pip_compile
from verification.requirements import parse

LOCK = REQUIREMENTS_TXT.read_text(encoding="utf-8")
DECLARED = REQUIREMENTS_IN.read_text(encoding="utf-8")


PUBLISHED = {(pin.name, pin.version): set(pin.hashes) for pin in parse(LOCK)[0]}


def _same_as_committed(requirements_in: str, start: str) -> str:
    return LOCK


def _published(project: str, version: str) -> set[str]:
    return PUBLISHED.get((project, version), set())


def _python(tmp_path: Path, output: str, status: int) -> str:
    """A stand-in interpreter for `python -m pip check`: the real one costs a second per run."""
    fake = tmp_path / "python"
    fake.write_text(f"#!/bin/sh\necho '{output}'\nexit {status}\n", encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    return str(fake)


def _run(
    tmp_path: Path,
    lock: str = LOCK,
    declared: str = DECLARED,
    compile_lock: Compiler = _same_as_committed,
    python: str | None = None,
) -> tuple[str, ...]:
    (tmp_path / "requirements.txt").write_text(lock, encoding="utf-8")
    (tmp_path / "requirements.in").write_text(declared, encoding="utf-8")
    result = check_lock(
        requirements_in=tmp_path / "requirements.in",
        lock=tmp_path / "requirements.txt",
        compile_lock=compile_lock,
        python=python or _python(tmp_path, "No broken requirements found.", 0),
        digests=_published,
    )
    assert not result.passed
    return result.failures


def _entry(name: str) -> str:
    """The lock's whole entry for one package: its pin line, hash lines and `# via` comments."""
    lines = LOCK.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{name}=="))
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith(" "))
    return "".join(lines[start:end])


def test_an_unpinned_requirement_is_caught(tmp_path: Path) -> None:
    entry = _entry("fastapi")
    failures = _run(tmp_path, LOCK.replace(entry, entry.replace("fastapi==", "fastapi>=", 1)))
    assert any("fastapi is not pinned with == (>=" in failure for failure in failures), failures


def test_a_requirement_without_hashes_is_caught(tmp_path: Path) -> None:
    entry = _entry("uvicorn")
    version = entry.split("==", 1)[1].split()[0]
    failures = _run(tmp_path, LOCK.replace(entry, f"uvicorn=={version}\n"))
    assert any("uvicorn has no --hash" in failure for failure in failures), failures


def test_a_pin_that_differs_from_the_installed_version_is_caught(tmp_path: Path) -> None:
    entry = _entry("pydantic")
    version = entry.split("==", 1)[1].split()[0]
    failures = _run(tmp_path, LOCK.replace(entry, entry.replace(f"=={version}", "==1.0.0", 1)))
    assert f"pydantic {version} is installed, the lock pins 1.0.0" in failures


def test_an_import_missing_from_requirements_in_is_caught(tmp_path: Path) -> None:
    failures = _run(tmp_path, declared=DECLARED.replace("\nscikit-learn\n", "\n"))
    assert any(f.startswith("sklearn (imported at ") and "scikit-learn, which requirements.in" in f for f in failures)


def test_only_the_root_toxfile_is_left_to_toxs_own_environment(tmp_path: Path) -> None:
    """tox loads the root toxfile.py from its tool environment; a file of that name anywhere else is the
    project's, and its imports must be declared like any other."""
    (tmp_path / "toxfile.py").write_text("import tox\n", encoding="utf-8")
    (tmp_path / "scoring").mkdir()
    (tmp_path / "scoring" / "toxfile.py").write_text("import tox_uv\n", encoding="utf-8")
    imports, files = scan(tmp_path)
    assert files == 1
    assert [(item.module, item.where) for item in imports] == [("tox_uv", "scoring/toxfile.py:1")]


def test_a_lock_that_differs_from_what_pip_compile_makes_is_caught(tmp_path: Path) -> None:
    failures = _run(tmp_path, compile_lock=lambda declared, start: LOCK.replace("# via", "# via  ", 1))
    stale = [failure for failure in failures if failure.startswith("requirements.txt is not what `pip-compile")]
    assert stale, failures
    assert "+    # via  " in stale[0]


def test_a_lock_without_the_tracking_servers_database_driver_is_caught(tmp_path: Path) -> None:
    """psycopg2-binary: nothing imports it (the mlflow server loads it from the backend URI), so only the lock's
    own checks stand between a hand-edited lock and a team server that cannot start. Both of them catch it."""
    entry = _entry("psycopg2-binary")
    without = LOCK.replace(entry, "")
    failures = _run(tmp_path, without, compile_lock=lambda declared, start: LOCK)
    assert any(f.startswith("psycopg2-binary is declared in requirements.in (line ") for f in failures), failures
    stale = [failure for failure in failures if failure.startswith("requirements.txt is not what `pip-compile")]
    assert stale, failures
    assert "+psycopg2-binary==" in stale[0]
    # Even where pip-compile keeps the lock as it is (a stand-in that returns its start file), it is caught.
    failures = _run(tmp_path, without, compile_lock=lambda declared, start: start)
    assert any(f.startswith("psycopg2-binary is declared in requirements.in") for f in failures), failures


def test_a_broken_environment_is_caught(tmp_path: Path) -> None:
    broken = _python(tmp_path, "fastapi 0.1 requires starlette, which is not installed.", 1)
    failures = _run(tmp_path, python=broken)
    assert "pip check: fastapi 0.1 requires starlette, which is not installed." in failures


def test_a_forged_hash_is_caught_although_pip_compile_would_copy_it(tmp_path: Path) -> None:
    entry = _entry("numpy")
    forged = entry.replace("--hash=sha256:", "--hash=sha256:0000", 1)
    forged_lock = LOCK.replace(entry, forged)
    failures = _run(tmp_path, forged_lock, compile_lock=lambda declared, start: start)
    assert any(f.startswith("numpy==") and "the index publishes no file with hash sha256:0000" in f for f in failures)


def test_a_dropped_hash_is_caught(tmp_path: Path) -> None:
    entry = _entry("numpy")
    first_hash = next(line for line in entry.splitlines(keepends=True) if "--hash=" in line)
    failures = _run(tmp_path, LOCK.replace(entry, entry.replace(first_hash, "", 1)))
    assert any(f.startswith("numpy==") and "1 published file(s) not hashed" in f for f in failures), failures


@pytest.mark.slow
def test_the_index_publishes_exactly_the_locked_hashes_of_a_real_release() -> None:
    pin = next(pin for pin in parse(LOCK)[0] if pin.name == "idna")
    assert index_digests("idna", str(pin.version)) == set(pin.hashes)


@pytest.mark.slow
def test_real_pip_compile_moves_a_pin_that_no_longer_satisfies_requirements_in(tmp_path: Path) -> None:
    """A small real run: `idna>=3.7` declared, 3.6 locked; starting from the committed pins must not hide it."""
    stale = f"idna==3.6 \\\n    --hash=sha256:{'0' * 64}\n"
    problems = currency_problems("idna>=3.7\n", stale, pip_compile)
    assert len(problems) == 1, problems
    assert "-idna==3.6" in problems[0]


def test_the_committed_lock_passes_its_static_checks() -> None:
    """Pins, hashes and the installed environment (the import scan and pip-compile run in the lock target)."""
    result = check_lock(compile_lock=_same_as_committed, python=sys.executable, digests=_published)
    static = [f for f in result.failures if "requirements.in does not declare" not in f]
    assert static == []
    assert result.evidence["packages_pinned"] == len(parse(LOCK)[0])
