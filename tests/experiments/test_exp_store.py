"""The store's get-or-create of an experiment is safe when two experimenters start at once."""

from __future__ import annotations

from experiments.store import Store


def test_an_experiment_created_by_someone_else_meanwhile_is_taken_not_refused(store: Store) -> None:
    # The race, made deterministic: another experimenter creates it after our lookup found nothing.
    theirs = store.client.create_experiment("team-concurrent")
    assert store.create_or_take("team-concurrent") == theirs
    assert store.experiment_id("team-concurrent") == theirs
    assert [e.name for e in store.client.search_experiments()].count("team-concurrent") == 1
