"""Measured figures from the operations tests: printed in the pytest output and kept as test properties."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest


def report(request: pytest.FixtureRequest, name: str, figures: dict[str, Any]) -> None:
    """Show `figures` in the terminal even with output captured, and record them on the test (JUnit XML)."""
    line = f"[ops figures] {name}: {json.dumps(figures)}"
    request.node.user_properties.append((name, json.dumps(figures)))
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
        print(f"\n{line}", flush=True)
