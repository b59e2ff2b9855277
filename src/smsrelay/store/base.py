"""What the rest of smsrelay may ask of a database, and the values it gets back.

The interface is async so that a network database (PostgreSQL through asyncpg) fits
behind it unchanged. The SQLite implementation answers on the event loop without a
thread hop: measured 3x faster than a pool for our short statements.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Protocol

import msgspec

from smsrelay.domain.status import State


class StoreError(Exception):
    """The database could not do what was asked; the message says what.

    Every error of a database driver is translated into this where it enters our code,
    so callers never need to know which database is behind the store.

        StoreError
        └── ConflictError   a uniqueness or reference rule refused the write
    """


class ConflictError(StoreError):
    """A uniqueness or reference rule of the schema refused the write."""


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


class Store(Protocol):
    async def migrate(self) -> list[str]:
        """Apply pending migrations under the database's write lock; their names."""
        ...

    async def close(self) -> None: ...

    async def create_account(
        self,
        name: str,
        region: str,
        language: str,
        credits: int,
        now: int,
        timezone: str = DEFAULT_TIMEZONE,
        quiet_hours: bool = False,
    ) -> Account: ...

    async def find_account(self, ref: str) -> Account | None:
        """By id (all digits) or by name."""
        ...

    async def add_api_key(
        self, key_id: str, account_id: int, secret_hash: bytes, now: int
    ) -> None: ...

    async def revoke_api_key(self, key_id: str, now: int) -> bool:
        """True when a key that was active is now revoked."""
        ...

    async def find_api_key(self, key_id: str) -> ApiKey | None: ...

    async def lookup_statuses(
        self, account_id: int, pairs: Sequence[Pair]
    ) -> dict[Pair, StatusRow]:
        """The statuses of those pairs that exist for the account, in one statement."""
        ...

    async def create_message(self, message: NewMessage, now: float) -> int:
        """Store a send, its recipients and its charge in one transaction; its id.

        Raises NotEnoughCredit, and writes nothing, when the charge exceeds the credit.
        """
        ...

    async def add_credit(self, account_id: int, amount: int) -> int:
        """Add (or, negative, take) thousandths of credit; the new balance.

        Raises NotEnoughCredit, changing nothing, rather than go below zero.
        """
        ...

    async def waiting_parts(self, account_id: int, now: float) -> int:
        """SMS parts scheduled or held for later and not cancelled (`toSend`)."""
        ...

    async def cancel_message(
        self, account_id: int, message_id: int, now: float, notice: float
    ) -> Cancellation:
        """Cancel a send that leaves in more than `notice` seconds, and refund it."""
        ...

    async def find_recipient(
        self, account_id: int, message_id: int, phone: str
    ) -> RecipientView | None: ...

    async def message_recipients(self, account_id: int, message_id: int) -> list[RecipientView]:
        """Every recipient of one send, by phone; empty when there is no such send."""
        ...

    async def tag_recipients(
        self, account_id: int, tag: str, offset: int, limit: int
    ) -> tuple[int, list[RecipientView]]:
        """How many recipients the account's sends with `tag` have, and one page of them."""
        ...

    async def add_stop(self, account_id: int, phone: str, source: str, now: int) -> int | None:
        """Put a number on the account's STOP list; its entry id, None if already there."""
        ...

    async def list_stops(self, account_id: int) -> list[StopEntry]: ...

    async def delete_stop(self, account_id: int, stop_id: int) -> bool: ...

    async def stopped_among(self, account_id: int, phones: Sequence[str]) -> set[str]:
        """Which of `phones` are on the account's STOP list."""
        ...

    async def record_replies(self, replies: Sequence[Reply], now: float) -> int:
        """Keep each reply for the account whose SMS it answers; for a STOP, put the number
        on that account's STOP list and mark the recipient `stopSms`. How many replies
        matched a recipient (the others are kept without an account)."""
        ...

    async def claim_due(self, now: float, limit: int) -> list[Outbound]:
        """Take up to `limit` recipients whose time has come, oldest first."""
        ...

    async def release_claims(self, now: float) -> int:
        """Give back claims a stopped process left behind, so they are sent again."""
        ...

    async def record_submissions(
        self, submissions: Sequence[Submission], now: float, validity: float, claim: int = 0
    ) -> list[Outbound]:
        """Record what the operator answered, and apply the reports that came first.

        With `claim`, also claim the next batch (as `claim_due`) in the same transaction:
        the dispatcher does both in turn, and on SQLite each transaction is an fsync.
        """
        ...

    async def apply_receipts(self, receipts: Sequence[Receipt], now: float) -> int:
        """Apply reports by the rules of domain.status; how many recipients changed."""
        ...

    async def expire_overdue(self, now: float) -> int:
        """Recipients whose report never came in their validity become expired."""
        ...

    async def forget_unmatched_receipts(self, before: float) -> int:
        """Drop the reports kept unapplied that arrived before `before` (the validity ago):
        early ones, whose submission will not come now, and ambiguous ones, whose SMS
        have ended Not delivered by then; how many."""
        ...

    async def awaiting_reports(self, carrier: str) -> list[AwaitingReport]: ...

    async def ambiguous_reports(self, limit: int) -> list[AmbiguousReport]:
        """The reports kept because they fitted several SMS awaiting one, newest first."""
        ...
