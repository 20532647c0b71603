"""Test clients over the real app, built from the shared settings with a few values changed."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings


def client_with(settings: Settings, **overrides: Any) -> TestClient:
    """A client over an app whose settings are `settings` with `overrides`; enter it to run the lifespan."""
    return TestClient(create_app(Settings(**{**settings.model_dump(), **overrides})))
