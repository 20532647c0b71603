"""Exports for the weekly-list tests: the real data set as CSV/Parquet, snake_case or not, planted faults."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from experiments.data import COLUMNS
from scoring.runs import Selection
from scoring.weekly import Outcome, Scorer, run_weekly
from service.model_store import LoadedModel
from service.schemas import build_customer_model
from service.validation import MAX_BATCH, Validator
from testkit.paths import DATA
from tests.utils.profile import PROFILE


def data_rows() -> list[dict[str, str]]:
    """The data set's rows as text, keyed by the data set's own header."""
    with DATA.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def planted_export(tmp_path: Path) -> tuple[Path, dict[int, str]]:
    """The data set plus planted bad rows; answers the path and, per bad line, the field at fault."""
    rows = data_rows()
    header = list(rows[0])
    planted: dict[int, str] = {}
    lines = [",".join(header)] + [",".join(row.values()) for row in rows]

    def plant(line: str, field: str) -> None:
        lines.append(line)
        planted[len(lines)] = field  # 1-based line number of what was just appended

    base = dict(rows[1])
    plant(",".join({**base, "customerID": "P-1", "tenure": "99"}.values()), "tenure")
    plant(",".join({**base, "customerID": "P-2", "Contract": "Weekly"}.values()), "contract")
    plant(",".join({**base, "customerID": "P-3", "InternetService": "No"}.values()), "online_security")
    plant("P-4,too,few", "row")
    plant("", "gender")  # a blank line is a row of blanks: rejected, never skipped
    plant(",".join({**base, "customerID": rows[0]["customerID"]}.values()), "customer_id")  # duplicate
    plant(",".join({**base, "customerID": ""}.values()), "customer_id")
    lines.append(",".join({**base, "customerID": "P-8"}.values()))  # a good row after the bad ones
    path = tmp_path / "planted.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, planted


def write_csv(path: Path, rows: list[dict[str, str]], header: list[str] | None = None, snake: bool = False) -> Path:
    names = header or list(rows[0])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([COLUMNS.get(n, n) for n in names] if snake else names)
    writer.writerows([[row.get(n, "") for n in names] for row in rows])
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def write_parquet(path: Path, csv_path: Path) -> Path:
    """The CSV as Parquet with real types (integers, doubles with nulls, strings)."""
    table = pa_csv.read_csv(csv_path)
    total = table.column("TotalCharges")
    if total.type == pa.string():  # the blank TotalCharges cells become real nulls
        stripped = pa.compute.utf8_trim_whitespace(total)
        numbers = pa.compute.if_else(pa.compute.equal(stripped, ""), None, stripped).cast(pa.float64())
        table = table.set_column(table.schema.get_field_index("TotalCharges"), "TotalCharges", numbers)
    pq.write_table(table, path)
    return path


def text(value: Any) -> str:
    """A JSON value as a CSV cell: null is blank; floats keep every digit."""
    if value is None:
        return ""
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    return str(value)


def weekly(scorer: Scorer, source: Path, out: Path, **options: Any) -> Outcome:
    selection = Selection(options.pop("top", None), options.pop("min_probability", None))
    return run_weekly(source, out, scorer, selection=selection, **options)


def scorer_for(model: LoadedModel) -> Scorer:
    """The weekly scorer over `model`, with the one validator built from the committed profile."""
    return Scorer(Validator(PROFILE, build_customer_model(PROFILE), MAX_BATCH), model)
