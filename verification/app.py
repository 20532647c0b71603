"""The committed service, built in process the way `python -m service` builds it, for the in-process checks."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import FastAPI

from service.app import create_app
from service.settings import Settings
from testkit.paths import MODEL_DIR, PROFILE_PATH


def committed_app(model_dir: Path = MODEL_DIR, profile: Path = PROFILE_PATH) -> FastAPI:
    # An hour between background reloads: the checks drive reloads through requests, not a timer.
    # Lists the checks make are archived out of the checkout (the contract fuzzing posts weekly exports).
    archive = Path(tempfile.mkdtemp(prefix="churn-verification-lists-"))
    return create_app(
        Settings(model_dir=model_dir, data_profile=profile, reload_interval_seconds=3600, list_archive=archive)
    )
