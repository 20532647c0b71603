"""Operations tests: real processes on 127.0.0.1 (the service, Prometheus, promtool, amtool), each bounded in
time and stopped afterwards; figures print as `[ops figures]` lines (`pytest -s`)."""

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The hook sees the whole session's items: only this folder's are marked. Every one starts a real
    # process, so `-m "not slow"` leaves the folder out.
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.slow)
