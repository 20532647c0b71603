"""Copies of an experiment config for the MLflow checks: the data path made absolute, or another seed.

Edited line by line rather than re-serialised, so a copy is the file the data team wrote apart from the
edited lines; then parsed back and compared with the original, so an edit that changed anything else is
refused instead of silently checking another experiment.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from experiments.config import ExperimentConfig, parse_config


def _set_line(text: str, key: str, literal: str) -> str:
    pattern = re.compile(rf"^{re.escape(key)}\s*=.*$", re.MULTILINE)
    found = pattern.findall(text)
    if len(found) != 1:
        raise ValueError(f"expected one `{key} = ...` line in the config, found {len(found)}")
    return pattern.sub(lambda _: f"{key} = {literal}", text)


def config_copy(source: Path, directory: Path, *, data_root: Path | None = None, seed: int | None = None) -> Path:
    """`source` (a TOML config) written into `directory`: with its relative data path resolved under `data_root`
    (the data is then found from any working directory) and/or with `seed` instead of its own."""
    if source.suffix != ".toml":
        raise ValueError(f"{source}: only TOML configs can be copied line by line")
    text = source.read_text(encoding="utf-8")
    original = parse_config(text, source.suffix)
    expected: ExperimentConfig = original
    if data_root is not None and not original.data.path.is_absolute():
        path = data_root / original.data.path
        text = _set_line(text, "path", json.dumps(path.as_posix()))  # a JSON string is a TOML basic string
        expected = expected.model_copy(update={"data": expected.data.model_copy(update={"path": path})})
    if seed is not None:
        text = _set_line(text, "seed", str(seed))
        expected = expected.model_copy(update={"seed": seed})
    if parse_config(text, source.suffix) != expected:
        raise ValueError(f"copying {source} changed more than the data path and seed")
    target = directory / source.name
    target.write_text(text, encoding="utf-8")
    return target
