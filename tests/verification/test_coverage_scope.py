"""The coverage tracer is paused for exactly the UNTRACED folders' tests (tests/conftest.py), and is paused here."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent.parent


def test_only_the_untraced_folders_run_with_the_tracer_paused(
    request: pytest.FixtureRequest, cov: object | None
) -> None:
    folders: dict[bool, set[str]] = {True: set(), False: set()}
    for item in request.session.items:
        folders[item.get_closest_marker("no_cover") is not None].add(item.path.relative_to(TESTS).parts[0])
    assert folders[True] <= {"verification", "team", "operations"}, folders[True]
    assert "verification" in folders[True]  # this file's own folder
    assert not folders[True] & folders[False], folders
    if cov is not None:  # under --cov, as in tox, on an xdist worker or not: the mark really stops the tracer
        assert sys.gettrace() is None
