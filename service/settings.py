"""The one settings class. Every field comes from a `CHURN_`-prefixed environment variable."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from service.manifest import MODEL_DIR
from service.profile import PROFILE_FILE
from service.validation import MAX_BATCH


def _split_keys(value: object) -> object:
    """`CHURN_API_KEYS=k1,k2`: a comma-separated list, not JSON."""
    return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value


Keys = Annotated[tuple[SecretStr, ...], NoDecode, BeforeValidator(_split_keys)]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHURN_", extra="forbid", frozen=True)

    # min_length: an empty CHURN_HOST would make uvicorn (asyncio) listen on every interface.
    host: str = Field(
        default="127.0.0.1", min_length=1, description="Address to bind; loopback unless deliberately exposed."
    )
    port: int = Field(default=8000, ge=0, le=65535, description="TCP port to listen on.")
    model_dir: Path = Field(default=MODEL_DIR, description="Model directory (model.joblib + manifest).")
    data_profile: Path = Field(default=PROFILE_FILE, description="Profile requests are validated against.")
    max_batch: int = Field(default=MAX_BATCH, ge=1, description="Most customers accepted in one batch request.")
    max_body_bytes: int = Field(
        default=8 * 1024 * 1024, ge=1024, description="Largest request body accepted, in bytes (413 above)."
    )
    max_weekly_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1024,
        description="Largest export accepted by POST /predict/weekly, in bytes (413 above); ~500k customers.",
    )  # fmt: skip
    log_level: Annotated[
        Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(lambda v: v.upper() if isinstance(v, str) else v)
    ] = Field(default="INFO", description="Log threshold (any case).")
    reload_interval_seconds: float = Field(
        default=1.0, gt=0, le=3600, description="How often the model directory is checked for a new model."
    )
    api_keys: Keys = Field(default=(), description="Keys allowed to predict (comma-separated). Never logged.")
    admin_keys: Keys = Field(default=(), description="Keys allowed to predict and to administer (reload).")
    keys_file: Path | None = Field(
        default=None, description="File of `predict|admin SHA256HEX` lines, so the host never holds plain keys."
    )
    allow_unauthenticated: bool = Field(
        default=False, description="Explicit opt-out: serve without keys on a non-loopback address."
    )
    protect_metrics: bool = Field(default=False, description="Require a key for /metrics too.")
    request_timeout_seconds: float = Field(
        default=30.0, gt=0, le=600, description="Longest a request may run before a 504 problem answer."
    )
    client_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=600,
        description="A client gets this long to send its request headers, and at most this long between two "
        "pieces of its body; else its connection is closed (headers) or it gets 408 (body).",
    )
    list_archive: Path = Field(
        default=Path("lists"), description="Where every weekly list is archived, by ISO week and role."
    )
    list_tracking_uri: str | None = Field(
        default=None,
        description="MLflow store each weekly list is also logged to (experiment churn-lists); unset: not.",
    )
    challenger_dir: Path | None = Field(
        default=None, description="A second model directory scored in shadow: never answers, never affects readiness."
    )
    workers: int = Field(
        default=1,
        ge=1,
        le=32,
        description="uvicorn worker processes serving the one port; above 1, metrics are added up across "
        "workers (prometheus_client multiprocess mode) and a dead worker is replaced.",
    )
    drift_window: int = Field(
        default=10_000, ge=0, le=1_000_000,
        description="Recent validated inputs each worker keeps (as reference bins) for churn_feature_drift_psi; "
        "0 disables the window and the metric.",
    )  # fmt: skip
    shutdown_grace_seconds: int = Field(
        default=20, gt=0, le=600, description="On SIGTERM: how long in-flight requests get to finish."
    )

    @property
    def auth_configured(self) -> bool:
        return bool(self.api_keys or self.admin_keys or self.keys_file)

    @model_validator(mode="after")
    def _refuse_open_exposure(self) -> Settings:
        # Safe default: keyless serving is only for loopback, unless someone opts out in writing.
        if not is_loopback(self.host) and not self.auth_configured and not self.allow_unauthenticated:
            raise ValueError(
                f"CHURN_HOST={self.host} is reachable from other machines but no API keys are set: set "
                "CHURN_API_KEYS / CHURN_ADMIN_KEYS / CHURN_KEYS_FILE, or CHURN_ALLOW_UNAUTHENTICATED=true"
            )
        return self
