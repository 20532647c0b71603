"""Target 3, health under model removal, on a real uvicorn process serving a copy of the model directory:
healthy; `model.joblib` deleted -> 503 unhealthy on the next request; restored -> healthy without a restart;
started with no model -> live 200, ready 503, /predict 503 problem+json. No 500 at any step."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service.manifest import MODEL_FILE
from service.profile import load_profile
from testkit.client import Answer, fetch
from testkit.customers import base_row
from testkit.net import HOST
from testkit.paths import MODEL_DIR, PROFILE_PATH
from testkit.process import DidNotStart
from testkit.service import SERVICE_COMMAND, Service, launch
from verification.result import CheckResult, verdict

TARGET = "health"
CHECK = "uvicorn on 127.0.0.1: delete model.joblib -> 503, restore -> 200, no model -> live 200 / ready 503"
DEADLINE = 5.0  # seconds a deleted model may go unnoticed before the check stops waiting (the promise is 1 request)
POLL = 0.01


@dataclass
class Server:
    """The service under check, and every answer it gave, to prove none was a 500."""

    service: Service
    answers: list[tuple[str, Answer]] = field(default_factory=list)

    def request(self, method: str, path: str, body: Any = None) -> Answer:
        answer = fetch(self.service.port, method, path, body, timeout=5.0)
        self.answers.append((f"{method} {path}", answer))
        return answer

    def alive(self) -> bool:
        return self.service.alive()


@contextlib.contextmanager
def _serve(model_dir: Path, work: Path, command: Sequence[str]) -> Iterator[Server]:
    # Live, not ready: the no-model step starts a service that is alive but never ready.
    with launch(
        work, ready="live", command=command, startup_timeout=60.0, model_dir=model_dir, log_level="WARNING"
    ) as service:
        yield Server(service)


def _expect(where: str, answer: Answer, status: int, health: str) -> list[str]:
    body = answer.data if isinstance(answer.data, dict) else {}
    if answer.status == status and body.get("status") == health and (health == "healthy" or body.get("reason")):
        return []
    return [f"{where}: answered {answer.status} {str(answer.data)[:300]}; expected {status} {health}"]


def _after_deletion(server: Server, model_file: Path, deadline: float, evidence: dict[str, Any]) -> list[str]:
    model_file.unlink()
    deleted_at = time.perf_counter()
    requests = 0
    answer = server.request("GET", "/health")
    while True:
        requests += 1
        if answer.status == 503 or time.perf_counter() - deleted_at > deadline:
            break
        time.sleep(POLL)
        answer = server.request("GET", "/health")
    evidence["requests_to_unhealthy"] = requests
    if answer.status != 503:
        return [
            f"GET /health still answered {answer.status} {str(answer.data)[:200]} {deadline:.1f} s "
            f"({requests} requests) after {MODEL_FILE} was deleted: the health check does not look at the model"
        ]
    evidence["seconds_to_unhealthy"] = round(answer.at - deleted_at, 4)
    failures = _expect(f"GET /health after deleting {MODEL_FILE}", answer, 503, "unhealthy")
    if requests > 1:
        failures.append(f"GET /health turned 503 only on request {requests} after the deletion, not the next one")
    live = server.request("GET", "/health/live")
    if live.status != 200:
        failures.append(f"GET /health/live answered {live.status} without a model file: liveness is not readiness")
    return failures


def _after_restore(server: Server, model_file: Path, pristine: Path, evidence: dict[str, Any]) -> list[str]:
    shutil.copy2(pristine, model_file)
    restored_at = time.perf_counter()
    answer = server.request("GET", "/health")
    evidence["seconds_to_healthy_after_restore"] = round(answer.at - restored_at, 4)
    failures = _expect(f"GET /health after restoring {MODEL_FILE}", answer, 200, "healthy")
    if not server.alive():
        failures.append("the server process exited: recovery must not need a restart")
    return failures


def _without_model(server: Server, predict_body: dict[str, Any]) -> list[str]:
    failures: list[str] = []
    live = server.request("GET", "/health/live")
    if live.status != 200:
        failures.append(f"no model: GET /health/live answered {live.status}; liveness must stay 200")
    failures += _expect("no model: GET /health/ready", server.request("GET", "/health/ready"), 503, "unhealthy")
    predict = server.request("POST", "/predict", predict_body)
    body = predict.data if isinstance(predict.data, dict) else {}
    if (
        predict.status != 503
        or not predict.content_type.startswith("application/problem+json")
        or body.get("status") != 503
    ):
        failures.append(
            f"no model: POST /predict answered {predict.status} {predict.content_type} {str(predict.data)[:200]}; "
            "expected 503 application/problem+json"
        )
    return failures


def check_health(
    command: Sequence[str] = SERVICE_COMMAND,
    model_dir: Path = MODEL_DIR,
    profile_path: Path = PROFILE_PATH,
    deadline: float = DEADLINE,
) -> CheckResult:
    started = time.perf_counter()
    failures: list[str] = []
    evidence: dict[str, Any] = {"host": HOST}
    answers: list[tuple[str, Answer]] = []
    with tempfile.TemporaryDirectory(prefix="churnguard-health-") as tmp:
        work = Path(tmp)
        served = work / "models" / "churn"
        shutil.copytree(model_dir, served)
        pristine = work / f"{MODEL_FILE}.pristine"
        shutil.copy2(served / MODEL_FILE, pristine)
        empty = work / "models" / "empty"
        empty.mkdir()
        try:
            with _serve(served, work, command) as server:
                answers = server.answers  # the same list: it keeps growing while the block runs
                failures += _expect("GET /health with the model", server.request("GET", "/health"), 200, "healthy")
                failures += _after_deletion(server, served / MODEL_FILE, deadline, evidence)
                failures += _after_restore(server, served / MODEL_FILE, pristine, evidence)
            with _serve(empty, work, command) as server:
                failures += _without_model(server, base_row(load_profile(profile_path)[0]))
            answers = answers + server.answers
        except DidNotStart as exc:
            failures.append(f"the service did not start: {exc}")
        except OSError as exc:  # refused or reset: the process died or hung mid-check
            failures.append(f"the service stopped answering: {type(exc).__name__}: {exc}")
    server_errors = [f"{what} answered {answer.status}" for what, answer in answers if answer.status == 500]
    failures += [f"a 500 at some step: {error}" for error in server_errors]
    evidence["requests"] = len(answers)
    evidence["statuses"] = dict(Counter(str(answer.status) for _, answer in answers))
    seconds = evidence.get("seconds_to_unhealthy")
    summary = (
        f"{seconds * 1000:.1f} ms from deletion to first 503 ({evidence['requests_to_unhealthy']} request); "
        if seconds is not None
        else "never turned unhealthy; "
    ) + f"{len(answers)} requests, {len(server_errors)} 500s"
    return verdict(TARGET, CHECK, summary=summary, evidence=evidence, failures=failures, started=started)
