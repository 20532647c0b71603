"""The README's plain-pip road, end to end: run with the interpreter of an environment built by
`pip install -r requirements.txt`, start `python -m service` from it on the committed model, and demand a ready
service that answers `/predict` with the committed model's version. `.ci/run` runs it; exit 0 or 1.
"""

from __future__ import annotations

import sys

from service.manifest import read_manifest
from testkit.client import fetch
from testkit.customers import customer
from testkit.paths import MODEL_DIR
from testkit.service import launch


def main() -> int:
    version = read_manifest(MODEL_DIR).version
    with launch(ready="ready") as service:  # the committed model; up means 200 on /health/ready
        answer = fetch(service.port, "POST", "/predict", customer())
    body = answer.data if isinstance(answer.data, dict) else {}
    ok = answer.status == 200 and body.get("model_version") == version
    print(
        f"{sys.executable}: /health/ready 200, /predict {answer.status} "
        f"(model_version {body.get('model_version')!r}, probability {body.get('probability')!r}): "
        + ("OK" if ok else f"FAILED, expected version {version}")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
