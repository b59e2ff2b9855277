"""Whether a send may still be called back: the rule of `/v1/message-cancel`.

Pure, so that every store applies the same rule to the message row it read, in the
transaction that then cancels it: a send the dispatcher is about to take cannot be both
sent and refunded.
"""

from __future__ import annotations

from smsrelay.domain.records import Cancellation

__all__ = ["cancellation"]


def cancellation(
    send_at: float | None, cancelled_at: int | None, sandbox: bool, now: float, notice: float
) -> Cancellation:
    """What a cancel at `now` does to a send scheduled for `send_at` (None: sent at
    once): CANCELLED when it leaves in `notice` seconds or more, else why not."""
    if cancelled_at is not None:
        return Cancellation.ALREADY_CANCELLED
    if sandbox or send_at is None or send_at <= now:
        return Cancellation.ALREADY_SENT
    if send_at - now < notice:
        return Cancellation.TOO_LATE
    return Cancellation.CANCELLED
