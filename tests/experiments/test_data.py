"""The data file: verified by hash, parsed with its one known quirk."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.data import (
    DEFAULT_DATA_PATH,
    DEFAULT_DATA_SHA256,
    FEATURES,
    DataIntegrityError,
    load_dataset,
    sha256_bytes,
)
from testkit.paths import ROOT

DATA = ROOT / DEFAULT_DATA_PATH


def test_loads_the_telco_data_with_snake_case_columns() -> None:
    dataset = load_dataset(DATA)
    assert dataset.frame.shape == (7043, 21)
    assert tuple(dataset.X.columns) == FEATURES
    assert int(dataset.y.sum()) == 1869
    assert dataset.sha256 == DEFAULT_DATA_SHA256


def test_blank_total_charges_become_missing_only_at_zero_tenure() -> None:
    frame = load_dataset(DATA).frame
    blank = frame[frame["total_charges"].isna()]
    assert len(blank) == 11
    assert set(blank["tenure"]) == {0}


def test_the_provenance_checksum_file_agrees_with_the_pinned_hash() -> None:
    recorded = (ROOT / "data" / "telco_customer_churn.csv.sha256").read_text().split()[0]
    assert recorded == DEFAULT_DATA_SHA256 == sha256_bytes(DATA.read_bytes())


def test_a_changed_byte_is_refused_naming_both_hashes(tmp_path: Path) -> None:
    tampered = tmp_path / "data.csv"
    raw = bytearray(DATA.read_bytes())
    raw[-3] = ord("Y") if raw[-3] != ord("Y") else ord("N")
    tampered.write_bytes(bytes(raw))
    with pytest.raises(
        DataIntegrityError, match=f"SHA-256 is {sha256_bytes(bytes(raw))}, expected {DEFAULT_DATA_SHA256}"
    ):
        load_dataset(tampered)


def test_a_file_with_other_columns_is_refused(tmp_path: Path) -> None:
    renamed = tmp_path / "data.csv"
    text = DATA.read_text().replace("customerID", "customer_id", 1)
    renamed.write_text(text)
    with pytest.raises(DataIntegrityError, match="columns"):
        load_dataset(renamed, expected_sha256=sha256_bytes(renamed.read_bytes()))
