"""The values the API, the delivery side and the stores exchange.

Plain records, no behaviour: carriers and domain code use them without knowing that a
store exists, and every store (SQLite, PostgreSQL) reads and writes the same ones.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

import msgspec

from smsrelay.domain.status import State, StatusChange


class NotEnoughCredit(Exception):
    """A send would take the account's credit below zero; nothing was written.

    Not a StoreError: the database did its job, the account is what said no.
    """


# An account's time zone when none is given (schedules, quiet hours, dates shown); the
# accounts table's SQL default (migration 0003) says the same.
DEFAULT_TIMEZONE = "Europe/Paris"


class Account(msgspec.Struct, frozen=True):
    id: int
    name: str
    region: str
    language: str
    credits: int  # thousandths of the currency
    created_at: int
    timezone: str = DEFAULT_TIMEZONE
    quiet_hours: bool = False  # marketing: held outside 08:00-20:00, Sundays, holidays


class ApiKey(msgspec.Struct, frozen=True):
    id: str
    account: Account
    secret_hash: bytes
    revoked: bool


class NewRecipient(msgspec.Struct, frozen=True):
    phone: str
    text: str | None  # None: the message's text
    encoding: str
    parts: int
    cost: int = 0  # thousandths of the currency, for all its parts
    country: str = ""  # the region it was priced for


class NewMessage(msgspec.Struct, frozen=True):
    account_id: int
    text: str | None
    sender: str | None
    tag: str | None
    sandbox: bool
    nb_sms: int
    cost: int  # thousandths of the currency
    recipients: Sequence[NewRecipient]
    gamme: int = 1
    send_at: float | None = None  # scheduled or held until; None: at once
    url_dlr: str | None = None
    url_response: str | None = None

    @property
    def charged(self) -> int:
        """What the credit pays: nothing for a sandbox send, which is never sent."""
        return 0 if self.sandbox else self.cost


class Outbound(msgspec.Struct, frozen=True):
    """A recipient claimed by the dispatcher, with all a carrier needs to send it."""

    account_id: int
    message_id: int
    phone: str
    text: str
    sender: str | None
    encoding: str
    parts: int


class Submission(msgspec.Struct, frozen=True):
    """What the operator answered to one submission.

    `operator_refs` holds the operator's id of each part, in part order; empty when the
    operator refused the SMS (see `state` and `detail`) or when it must be tried again
    after `retry_after` seconds (throttling, a full queue, a lost connection).
    """

    account_id: int
    message_id: int
    phone: str
    carrier: str
    operator_refs: tuple[str, ...]
    state: State
    detail: str | None = None
    retry_after: float | None = None

    def change(self, now: float) -> StatusChange:
        """Its recipient's history row: back in `accepted` for a retry, else the state the
        operator's answer gave."""
        state = State.ACCEPTED if self.retry_after is not None else self.state
        return StatusChange(
            self.account_id, self.message_id, self.phone, now, state, self.carrier, self.detail
        )


class Receipt(msgspec.Struct, frozen=True):
    """A delivery report, already read into our states.

    `phone` is the handset the report names (`domain.report_matching.read_handset`), None
    when it names none: operators reuse their ids, and the handset tells apart two SMS
    given the same one.
    """

    carrier: str
    operator_ref: str
    state: State
    at: float
    detail: str | None = None
    phone: str | None = None


class AwaitingReport(msgspec.Struct, frozen=True):
    """A recipient the operator has and has not finally reported on."""

    carrier: str
    operator_ref: str
    phone: str
    submitted_at: float


class AmbiguousReport(msgspec.Struct, frozen=True):
    """A report that fitted two or more SMS awaiting one: applied to none, kept to be read.

    `candidates`: (account id, message id, phone, part) of each, part None for a one-part SMS.
    """

    id: int
    carrier: str
    operator_ref: str
    phone: str | None  # the handset it named
    state: State
    at: float
    detail: str | None
    candidates: tuple[tuple[int, int, str, int | None], ...]


class Reply(msgspec.Struct, frozen=True):
    """A message from a recipient back to us; `operator_ref` names the SMS it answers."""

    carrier: str
    phone: str
    text: str
    at: float
    operator_ref: str | None = None
    stop: bool = False  # an opt-out, as the matcher read it


class RecipientView(msgspec.Struct, frozen=True):
    """One recipient as the status endpoints show it."""

    message_id: int
    phone: str
    state: State
    status_at: int
    stop_sms: bool
    cost: int
    country: str


class StopEntry(msgspec.Struct, frozen=True):
    id: int
    phone: str
    created_at: int


class Cancellation(enum.Enum):
    """What became of a request to cancel a send."""

    CANCELLED = "cancelled"
    NOT_FOUND = "not found"
    ALREADY_CANCELLED = "already cancelled"
    TOO_LATE = "too late"
    ALREADY_SENT = "already sent"


# (state, status_at, stop_sms, is_spam) as stored; a tuple because 500 of them are
# built per status query.
StatusRow = tuple[str, int, int, int]
Pair = tuple[int, str]
