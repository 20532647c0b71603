"""Target 2, valid input: every category value and both ends of every range is answered 200 with a prediction,
its probability and the serving model's version, one at a time and all together in one batch."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.manifest import Manifest, read_manifest
from service.profile import load_profile
from testkit.customers import boundary_cases
from testkit.paths import MODEL_DIR, PROFILE_PATH
from verification.app import committed_app
from verification.result import CheckResult, verdict

TARGET = "valid_input"
CHECK = "every category value and range end of the profile -> 200 {prediction, probability, model_version}"


def judge(where: str, status: int, body: Any, manifest: Manifest) -> list[str]:
    """What is wrong with one answer to a valid customer (nothing, when it is right)."""
    if status != 200 or not isinstance(body, dict):
        return [f"{where}: answered {status} {str(body)[:300]}; a valid customer must get 200"]
    problems: list[str] = []
    prediction, probability, version = body.get("prediction"), body.get("probability"), body.get("model_version")
    if prediction not in (0, 1) or isinstance(prediction, bool):
        problems.append(f"prediction {prediction!r} is not 0 or 1")
    if not isinstance(probability, float) or not 0.0 <= probability <= 1.0:
        problems.append(f"probability {probability!r} is not a number in [0, 1]")
    elif prediction in (0, 1) and prediction != int(probability >= manifest.threshold):
        # A prediction that disagrees with its own probability was not computed from it.
        problems.append(f"prediction {prediction} disagrees with probability {probability} at {manifest.threshold}")
    if version != manifest.version:
        problems.append(f"model_version {version!r} is not the serving model's {manifest.version!r}")
    return [f"{where}: {problem}" for problem in problems]


def check_valid_input(
    app: FastAPI | None = None, profile_path: Path = PROFILE_PATH, model_dir: Path = MODEL_DIR
) -> CheckResult:
    started = time.perf_counter()
    profile, _ = load_profile(profile_path)
    manifest = read_manifest(model_dir)
    cases = boundary_cases(profile)
    failures: list[str] = []
    with TestClient(app or committed_app(model_dir, profile_path)) as client:
        for case in cases:
            response = client.post("/predict", json=case.row)
            failures += judge(f"POST /predict {case.label}", response.status_code, _json(response), manifest)
        batch = client.post("/predict/batch", json={"customers": [case.row for case in cases]})
        body = _json(batch)
        if batch.status_code != 200 or not isinstance(body, dict):
            failures.append(f"POST /predict/batch of all {len(cases)}: answered {batch.status_code} {str(body)[:300]}")
        else:
            answers = body.get("predictions") or []
            if len(answers) != len(cases):
                failures.append(f"POST /predict/batch: {len(answers)} predictions for {len(cases)} customers")
            for case, answer in zip(cases, answers, strict=False):
                failures += judge(f"POST /predict/batch {case.label}", 200, answer, manifest)
    fields = len(profile.features)
    return verdict(
        TARGET,
        CHECK,
        summary=f"{len(cases)} boundary values of {fields} fields, singly and as one batch; model {manifest.version}",
        evidence={"cases": len(cases), "fields": fields, "values": [case.label for case in cases], "batch": True},
        failures=failures,
        started=started,
    )


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text
