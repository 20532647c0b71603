"""The container and Kubernetes examples agree with the code: probe paths are the app's routes with the right
meaning, probe/container/metrics ports are the settings' port, every CHURN_* variable is a real setting, keys
come from a Secret, and the kubelet's grace outlasts the service's own. (No Docker engine or cluster is
needed: the files are parsed.)"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.app import create_app
from service.settings import Settings
from testkit.paths import ROOT
from tests.utils.clients import client_with

DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
K8S = DEPLOY / "k8s"
SETTINGS = Settings.model_fields
DEFAULT_PORT: int = SETTINGS["port"].default
KEY_VARIABLES = {"CHURN_API_KEYS", "CHURN_ADMIN_KEYS"}


def _manifests() -> dict[str, dict[str, Any]]:
    documents = [doc for path in sorted(K8S.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text("utf-8"))]
    by_kind = {doc["kind"]: doc for doc in documents if doc}
    assert len(by_kind) == len([d for d in documents if d]), "one object of each kind"
    return by_kind


MANIFESTS = _manifests()
POD = MANIFESTS["Deployment"]["spec"]["template"]
(CONTAINER,) = POD["spec"]["containers"]
ENV = {item["name"]: item for item in CONTAINER["env"]}


def _get_routes(settings: Settings) -> set[str]:
    """The app's GET paths, as its OpenAPI contract lists them."""
    paths: dict[str, dict[str, Any]] = create_app(settings).openapi()["paths"]
    return {path for path, operations in paths.items() if "get" in operations}


def _port(value: int | str) -> int:
    """A probe's or Service's port: a number, or the name of one of the container's ports."""
    if isinstance(value, int):
        return value
    (port,) = [p["containerPort"] for p in CONTAINER["ports"] if p["name"] == value]
    return int(port)


def _setting(variable: str) -> str:
    assert variable.startswith("CHURN_"), variable
    return variable.removeprefix("CHURN_").lower()


def test_the_container_port_is_the_settings_port() -> None:
    (port,) = CONTAINER["ports"]
    assert port["containerPort"] == DEFAULT_PORT
    assert int(ENV["CHURN_PORT"]["value"]) == DEFAULT_PORT


def test_probes_use_the_apps_liveness_and_readiness_routes_on_that_port(settings: Settings) -> None:
    routes = _get_routes(settings)
    probes = {kind: CONTAINER[f"{kind}Probe"]["httpGet"] for kind in ("liveness", "readiness", "startup")}
    assert probes["liveness"]["path"] == "/health/live"
    assert probes["readiness"]["path"] == "/health/ready"
    assert probes["readiness"]["path"] != probes["liveness"]["path"]
    for kind, probe in probes.items():
        assert probe["path"] in routes, f"{kind} probe {probe['path']} is not a GET route of the app"
        assert _port(probe["port"]) == DEFAULT_PORT, kind


def test_a_missing_model_fails_readiness_but_not_liveness_or_startup(settings: Settings, tmp_path: Path) -> None:
    """The probes mean what the manifest says: no model takes the pod out of the Service but never restarts it."""
    with client_with(settings, model_dir=tmp_path / "no-model") as client:
        for kind in ("liveness", "startup"):
            assert client.get(CONTAINER[f"{kind}Probe"]["httpGet"]["path"]).status_code == 200, kind
        assert client.get(CONTAINER["readinessProbe"]["httpGet"]["path"]).status_code == 503


def test_every_churn_variable_in_the_examples_is_a_setting() -> None:
    dockerfile_env = re.findall(r"\b(CHURN_[A-Z_]+)=", DOCKERFILE.read_text("utf-8"))
    assert dockerfile_env
    for variable in [*ENV, *dockerfile_env]:
        if variable.startswith("CHURN_"):
            assert _setting(variable) in SETTINGS, f"{variable} is not a field of service.settings.Settings"


def test_keys_come_from_a_secret_and_the_open_opt_out_is_never_used() -> None:
    for variable in KEY_VARIABLES:
        assert "value" not in ENV[variable], f"{variable} must not be written into the manifest"
        assert ENV[variable]["valueFrom"]["secretKeyRef"]["name"]
    for path in [DOCKERFILE, *K8S.glob("*.yaml")]:
        assert "ALLOW_UNAUTHENTICATED" not in path.read_text("utf-8"), path
    assert ENV["CHURN_HOST"]["value"] == "0.0.0.0"  # noqa: S104 - exposed in the pod, and therefore keyed


def test_the_kubelet_waits_longer_than_the_service_drains() -> None:
    grace = int(ENV["CHURN_SHUTDOWN_GRACE_SECONDS"]["value"]) if "CHURN_SHUTDOWN_GRACE_SECONDS" in ENV else None
    grace = grace or SETTINGS["shutdown_grace_seconds"].default
    pre_stop = CONTAINER["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert POD["spec"]["terminationGracePeriodSeconds"] > int(pre_stop[1]) + grace


def test_prometheus_annotations_point_at_the_metrics_route(settings: Settings) -> None:
    annotations = POD["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == DEFAULT_PORT
    assert annotations["prometheus.io/path"] in _get_routes(settings)


def test_the_service_and_disruption_budget_select_the_pods() -> None:
    labels = POD["metadata"]["labels"]
    assert MANIFESTS["Deployment"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert MANIFESTS["Service"]["spec"]["selector"].items() <= labels.items()
    assert MANIFESTS["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (port,) = MANIFESTS["Service"]["spec"]["ports"]
    assert _port(port["targetPort"]) == DEFAULT_PORT
    assert MANIFESTS["PodDisruptionBudget"]["spec"]["minAvailable"] < MANIFESTS["Deployment"]["spec"]["replicas"]


def _instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text("utf-8").replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_the_image_is_python_311_slim_with_the_hash_checked_lock_as_a_non_root_user() -> None:
    instructions = _instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    installs = [arg for op, arg in instructions if op == "RUN" and "pip install" in arg]
    assert installs
    assert all("--require-hashes" in arg and "-r requirements.txt" in arg for arg in installs)
    (user,) = [arg for op, arg in instructions if op == "USER"]
    assert user.split(":")[0] not in {"root", "0"}
    assert [op for op, _ in instructions].index("USER") > max(
        i for i, (op, arg) in enumerate(instructions) if op == "RUN"
    ), "everything after USER runs unprivileged"


def test_the_image_runs_the_service_on_the_settings_port_with_what_it_reads() -> None:
    instructions = _instructions()
    (cmd,) = [arg for op, arg in instructions if op == "CMD"]
    assert json.loads(cmd) == ["python", "-m", "service"]  # exec form: python is PID 1 and gets SIGTERM
    (expose,) = [arg for op, arg in instructions if op == "EXPOSE"]
    assert int(expose) == DEFAULT_PORT
    env = dict(
        pair.split("=", 1) for op, arg in instructions if op == "ENV" for pair in shlex.split(arg) if "=" in pair
    )
    assert env["CHURN_HOST"] == "0.0.0.0"  # noqa: S104 - the container's interface; keys are then required
    assert int(env["CHURN_PORT"]) == DEFAULT_PORT
    copied = {arg.split()[0].rstrip("/") for op, arg in instructions if op == "COPY"}
    for source in copied:
        assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"
    needed = {"service", "requirements.txt", str(SETTINGS["data_profile"].default), str(SETTINGS["model_dir"].default)}
    assert needed <= copied


@pytest.mark.parametrize("path", sorted(p.name for p in K8S.glob("*.yaml")))
def test_every_manifest_names_the_app(path: str) -> None:
    for document in yaml.safe_load_all((K8S / path).read_text("utf-8")):
        assert document["metadata"]["labels"]["app.kubernetes.io/name"] == "churnguard"
