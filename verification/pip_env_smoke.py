"""The README's plain-pip road, end to end: run with the interpreter of an environment built by
`pip install -r requirements.txt`, start `python -m service` from it on the committed model, and demand a ready
service that answers `/predict` with the committed model's version. `.ci/run` runs it; exit 0 or 1.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from service.manifest import read_manifest
from service.profile import load_profile
from verification.customers import base_row
from verification.paths import ROOT
from verification.server import serve

MODEL_DIR = ROOT / "models" / "churn"


def main() -> int:
    version = read_manifest(MODEL_DIR).version
    customer = base_row(load_profile(ROOT / "data_profile.json")[0])
    with tempfile.TemporaryDirectory(prefix="churnguard-pip-env-") as work, serve(MODEL_DIR, Path(work)) as server:
        ready = server.request("GET", "/health/ready")
        answer = server.request("POST", "/predict", customer)
    body = answer.body if isinstance(answer.body, dict) else {}
    ok = ready.status == 200 and answer.status == 200 and body.get("model_version") == version
    print(
        f"{sys.executable}: /health/ready {ready.status}, /predict {answer.status} "
        f"(model_version {body.get('model_version')!r}, probability {body.get('probability')!r}): "
        + ("OK" if ok else f"FAILED, expected a ready service serving version {version}")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
