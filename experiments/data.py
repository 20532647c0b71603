"""Loading the Telco churn CSV: verified against its SHA-256, renamed to the API's snake_case fields."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

# Re-exported: the data's names live in experiments.columns (importable without pandas).
from experiments.columns import (
    CATEGORICAL_FEATURES,
    COLUMNS,
    DEFAULT_DATA_PATH,
    FEATURES,
    ID,
    INTEGER_FEATURES,
    NUMBER_FEATURES,
    NUMERIC_FEATURES,
    POSITIVE_LABEL,
    TARGET,
)

__all__ = [  # the re-exported names, and this module's own
    "CATEGORICAL_FEATURES",
    "COLUMNS",
    "DEFAULT_DATA_PATH",
    "DEFAULT_DATA_SHA256",
    "FEATURES",
    "ID",
    "INTEGER_FEATURES",
    "NUMBER_FEATURES",
    "NUMERIC_FEATURES",
    "POSITIVE_LABEL",
    "TARGET",
    "DataIntegrityError",
    "Dataset",
    "load_dataset",
    "sha256_bytes",
]

# Pinned here, not read from beside the file, so a swapped data file cannot vouch for itself.
DEFAULT_DATA_SHA256 = "88be4b93fbe0cc83421af1c503794c97c342eca914c1576db7c276e61d61358a"


class DataIntegrityError(Exception):
    """The data file is not the one the project was built on."""


@dataclass(frozen=True)
class Dataset:
    frame: pd.DataFrame  # features + target, one row per customer, snake_case columns
    path: Path
    sha256: str

    @property
    def X(self) -> pd.DataFrame:  # noqa: N802 - the scikit-learn convention
        return self.frame.loc[:, list(FEATURES)]

    @property
    def y(self) -> pd.Series:
        return self.frame[TARGET]


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_dataset(path: Path = DEFAULT_DATA_PATH, expected_sha256: str = DEFAULT_DATA_SHA256) -> Dataset:
    """Read the CSV, refusing any file whose SHA-256 differs from the expected one."""
    raw = path.read_bytes()
    actual = sha256_bytes(raw)
    if actual != expected_sha256:
        raise DataIntegrityError(f"{path}: SHA-256 is {actual}, expected {expected_sha256}")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if list(frame.columns) != list(COLUMNS):
        raise DataIntegrityError(f"{path}: columns {list(frame.columns)} are not {list(COLUMNS)}")
    frame = frame.rename(columns=COLUMNS)
    for name in INTEGER_FEATURES:
        frame[name] = frame[name].astype("int64")
    # TotalCharges is a single space for the 11 customers with tenure 0: nothing billed yet -> NaN.
    for name in NUMBER_FEATURES:
        frame[name] = pd.to_numeric(frame[name].str.strip().replace("", None), errors="raise").astype("float64")
    frame[TARGET] = (frame[TARGET] == POSITIVE_LABEL).astype("int64")
    return Dataset(frame=frame, path=path, sha256=actual)
