"""python -m scoring weekly: nothing lost, exact ranking in any chunking, both headers, CSV and Parquet,
the same probabilities as /predict, exit statuses 0/3/2 and never a traceback."""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from experiments.data import COLUMNS
from scoring import runs
from scoring.cli import main
from scoring.explain import BLANK, decimal_labels
from scoring.header import UnusableInput
from scoring.validate import json_value
from scoring.weekly import Scorer
from service.profile import CategoricalFeature
from testkit.paths import DATA, PROFILE_PATH, ROOT
from testkit.process import clean_env
from tests.scoring.kit import data_rows, planted_export, weekly, write_csv, write_parquet

SNAKE = dict(COLUMNS)


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_rows_read_are_scored_plus_rejected_and_every_rejection_is_named(scorer: Scorer, tmp_path: Path) -> None:
    source, planted = planted_export(tmp_path)
    outcome = weekly(scorer, source, tmp_path / "out", max_rejected_share=0.5)
    data_lines = len(source.read_text(encoding="utf-8").splitlines()) - 1
    rows = outcome.summary["rows"]
    assert rows["read"] == data_lines == 7043 + len(planted) + 1
    assert rows["scored"] + rows["rejected"] == rows["read"]
    listed, rejected = _read(tmp_path / "out" / "at_risk.csv"), _read(tmp_path / "out" / "rejected.csv")
    assert len(listed) == rows["scored"] == rows["listed"]
    assert len(rejected) == rows["rejected"] == len(planted)
    assert {int(r["line"]) for r in listed} | {int(r["line"]) for r in rejected} == set(range(2, data_lines + 2))
    for row in rejected:
        problems = json.loads(row["problems"])
        assert int(row["problem_count"]) == len(problems) >= 1
        assert planted[int(row["line"])] in {p["field"] for p in problems}, row
    by_line = {int(r["line"]): json.loads(r["problems"]) for r in rejected}
    tenure = next(p for p in by_line[min(planted)] if p["field"] == "tenure")
    assert tenure == {"field": "tenure", "message": "Input should be less than or equal to 72",
                      "valid_range": {"min": 0, "max": 72}}  # fmt: skip
    assert len({r["customer_id"] for r in listed}) == len(listed)  # duplicates: the first occurrence is listed
    assert outcome.summary["rows"]["duplicates"] == 1
    (duplicate,) = [r for r in rejected if "duplicate of line" in r["problems"]]
    assert duplicate["customer_id"] == data_rows()[0]["customerID"]  # named, so the agent knows who it is
    assert outcome.exit_status == 0


def test_the_ranking_is_exact_whatever_the_chunk_size(
    scorer: Scorer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, _ = planted_export(tmp_path)
    weekly(scorer, source, tmp_path / "one", max_rejected_share=1.0)
    weekly(scorer, source, tmp_path / "many", max_rejected_share=1.0, chunk_bytes=40_000)  # ~25 chunks
    monkeypatch.setattr(runs, "RUN_ROWS", 1000)  # 8 sorted runs merged, as a week of millions is,
    monkeypatch.setattr(runs, "RUN_BATCH", 64)  # in blocks of about 300 rows, each written on its own
    monkeypatch.setattr(runs, "MERGE_ROWS", 256)
    weekly(scorer, source, tmp_path / "runs", max_rejected_share=1.0, chunk_bytes=40_000)
    one = (tmp_path / "one" / "at_risk.csv").read_bytes()
    assert one == (tmp_path / "many" / "at_risk.csv").read_bytes() == (tmp_path / "runs" / "at_risk.csv").read_bytes()
    assert (tmp_path / "one" / "rejected.csv").read_bytes() == (tmp_path / "many" / "rejected.csv").read_bytes()
    listed = _read(tmp_path / "one" / "at_risk.csv")
    probabilities = [float(r["probability"]) for r in listed]
    assert probabilities == sorted(probabilities, reverse=True)
    assert [int(r["rank"]) for r in listed] == list(range(1, len(listed) + 1))
    pairs = itertools.pairwise(listed)
    assert all(int(a["line"]) < int(b["line"]) for a, b in pairs if a["probability"] == b["probability"])


@pytest.mark.parametrize("end", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_every_line_number_holds_whatever_the_chunks_and_the_line_ends(
    scorer: Scorer, tmp_path: Path, end: str
) -> None:
    """Chunks of a few lines (a chunk edge beside every kind of bad row) number every row as one chunk does,
    CRLF as LF, and the digest is still the whole file's."""
    source, planted = planted_export(tmp_path)
    lines = source.read_text(encoding="utf-8").splitlines()
    export = tmp_path / f"planted-{end!r}.csv"
    export.write_bytes(end.join(lines).encode() + end.encode())
    whole = weekly(scorer, source, tmp_path / "whole", max_rejected_share=1.0)
    chunks = weekly(scorer, export, tmp_path / "chunks", max_rejected_share=1.0, chunk_bytes=1000)
    for name in ("at_risk.csv", "rejected.csv"):
        assert (tmp_path / "whole" / name).read_bytes() == (tmp_path / "chunks" / name).read_bytes()
    assert {int(r["line"]) for r in _read(tmp_path / "chunks" / "rejected.csv")} == set(planted)
    assert chunks.summary["rows"] == whole.summary["rows"]
    assert chunks.summary["input"]["sha256"] == hashlib.sha256(export.read_bytes()).hexdigest()


def test_both_headers_and_parquet_give_the_same_list(scorer: Scorer, tmp_path: Path) -> None:
    weekly(scorer, DATA, tmp_path / "csv")
    snake = write_csv(tmp_path / "snake.csv", data_rows(), snake=True)
    weekly(scorer, snake, tmp_path / "snake")
    weekly(scorer, write_parquet(tmp_path / "export.parquet", DATA), tmp_path / "parquet")
    expected = (tmp_path / "csv" / "at_risk.csv").read_bytes()
    assert (tmp_path / "snake" / "at_risk.csv").read_bytes() == expected
    parquet = _read(tmp_path / "parquet" / "at_risk.csv")
    csv_rows = _read(tmp_path / "csv" / "at_risk.csv")
    # Parquet rows are numbered from 1 without a header line; all else is identical.
    assert [{**r, "line": str(int(r["line"]) + 1)} for r in parquet] == csv_rows
    summary = json.loads((tmp_path / "snake" / "summary.json").read_text())
    assert summary["input"]["extra_columns"] == ["churn"]


def test_the_list_has_the_probabilities_of_predict(scorer: Scorer, client: TestClient, tmp_path: Path) -> None:
    weekly(scorer, DATA, tmp_path / "out")
    listed = {r["customer_id"]: float(r["probability"]) for r in _read(tmp_path / "out" / "at_risk.csv")}
    rows = data_rows()[:2000]
    customers = []
    for row in rows:
        fields: dict[str, Any] = {SNAKE[k]: v for k, v in row.items() if SNAKE[k] != "churn"}
        for name in ("senior_citizen", "tenure"):
            fields[name] = int(fields[name])
        for name in ("monthly_charges", "total_charges"):
            fields[name] = float(fields[name]) if fields[name].strip() else None
        customers.append(fields)
    answer = client.post("/predict/batch", json={"customers": customers})
    assert answer.status_code == 200
    served = np.array([p["probability"] for p in answer.json()["predictions"]])
    ours = np.array([listed[c["customer_id"]] for c in customers])
    assert np.max(np.abs(served - ours)) <= 1e-12
    assert np.array_equal(served, ours)  # bit for bit: the logit is a row-wise sum, whatever the batch size
    for fields in customers[:25]:
        assert client.post("/predict", json=fields).json()["probability"] == listed[fields["customer_id"]]


def test_top_and_min_probability_cut_the_list_but_not_the_bands(scorer: Scorer, tmp_path: Path) -> None:
    top = weekly(scorer, DATA, tmp_path / "top", top=100).summary
    assert top["rows"]["listed"] == len(_read(tmp_path / "top" / "at_risk.csv")) == 100
    assert [b["size"] for b in top["bands"]] == [705, 704, 2113, 3521]
    assert top["bands"][0]["listed"] == 100
    cut = weekly(scorer, DATA, tmp_path / "cut", min_probability=0.5).summary
    listed = _read(tmp_path / "cut" / "at_risk.csv")
    assert min(float(r["probability"]) for r in listed) >= 0.5
    everyone = _read(tmp_path / "top" / "at_risk.csv")
    assert cut["rows"]["listed"] == len(listed) > len(everyone)


def test_reasons_are_the_exact_logit_contributions(scorer: Scorer, tmp_path: Path) -> None:
    weekly(scorer, DATA, tmp_path / "out", top=50)
    listed = _read(tmp_path / "out" / "at_risk.csv")
    assert all(r["reason_1"] and float(r["reason_1_logit"]) > 0 for r in listed)
    assert all(float(r["reason_1_logit"]) >= float(r["reason_2_logit"] or 0) for r in listed)
    explainer = scorer.explainer
    matrix = np.eye(scorer.model.encoder.width)[:3] + explainer.baseline  # any matrix: contributions are additive
    logit = matrix @ explainer.coefficients
    baseline = explainer.baseline @ explainer.coefficients
    assert np.allclose(explainer.contributions(matrix).sum(axis=1), logit - baseline, atol=1e-12)


def test_every_reason_names_the_customers_own_value_and_its_exact_contribution(scorer: Scorer, tmp_path: Path) -> None:
    weekly(scorer, DATA, tmp_path / "out")
    source = {index + 2: row for index, row in enumerate(data_rows())}  # the header is line 1
    original = {snake: name for name, snake in COLUMNS.items()}
    explainer, encoder = scorer.explainer, scorer.model.encoder
    listed = _read(tmp_path / "out" / "at_risk.csv")
    named = 0
    for row in listed:
        cells = source[int(row["line"])]
        for k in range(1, 4):
            if not row[f"reason_{k}"]:
                continue
            name, _, shown = row[f"reason_{k}"].partition("=")
            cell = cells[original[name]].strip()
            assert shown == (cell or "blank") or float(shown) == float(cell), (row, name, cell)
            named += 1
    assert named > 2 * len(listed)
    for row in listed[::250]:  # the logits, recomputed from the customer's row alone
        cells = source[int(row["line"])]
        customer = {snake: cells[name] for name, snake in COLUMNS.items() if snake in scorer.profile.features}
        typed = scorer.validator.validator.customer_rows(json.dumps(_typed(customer, scorer)).encode())
        contributions = explainer.contributions(encoder.encode(typed))[0]
        order = np.argsort(-contributions, kind="stable")[:3]
        for k, j in enumerate(order, start=1):
            if contributions[j] > 0:
                assert row[f"reason_{k}"].split("=")[0] == explainer.features[j]
                assert float(row[f"reason_{k}_logit"]) == round(float(contributions[j]), 4)


def test_a_decimal_reason_reads_as_python_spells_the_value() -> None:
    """Labels of decimal values are formatted by Arrow's kernels; they must read as `repr` does (whole numbers
    keep their ".0", shortest round trip otherwise), and a blank as blank."""
    values = np.array(
        [70.0, 18.25, 0.1, 0.30000000000000004, 1e-05, -2e-07, 8684.8, 7615468867953.339, 1e22, -3.0, np.nan]
    )
    labels = decimal_labels("total_charges", values).to_pylist()
    assert labels == [f"total_charges={BLANK if np.isnan(v) else repr(v)}" for v in values.tolist()]


def _typed(customer: dict[str, str], scorer: Scorer) -> dict[str, object]:
    features = scorer.profile.features
    return {n: json_value(v, not isinstance(features[n], CategoricalFeature)) for n, v in customer.items()}


def _unusable(tmp_path: Path) -> dict[str, Path]:
    rows = data_rows()[:20]
    missing = write_csv(tmp_path / "missing.csv", rows, header=[c for c in rows[0] if c != "tenure"])
    empty = write_csv(tmp_path / "empty.csv", rows[:1])
    empty.write_text(empty.read_text().splitlines()[0] + "\n")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00garbage\n\x00\x01")
    return {"missing": missing, "empty": empty, "binary": binary, "absent": tmp_path / "absent.csv"}


def test_an_unusable_input_is_refused_with_one_line(scorer: Scorer, tmp_path: Path) -> None:
    for name, path in _unusable(tmp_path).items():
        with pytest.raises(UnusableInput) as raised:
            weekly(scorer, path, tmp_path / name)
        assert "\n" not in str(raised.value)
    with pytest.raises(UnusableInput, match=r"required columns missing: tenure \(tenure\)"):
        weekly(scorer, _unusable(tmp_path)["missing"], tmp_path / "again")


def test_exit_statuses_without_a_traceback(
    tmp_path: Path, trained_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, _ = planted_export(tmp_path)
    common = ["--model-dir", str(trained_model_dir), "--profile", str(PROFILE_PATH), "--no-report"]
    assert main(["weekly", str(DATA), "--out", str(tmp_path / "ok"), *common]) == 0
    assert main(["weekly", str(source), "--out", str(tmp_path / "over"), "--max-rejected-share", "0", *common]) == 3
    assert len(_read(tmp_path / "over" / "at_risk.csv")) == 7044  # the list is never withheld
    capsys.readouterr()
    for name, path in _unusable(tmp_path).items():
        assert main(["weekly", str(path), "--out", str(tmp_path / name), *common]) == 2
        lines = capsys.readouterr().err.splitlines()
        assert len(lines) == 1
        assert lines[0].startswith("error: ")
    # And as the real command: one line on stderr, no traceback.
    command = [sys.executable, "-m", "scoring", "weekly", str(tmp_path / "absent.csv"), "--out", str(tmp_path / "x")]
    done = subprocess.run([*command, *common], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert done.stderr.startswith("error: cannot read")
    assert len(done.stderr.splitlines()) == 1


# Records the BLAS threads each chunk is scored under, then runs the real command in this process.
BLAS_SPY = textwrap.dedent(
    """
    import json, sys
    from threadpoolctl import threadpool_info
    from scoring import cli, weekly

    def blas_threads():
        return max(pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas")

    seen, score = [], weekly.score_chunk
    weekly.score_chunk = lambda scorer, chunk: seen.append(blas_threads()) or score(scorer, chunk)
    before = blas_threads()
    status = cli.main(["weekly", *sys.argv[1:], "--no-report"])
    print(json.dumps({"before": before, "seen": sorted(set(seen)), "after": blas_threads(), "status": status}))
    """
)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="OpenBLAS allows no more threads than cores")
def test_the_command_scores_on_one_blas_thread_whatever_the_environment_allows(tmp_path: Path) -> None:
    """Two threads score side by side already: a BLAS pool under each only spins. The limit is the command's
    own (a user need not export OPENBLAS_NUM_THREADS=1) and is lifted when it returns."""
    command = [sys.executable, "-c", BLAS_SPY, str(DATA), "--out", str(tmp_path / "out"),
               "--archive", str(tmp_path / "lists")]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, env=clean_env({"OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"}),
                          capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    threads = json.loads(done.stdout.splitlines()[-1])
    assert threads["before"] == 2, threads  # the environment allows two
    assert threads == {"before": 2, "seen": [1], "after": 2, "status": 0}


def test_duplicates_are_exact_even_when_every_hash_collides(
    scorer: Scorer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, _ = planted_export(tmp_path)
    honest = weekly(scorer, source, tmp_path / "honest", max_rejected_share=1.0)
    monkeypatch.setattr(runs, "id_hashes", lambda ids: np.zeros(len(ids), dtype=np.uint64))
    colliding = weekly(scorer, source, tmp_path / "colliding", max_rejected_share=1.0)
    assert honest.summary["rows"] == colliding.summary["rows"]
    for name in ("at_risk.csv", "rejected.csv"):
        assert (tmp_path / "honest" / name).read_bytes() == (tmp_path / "colliding" / name).read_bytes()
