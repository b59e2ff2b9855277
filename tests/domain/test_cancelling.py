"""The cancel rule: a scheduled send may be called back until `notice` before it leaves."""

from __future__ import annotations

import pytest

from smsrelay.domain.cancelling import cancellation
from smsrelay.domain.records import Cancellation

NOW = 1_800_000_000.0
NOTICE = 300.0


@pytest.mark.parametrize(
    ("send_at", "cancelled_at", "sandbox", "outcome"),
    [
        (NOW + NOTICE, None, False, Cancellation.CANCELLED),  # exactly the notice: still in time
        (NOW + NOTICE - 1, None, False, Cancellation.TOO_LATE),
        (NOW, None, False, Cancellation.ALREADY_SENT),  # its time has come
        (None, None, False, Cancellation.ALREADY_SENT),  # sent at once
        (NOW + 3600, None, True, Cancellation.ALREADY_SENT),  # a sandbox send is never sent
        (NOW + 3600, int(NOW) - 10, False, Cancellation.ALREADY_CANCELLED),
        (NOW - 10, int(NOW) - 10, False, Cancellation.ALREADY_CANCELLED),  # first reason wins
    ],
)
def test_a_send_is_cancelled_only_with_notice_and_only_once(
    send_at: float | None, cancelled_at: int | None, sandbox: bool, outcome: Cancellation
) -> None:
    assert cancellation(send_at, cancelled_at, sandbox, NOW, NOTICE) is outcome
