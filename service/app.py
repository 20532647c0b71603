"""The app factory: every dependency is built from settings or passed in, so tests can hand in their own."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI
from starlette.routing import Route

from service.access import Access, AuthMiddleware, access_of, leaf_routes, needs
from service.auth import KeyRing
from service.batch_plane import BatchPlane, ListArchive
from service.batch_routes import WEEKLY_PATH, CsvBatchDispatch, build_batch_router, declare_csv
from service.dataplane import DataPlane
from service.metrics import ServiceMetrics
from service.middleware import RequestContextMiddleware
from service.model_store import ModelStore
from service.offload import Offload
from service.openapi import build_openapi
from service.problems import install_problem_handlers
from service.profile import load_profile
from service.routes import build_router
from service.schemas import build_request_models
from service.serving_drift import ServingDrift
from service.settings import Settings
from service.shadow import Shadow
from service.validation import Validator

log = logging.getLogger("churnguard")
API_VERSION = "1.0.0"


async def _watch(store: ModelStore, interval: float, shadow: Shadow | None = None) -> None:
    """Poll the model directory (and the challenger's) so a newly promoted model is served without a restart."""
    while True:
        await asyncio.sleep(interval)
        await anyio.to_thread.run_sync(store.refresh)
        if shadow is not None:
            await anyio.to_thread.run_sync(shadow.refresh)


@contextlib.contextmanager
def _serving(offload: Offload) -> Iterator[None]:
    """While the app serves: the offload ready (its process starts with the first large body), and what
    startup built (imports, app, model: ~170k objects) out of the cycle collector's view. A full collection
    over it held the GIL, so the event loop, for 80-140 ms under 10,000-row batches (measured)."""
    offload.start()
    gc.freeze()  # O(1), no collection first: startup's few cycles of garbage are not worth a full pass
    try:
        yield
    finally:
        gc.unfreeze()  # back in view: an app stopped in a longer-lived process (tests) can still be collected
        offload.stop()


def create_app(settings: Settings, *, store: ModelStore | None = None, metrics_dir: Path | None = None) -> FastAPI:
    """`metrics_dir`: the multiprocess directory this app's worker shares with the others (service.workers)."""
    profile, profile_sha256 = load_profile(settings.data_profile)
    model_store = store or ModelStore(settings.model_dir, profile_sha256, tuple(profile.features))
    models = build_request_models(profile, settings.max_batch)
    keys = KeyRing.build(
        (k.get_secret_value() for k in settings.api_keys),
        (k.get_secret_value() for k in settings.admin_keys),
        settings.keys_file,
    )
    metrics = ServiceMetrics(model_store, metrics_dir)
    challenger = (
        ModelStore(settings.challenger_dir, profile_sha256, tuple(profile.features))
        if settings.challenger_dir
        else None
    )
    shadow = (
        Shadow(challenger, metrics.own, metrics.registry, refresh_on_scrape=metrics_dir is not None)
        if challenger is not None
        else None
    )
    offload = Offload(settings.data_profile, settings.max_batch, settings.max_body_bytes)
    drift = ServingDrift(profile, settings.drift_window, model_store, metrics.registry)  # each worker's own window

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(model_store.refresh)
        if shadow is not None:
            await anyio.to_thread.run_sync(shadow.refresh)
        health = model_store.health()
        log.info("service ready" if health.healthy else "service started without a servable model", extra={
            "model_version": health.model_version, "reason": health.reason, "model_dir": str(settings.model_dir),
        })  # fmt: skip
        if not keys.enabled:
            log.warning("no API keys configured: prediction endpoints are open", extra={"host": settings.host})
        watcher = asyncio.create_task(_watch(model_store, settings.reload_interval_seconds, shadow))
        with _serving(offload):
            try:
                yield
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher

    app = FastAPI(
        title="churnguard",
        version=API_VERSION,
        description="Churn predictions for the retention team, validated against the training data's profile.",
        lifespan=lifespan,
        redirect_slashes=False,  # a path outside the contract is a 404, never a redirect built from Host
    )
    # The published contract and its viewers are open, deliberately: the document is committed in the repository.
    contract = {app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url}
    for route in app.routes:
        if isinstance(route, Route) and route.path in contract:
            needs(Access.OPEN)(route.endpoint)
    validator = Validator(profile, models.customer, settings.max_batch)
    dataplane = DataPlane(model_store, validator, metrics, offload, shadow, drift=drift)
    app.include_router(build_router(models, dataplane, metrics))
    archive = ListArchive(settings.list_archive, settings.list_tracking_uri)
    app.include_router(build_batch_router(BatchPlane(dataplane, settings.max_batch, archive, shadow)))
    install_problem_handlers(app)
    app.add_middleware(CsvBatchDispatch)  # innermost: auth judges the public path
    # Added last = outermost: the request id, timeout, metrics and access log wrap the auth check too.
    app.add_middleware(AuthMiddleware, keys=keys, routes=app.router.routes, protect_metrics=settings.protect_metrics)
    app.add_middleware(
        RequestContextMiddleware,
        path_limits={WEEKLY_PATH: settings.max_weekly_bytes},
        max_body_bytes=settings.max_body_bytes,
        timeout_seconds=settings.request_timeout_seconds,
        client_timeout_seconds=settings.client_timeout_seconds,
        metrics=metrics,
    )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            keyed = {getattr(r, "path", "") for r in leaf_routes(app.routes) if access_of(r) is not Access.OPEN}
            app.openapi_schema = declare_csv(build_openapi(app, keyed, (models.customer, models.batch)))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.state.store = model_store
    app.state.metrics = metrics
    app.state.shadow = shadow
    return app
