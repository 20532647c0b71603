"""A temporary copy of the repository's code with one line sabotaged, for checks that run child processes.

The reproducibility check runs `python -m experiments run` in children, which a monkeypatch in this process
cannot reach. So the fault is planted in the source of a copy, and the check is pointed at it (`root`): the
children run there with it as working directory and `PYTHONPATH`, so they import the planted code.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from testkit.paths import ROOT

# What `python -m experiments run` reads: its code, the service code it imports, the data, the lock.
COPIED = ("experiments", "service", "data", "requirements.txt")
SEEDED_SPLIT = "        random_state=config.seed,\n"


def planted_copy(tmp_path: Path, file: str, honest: str, faulty: str) -> Path:
    root = tmp_path / "repo"
    for name in COPIED:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, root / name)
    target = root / file
    source = target.read_text(encoding="utf-8")
    assert source.count(honest) == 1, f"{file} no longer has the line to sabotage: {honest!r}"
    target.write_text(source.replace(honest, faulty), encoding="utf-8")
    return root
