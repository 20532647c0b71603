"""The one settings class. Every field comes from a `CHURN_`-prefixed environment variable."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHURN_", extra="forbid", frozen=True)

    # min_length: an empty CHURN_HOST would make uvicorn (asyncio) listen on every interface.
    host: str = Field(
        default="127.0.0.1", min_length=1, description="Address to bind; loopback unless deliberately exposed."
    )
    port: int = Field(default=8000, ge=0, le=65535, description="TCP port to listen on.")
    model_dir: Path = Field(default=Path("models/churn"), description="Model directory (model.joblib + manifest).")
    data_profile: Path = Field(default=Path("data_profile.json"), description="Profile requests are validated against.")
    max_batch: int = Field(default=10_000, ge=1, description="Most customers accepted in one batch request.")
    max_body_bytes: int = Field(
        default=8 * 1024 * 1024, ge=1024, description="Largest request body accepted, in bytes (413 above)."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", description="Log threshold.")
    reload_interval_seconds: float = Field(
        default=1.0, gt=0, le=3600, description="How often the model directory is checked for a new model."
    )
