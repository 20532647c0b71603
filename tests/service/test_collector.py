"""While the app serves, what startup built is out of the cycle collector's view (a full collection over it
held the event loop 80-140 ms under large batches), and back in view once the app has stopped."""

from __future__ import annotations

import gc

from service.settings import Settings
from tests.utils.clients import client_with


def test_startup_objects_are_frozen_while_serving_and_released_after(settings: Settings) -> None:
    before = gc.get_freeze_count()  # 0, unless another test's app is serving in this process
    with client_with(settings) as client:
        assert client.get("/health/live").status_code == 200
        assert gc.get_freeze_count() > before + 10_000  # the app and the model at least, not a handful
    assert gc.get_freeze_count() == 0
