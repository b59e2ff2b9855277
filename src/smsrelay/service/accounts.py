"""Accounts and their API keys.

A key is `<id>.<secret>`: 12 hex characters that name the key (safe to log, used to
revoke it) and 256 random bits. Only a SHA-256 of the secret is stored: the secret is
random, so a slow password hash would buy nothing, and the comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import zoneinfo

import msgspec
import phonenumbers

from smsrelay.domain.pricing import PriceTable, Range, money_text
from smsrelay.domain.problems import Problem, Refused
from smsrelay.domain.records import DEFAULT_TIMEZONE, Account
from smsrelay.store.base import ApiStore

KEY_ID_BYTES = 6
SECRET_BYTES = 32


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def key_id_of(key: str) -> str:
    """The id part of a full key, or the argument itself when it is only an id."""
    return key.partition(".")[0]


async def create_account(
    store: ApiStore,
    name: str,
    *,
    region: str = "FR",
    language: str = "fr",
    credits: float = 0,
    timezone: str = DEFAULT_TIMEZONE,
    quiet_hours: bool = False,
) -> Account:
    region = region.upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"region must be a country code such as FR, not {region!r}")
    if language not in ("fr", "en"):
        raise ValueError(f"language must be fr or en, not {language!r}")
    # Asking for the zone reads one file; listing every zone to look it up read them all.
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"timezone must be an IANA zone such as Europe/Paris, not {timezone!r}"
        ) from exc
    return await store.create_account(
        name, region, language, thousandths(credits), int(time.time()), timezone, quiet_hours
    )


def thousandths(amount: float) -> int:
    """Currency to the store's integer thousandths, refusing what would be rounded away."""
    value = round(amount * 1000)
    if abs(value - amount * 1000) > 1e-6:
        raise ValueError(f"amounts have at most 3 decimals, not {amount}")
    return value


async def add_credit(store: ApiStore, account: Account, amount: float) -> int:
    """Add credit (negative: take it back); the new balance, in thousandths."""
    return await store.add_credit(account.id, thousandths(amount))


async def create_api_key(store: ApiStore, account: Account) -> str:
    """A new key for `account`; the only moment the full key exists anywhere."""
    key_id = secrets.token_hex(KEY_ID_BYTES)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    await store.add_api_key(key_id, account.id, hash_secret(secret), int(time.time()))
    return f"{key_id}.{secret}"


async def revoke_api_key(store: ApiStore, key: str) -> bool:
    return await store.revoke_api_key(key_id_of(key), int(time.time()))


async def authenticate(store: ApiStore, key: object) -> Account:
    """The account behind `key`; refuses missing (1) and wrong or revoked keys (10)."""
    if key is None or key == "":
        raise Refused(Problem.API_KEY_REQUIRED)
    if not isinstance(key, str):
        raise Refused(Problem.API_KEY_INVALID)
    key_id, dot, secret = key.strip().partition(".")
    if not dot or len(key_id) != 2 * KEY_ID_BYTES or not secret:
        raise Refused(Problem.API_KEY_INVALID)
    record = await store.find_api_key(key_id)
    if record is None or not hmac.compare_digest(record.secret_hash, hash_secret(secret)):
        raise Refused(Problem.API_KEY_INVALID)
    if record.revoked:
        raise Refused(Problem.API_KEY_INVALID)
    return record.account


class User(msgspec.Struct):
    username: str


class Credits(msgspec.Struct):
    creditSms: int  # noqa: N815  # the contract's names
    creditSmsLowCost: int  # noqa: N815
    creditHlr: int  # noqa: N815
    toSend: int  # noqa: N815
    solde: str
    currency: str
    balance: str


class MeAnswer(msgspec.Struct):
    success: bool
    code: int
    user: User
    credits: Credits


async def me(
    store: ApiStore, account: Account, prices: PriceTable, currency: str, now: float
) -> MeAnswer:
    """The account's balance, and what it buys at home (its own region's prices).

    smsrelay has no HLR lookup to sell (`/v1/lookup` only reads number formats, free of
    charge), so `creditHlr` is 0.
    """
    balance = money_text(account.credits)

    def buys(range_: Range) -> int:
        price = prices.price(account.region, range_)
        return account.credits // price if price and account.credits > 0 else 0

    credits = Credits(
        buys("premium"),
        buys("low_cost"),
        0,
        await store.waiting_parts(account.id, now),
        balance,
        currency,
        balance,
    )
    return MeAnswer(True, 200, User(account.name), credits)
