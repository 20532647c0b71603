"""Routes closed by default: every route of the app is walked and its access decided here, deliberately;
with keys configured everything that is not open refuses a request without a key, a route added later too."""

from __future__ import annotations

from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient

from service.access import Access, access_of, leaf_routes
from service.app import create_app
from service.settings import Settings
from tests.utils.clients import client_with
from tests.utils.problems import assert_problem

KEY = "route-walk-key-31d7"
DECIDED = {
    # The published contract and its viewers: open, the document is committed in the repository anyway.
    ("/openapi.json", "GET"): Access.OPEN,
    ("/docs", "GET"): Access.OPEN,
    ("/docs/oauth2-redirect", "GET"): Access.OPEN,
    ("/redoc", "GET"): Access.OPEN,
    # Probes: the orchestrator has no key.
    ("/health/live", "GET"): Access.OPEN,
    ("/health/ready", "GET"): Access.OPEN,
    ("/health", "GET"): Access.OPEN,
    # Open unless CHURN_PROTECT_METRICS: Prometheus usually scrapes without a key.
    ("/metrics", "GET"): Access.METRICS,
    ("/model", "GET"): Access.PREDICT,
    ("/predict", "POST"): Access.PREDICT,
    ("/predict/batch", "POST"): Access.PREDICT,
    ("/predict/batch/csv", "POST"): Access.PREDICT,  # the text/csv batch, behind the same public path
    ("/predict/weekly", "POST"): Access.PREDICT,
    ("/admin/reload", "POST"): Access.ADMIN,
}


def _routes(client: TestClient) -> dict[tuple[str, str], Access]:
    walked: dict[tuple[str, str], Access] = {}
    for route in leaf_routes(client.app.routes):  # type: ignore[attr-defined]
        for method in sorted(getattr(route, "methods", None) or {"GET"}):
            if method != "HEAD":
                walked[(getattr(route, "path", ""), method)] = access_of(route)
    return walked


def test_every_route_has_a_deliberate_access(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        assert _routes(client) == DECIDED


def test_with_keys_every_route_but_the_open_ones_refuses_a_request_without_a_key(settings: Settings) -> None:
    with client_with(settings, api_keys=(KEY,), protect_metrics=True) as client:
        for (path, method), access in _routes(client).items():
            answer = client.request(method, path)
            if access is Access.OPEN:
                assert answer.status_code in {200, 503}, (path, answer.text)
            else:
                assert_problem(answer, 401)
        assert_problem(client.get("/no/such/route"), 401)  # no route: closed too


def test_a_route_added_after_the_app_was_built_needs_a_key(settings: Settings) -> None:
    app = create_app(Settings(**{**settings.model_dump(), "api_keys": (KEY,)}))

    async def added() -> PlainTextResponse:
        return PlainTextResponse("secret")

    app.router.add_api_route("/added", added, methods=["GET"])
    with TestClient(app) as client:
        assert_problem(client.get("/added"), 401)
        assert client.get("/added", headers={"X-API-Key": KEY}).text == "secret"
