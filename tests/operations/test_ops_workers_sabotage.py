"""Sabotage twins of the two-worker checks on what is counted and what /health says (test_ops_workers.py): the
service run from a copy of the code with one line broken (tests.utils.planted), and the same check made to fail.
Each starts its own two-worker service, so each costs a start (about 10 s on 2 busy cores); the twins on
promotion, drain and start-up are in test_ops_workers_sabotage_lifecycle.py, so that xdist runs the two files
side by side (`--dist loadfile`: one file, one worker)."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from service.manifest import MODEL_FILE
from testkit.process import wait_for
from testkit.workers import counted_by_worker, metrics_dir
from tests.utils.workers import (
    PREDICTIONS,
    SETTLE_SECONDS,
    both_took_part,
    count_failures,
    health_failures,
    kill_failures,
    planted,
    serving_workers,
    until_both_answered,
)

pytestmark = [pytest.mark.slow, pytest.mark.long(22)]


def test_workers_that_do_not_add_up_their_counts_are_caught(tmp_path: Path, model_dir: Path) -> None:
    with serving_workers(tmp_path, model_dir, command=planted(tmp_path, "no-aggregation")) as service:
        counts = functools.partial(counted_by_worker, metrics_dir(service), "churn_predictions_total")
        failures = until_both_answered(lambda: count_failures(service, PREDICTIONS), counts)
        assert both_took_part(counts())
    assert failures, "one scrape still counted every prediction"
    assert "one scrape counted" in failures[0]


def test_a_dead_worker_whose_counts_are_dropped_is_caught(tmp_path: Path, model_dir: Path) -> None:
    with serving_workers(tmp_path, model_dir, command=planted(tmp_path, "no-fold")) as service:
        count_failures(service, PREDICTIONS)  # both workers count some
        failures = kill_failures(service)
    assert any("went from" in failure for failure in failures), failures


def test_a_worker_with_remembered_readiness_is_caught(tmp_path: Path, model_dir: Path) -> None:
    with serving_workers(tmp_path, model_dir, command=planted(tmp_path, "cached-readiness")) as service:
        directory = metrics_dir(service)

        def both_remember_ready() -> bool:  # each worker answers (and remembers) ready, until both have
            ready = health_failures(service, expected=200) == []
            return ready and both_took_part(counted_by_worker(directory, "churn_http_requests_total", route="/health"))

        wait_for(both_remember_ready, SETTLE_SECONDS, "both workers to answer /health")
        (model_dir / MODEL_FILE).unlink()
        counts = functools.partial(counted_by_worker, directory, "churn_http_requests_total", route="/health")
        failures = until_both_answered(lambda: health_failures(service), counts)
    assert failures, "every /health answered 503"


def test_a_worker_that_never_answers_is_a_failure_once_the_time_is_up() -> None:
    """The spread check's own bound: rounds that all pass, but only one worker ever counts, end in a failure."""
    answered = iter(range(1, 1_000_000))
    failures = until_both_answered(lambda: [], lambda: {"101": float(next(answered)), "102": 0.0}, seconds=0.2)
    assert len(failures) == 1, failures
    assert " s not every worker had answered: " in failures[0], failures
