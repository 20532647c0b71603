"""Promotion, the only road to serving: an audited run that clears its floors becomes the registry's
`champion` and the serving model directory; the champion it replaces stays as `previous-champion`.

`rollback` swaps the two aliases back and rewrites the directory from the previous champion's run. The
directory is written atomically, so a running service hot-swaps to it without restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from experiments import numerics
from experiments.audit import AuditReport, audit_run
from experiments.completeness import missing_parts
from experiments.model_dir import export_model_dir
from experiments.shadow_evidence import missing_evidence
from experiments.store import Store, active_store
from experiments.train import TrainResult
from scoring.archive import DEFAULT_ARCHIVE
from service.encoding import FastEncoder, UnsupportedPipeline
from service.manifest import MODEL_NAME, Manifest
from service.profile import ProfileError, load_profile

CHAMPION = "champion"
PREVIOUS = "previous-champion"
DEFAULT_MODEL_NAME = MODEL_NAME


class PromotionRefused(Exception):
    """The run may not serve; the message lists every reason."""


@dataclass(frozen=True)
class Promotion:
    action: str  # "promoted" or "rolled back"
    run_id: str
    registered: ModelVersion
    previous: ModelVersion | None
    manifest: Manifest
    model_dir: Path

    def summary(self) -> str:
        before = f"version {self.previous.version} (run {self.previous.run_id})" if self.previous else "none"
        return "\n".join(
            [
                f"{self.action}: {self.registered.name} version {self.registered.version} (run {self.run_id}) "
                f"is now @{CHAMPION}; "
                f"@{PREVIOUS}: {before}",
                f"wrote {self.model_dir}: serving version {self.manifest.version}, model SHA-256 "
                f"{self.manifest.model_sha256[:12]}…, roc_auc {self.manifest.metrics['roc_auc']:.4f}",
            ]
        )


def _promotable(
    store: Store, run_id: str, profile_path: Path, archive: Path | None = None
) -> tuple[AuditReport, TrainResult]:
    """`archive`: the list archive the config's shadow floors are checked against (None: not checked, as for
    a rollback or for staging a challenger)."""
    missing = missing_parts(store, store.client.get_run(run_id))
    if missing:
        raise PromotionRefused(f"run {run_id} is half-logged, it never completed: " + "; ".join(missing))
    report = audit_run(store, run_id)
    if not report.passed or report.result is None or report.model_uri is None:
        raise PromotionRefused(f"run {run_id} failed its audit:\n{report.verdict()}")
    result = report.result
    floors = result.config.promotion
    reasons = [
        f"{metric} {result.metrics[metric]:.4f} is below the floor {floor:.4f}"
        for metric, floor in (("roc_auc", floors.min_roc_auc), ("recall_top10", floors.min_recall_top10))
        if result.metrics[metric] < floor
    ]
    if archive is not None and floors.shadow is not None:
        reasons += missing_evidence(floors.shadow, archive, run_id)
    try:
        FastEncoder.from_pipeline(result.pipeline)  # what the service will build from it
    except UnsupportedPipeline as exc:
        reasons.append(f"the service cannot serve this pipeline: {exc}")
    try:
        profile, _ = load_profile(profile_path)
    except ProfileError as exc:
        reasons.append(str(exc))
    else:
        if profile.dataset.sha256 != result.dataset.sha256:
            reasons.append(
                f"{profile_path} describes data {profile.dataset.sha256[:12]}…, the run trained on "
                f"{result.dataset.sha256[:12]}…: the service would validate against the wrong profile"
            )
    if reasons:
        raise PromotionRefused(f"run {run_id} may not serve: " + "; ".join(reasons))
    return report, result


# What the registry answers for "no such model" and "no such alias" (SQLite and REST stores alike).
_ABSENT = frozenset({"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"})


def _alias(store: Store, name: str, alias: str) -> ModelVersion | None:
    try:
        return store.client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code in _ABSENT:
            return None
        raise  # an unreachable or failing store must not read as "no champion yet"


def _set_aliases(store: Store, name: str, champion: ModelVersion, previous: ModelVersion | None) -> None:
    store.client.set_registered_model_alias(name, CHAMPION, str(champion.version))
    if previous is None:
        if _alias(store, name, PREVIOUS) is not None:
            store.client.delete_registered_model_alias(name, PREVIOUS)
    else:
        store.client.set_registered_model_alias(name, PREVIOUS, str(previous.version))


def _serve(
    store: Store, name: str, *, champion: ModelVersion, previous: ModelVersion | None, run_id: str,
    result: TrainResult, model_dir: Path, profile_path: Path,
) -> Manifest:  # fmt: skip
    """Move the aliases, then write the directory; if writing fails, the aliases go back."""
    before = (_alias(store, name, CHAMPION), _alias(store, name, PREVIOUS))
    _set_aliases(store, name, champion, previous)
    try:
        tags = store.client.get_run(run_id).data.tags
        trained_in = {key: value for key, value in tags.items() if key.startswith(numerics.TAG_PREFIX)}
        manifest = export_model_dir(result, model_dir, profile_path, run_id=run_id, numeric_environment=trained_in)
    except BaseException:
        if before[0] is not None:
            _set_aliases(store, name, before[0], before[1])
        raise
    store.client.set_model_version_tag(name, str(champion.version), "serving_version", manifest.version)
    return manifest


def promote(
    store: Store, run_id: str, model_dir: Path, profile_path: Path, name: str = DEFAULT_MODEL_NAME,
    *, archive: Path = DEFAULT_ARCHIVE,
) -> Promotion:  # fmt: skip
    report, result = _promotable(store, run_id, profile_path, archive)
    existing = store.client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    if existing:
        registered = max(existing, key=lambda version: int(version.version))  # promoting again is idempotent
    else:
        with active_store(store):
            registered = mlflow.register_model(report.model_uri, name, tags={"audit": "passed"})
    current = _alias(store, name, CHAMPION)
    # Registry versions come back as str or int depending on the call: compare them as strings.
    same = current is not None and str(current.version) == str(registered.version)
    previous = _alias(store, name, PREVIOUS) if current is None or same else current
    manifest = _serve(
        store, name, champion=registered, previous=previous, run_id=run_id, result=result,
        model_dir=model_dir, profile_path=profile_path,
    )  # fmt: skip
    return Promotion("promoted", run_id, registered, previous, manifest, model_dir)


def stage_challenger(store: Store, run_id: str, challenger_dir: Path, profile_path: Path) -> Manifest:
    """Write an audited run into the challenger directory (CHURN_CHALLENGER_DIR), atomically, touching no
    registry alias: the service scores it in shadow from its next reload on. Shadow floors are not asked
    for here: gathering that evidence is what the challenger is for."""
    _, result = _promotable(store, run_id, profile_path)
    tags = store.client.get_run(run_id).data.tags
    trained_in = {key: value for key, value in tags.items() if key.startswith(numerics.TAG_PREFIX)}
    return export_model_dir(result, challenger_dir, profile_path, run_id=run_id, numeric_environment=trained_in)


def rollback(store: Store, model_dir: Path, profile_path: Path, name: str = DEFAULT_MODEL_NAME) -> Promotion:
    """Serve `previous-champion` again (re-audited first); the champion it replaces becomes the previous."""
    previous = _alias(store, name, PREVIOUS)
    if previous is None or previous.run_id is None:
        raise PromotionRefused(f"model {name!r} has no @{PREVIOUS} to roll back to")
    current = _alias(store, name, CHAMPION)
    _, result = _promotable(store, previous.run_id, profile_path)
    manifest = _serve(
        store, name, champion=previous, previous=current, run_id=previous.run_id, result=result,
        model_dir=model_dir, profile_path=profile_path,
    )  # fmt: skip
    return Promotion("rolled back", previous.run_id, previous, current, manifest, model_dir)
