"""The data of `bench/multi_status.py`: a filled SQLite file, and requests with their answers.

The file gets smsrelay's own schema (its migrations), then rows inserted directly, in big
transactions: accounts, messages of about 50 recipients each, and recipients with
realistic French mobile numbers in E.164 and a mix of states. One account, the queried
one, owns 100 k recipients (a tenth of them below 1 M); its message ids are scattered
among everyone's. A fill is reproducible from its seed.

The answer each request must get is computed here from the rows alone, with the public
statuses and the not-found text written as the contract (spec/v1-api.md §2-3) states
them, not taken from smsrelay's code: the check is independent of what it checks.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from phonenumbers import PhoneMetadata

from harness import remove_database
from smsrelay.service.accounts import create_api_key
from smsrelay.store.sqlite import SQLiteStore

PAIRS_PER_REQUEST = 500
UNKNOWN_SHARE = 0.05
BENCH_ACCOUNT = 1
BENCH_ACCOUNT_RECIPIENTS = 100_000
MESSAGE_SIZES = (20, 80)  # recipients per message, uniform: 50 on average
BASE_TIME = 1_750_000_000  # messages are spread over the 30 days after this instant
SPAN = 30 * 86_400
PHONE_SPACE = 200_000_000  # +336 00 00 00 00 to +337 99 99 99 99, less what is no mobile
FILL_BATCH = 250_000
# (state, cumulative share); what the public API shows of each, from the contract (§3).
STATE_MIX = (("delivered", 0.86), ("undeliverable", 0.93), ("submitted", 1.0))
PUBLIC_STATUS = {"delivered": "Delivered", "undeliverable": "Not delivered", "submitted": "Waiting"}
NOT_FOUND_TEXT = "Numéro introuvable"
FLAG = ("0", "1")


def _mobile_pattern(region: str) -> re.Pattern[str]:
    """The national numbers phonenumbers takes for mobiles in `region`."""
    metadata = PhoneMetadata.metadata_for_region(region)
    pattern = metadata.mobile.national_number_pattern if metadata and metadata.mobile else None
    if pattern is None:
        raise RuntimeError(f"phonenumbers has no mobile pattern for {region}")
    return re.compile(pattern)


_FR_MOBILE = _mobile_pattern("FR")


@dataclass(frozen=True)
class Dataset:
    """What a fill is made of; two fills with equal datasets hold the same rows."""

    recipients: int
    accounts: int
    seed: int


@dataclass(frozen=True)
class Row:
    message_id: int
    phone: str
    state: str
    status_at: int
    stop_sms: int
    is_spam: int


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def database_path(folder: Path, dataset: Dataset) -> Path:
    return folder / (
        f"multi_status_{dataset.recipients}r_{dataset.accounts}a_seed{dataset.seed}.db"
    )


def _meta(dataset: Dataset) -> dict[str, int]:
    return {
        "recipients": dataset.recipients,
        "accounts": dataset.accounts,
        "seed": dataset.seed,
        "bench_account": BENCH_ACCOUNT,
    }


def reusable(path: Path, dataset: Dataset) -> bool:
    """Whether `path` holds a complete fill made with the same parameters (`--keep`)."""
    meta_path = path.with_suffix(".json")
    if not path.exists() or not meta_path.exists():
        return False
    try:
        if json.loads(meta_path.read_text()) != _meta(dataset):
            return False
        db = sqlite3.connect(path)
        try:
            count = db.execute("SELECT count(*) FROM recipients").fetchone()[0]
        finally:
            db.close()
    except (OSError, ValueError, sqlite3.Error):
        return False
    return bool(count == dataset.recipients)


def _sizes(rng: random.Random, total: int) -> list[int]:
    sizes: list[int] = []
    while total > 0:
        size = min(rng.randint(*MESSAGE_SIZES), total)
        sizes.append(size)
        total -= size
    return sizes


def plan_messages(rng: random.Random, dataset: Dataset) -> list[tuple[int, int]]:
    """(account id, recipient count) of every message, in message id order."""
    others = list(range(BENCH_ACCOUNT + 1, dataset.accounts + 1))
    if not others:
        bench_total = dataset.recipients
    else:
        bench_total = min(BENCH_ACCOUNT_RECIPIENTS, dataset.recipients // 10)
    messages = [(BENCH_ACCOUNT, size) for size in _sizes(rng, bench_total)]
    rest = _sizes(rng, dataset.recipients - bench_total)
    if rest:
        # Customers differ in size: a few send much, most send little.
        weights = [rng.lognormvariate(0.0, 1.5) for _ in others]
        owners = rng.choices(others, weights, k=len(rest))
        messages.extend(zip(owners, rest, strict=True))
    rng.shuffle(messages)  # the queried account's ids are scattered among everyone's
    return messages


def mobile_number(rng: random.Random) -> int:
    """A French mobile's national significant number, 6xxxxxxxx or 7xxxxxxxx."""
    while True:
        number = 600_000_000 + rng.randrange(PHONE_SPACE)
        if _FR_MOBILE.fullmatch(str(number)):
            return number


def _recipient_rows(
    rng: random.Random, account_id: int, message_id: int, size: int, created_at: int
) -> Iterator[tuple[Any, ...]]:
    numbers: set[int] = set()
    while len(numbers) < size:
        numbers.add(mobile_number(rng))
    for number in sorted(numbers):
        draw = rng.random()
        state = next(name for name, share in STATE_MIX if draw < share)
        delay = 0 if state == "submitted" else 2 + int(draw * 600)
        yield (
            account_id,
            message_id,
            f"+33{number}",
            "gsm7",
            1,
            state,
            created_at + delay,
            1 if draw < 0.01 else 0,  # stopSms
            1 if state == "undeliverable" and draw > 0.925 else 0,  # isSpam
        )


def fill(path: Path, dataset: Dataset) -> float:
    """Create the database at `path` and fill it; returns the seconds it took."""
    started = time.perf_counter()
    remove_database(path)
    path.with_suffix(".json").unlink(missing_ok=True)  # what `reusable` reads
    path.parent.mkdir(parents=True, exist_ok=True)

    async def migrate() -> None:
        store = SQLiteStore.open(path)
        try:
            await store.migrate()
        finally:
            await store.close()

    asyncio.run(migrate())
    rng = random.Random(dataset.seed)
    messages = plan_messages(rng, dataset)
    created = [BASE_TIME + SPAN * index // len(messages) for index in range(len(messages))]

    db = sqlite3.connect(path, isolation_level=None)
    try:
        # A throw-away file: no journal, no sync. It is put back in WAL mode at the end.
        db.execute("PRAGMA journal_mode = OFF")
        db.execute("PRAGMA synchronous = OFF")
        db.execute("PRAGMA cache_size = -500000")
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO accounts (id, name, region, language, credits, created_at)"
            " VALUES (?, ?, 'FR', 'fr', 1000000, ?)",
            ((i, f"bench-{i:05d}", BASE_TIME) for i in range(1, dataset.accounts + 1)),
        )
        db.executemany(
            "INSERT INTO messages (id, account_id, text, sandbox, nb_sms, cost, created_at)"
            " VALUES (?, ?, 'Votre code est 123456', 0, ?, ?, ?)",
            (
                (index + 1, account, size, 38 * size, created[index])
                for index, (account, size) in enumerate(messages)
            ),
        )
        db.execute("COMMIT")
        # Primary key order (account, message, phone): the B-tree is written front to back.
        order = sorted(range(len(messages)), key=lambda index: messages[index][0])
        insert = (
            "INSERT INTO recipients (account_id, message_id, phone, encoding, parts, state,"
            " status_at, stop_sms, is_spam) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        done = 0
        batch: list[int] = []
        batch_rows = 0
        for position, index in enumerate(order):
            batch.append(index)
            batch_rows += messages[index][1]
            if batch_rows < FILL_BATCH and position + 1 < len(order):
                continue
            db.execute("BEGIN")
            db.executemany(
                insert,
                (
                    row
                    for i in batch
                    for row in _recipient_rows(
                        rng, messages[i][0], i + 1, messages[i][1], created[i]
                    )
                ),
            )
            db.execute("COMMIT")
            done += batch_rows
            batch, batch_rows = [], 0
            if done % 2_000_000 < FILL_BATCH:
                log(f"  filled {done:,} / {dataset.recipients:,} recipients")
        db.execute("PRAGMA journal_mode = WAL")
    finally:
        db.close()
    seconds = time.perf_counter() - started
    path.with_suffix(".json").write_text(json.dumps(_meta(dataset)))
    return seconds


async def new_key(path: Path) -> str:
    store = SQLiteStore.open(path)
    try:
        account = await store.find_account(str(BENCH_ACCOUNT))
        if account is None:
            raise SystemExit(f"no account {BENCH_ACCOUNT} in {path}")
        return await create_api_key(store, account)
    finally:
        await store.close()


# --- requests and their answers ----------------------------------------------------------


def load_rows(path: Path) -> tuple[list[Row], list[tuple[int, str]]]:
    """Every recipient of the queried account, and some pairs of other accounts."""
    db = sqlite3.connect(path)
    try:
        rows = [
            Row(*row)
            for row in db.execute(
                "SELECT message_id, phone, state, status_at, stop_sms, is_spam"
                " FROM recipients WHERE account_id = ?",
                (BENCH_ACCOUNT,),
            )
        ]
        foreign = db.execute(
            "SELECT message_id, phone FROM recipients WHERE account_id > ? LIMIT 20000",
            (BENCH_ACCOUNT,),
        ).fetchall()
    finally:
        db.close()
    return rows, foreign


def expected_item(row: Row) -> dict[str, Any]:
    return {
        "success": True,
        "code": 200,
        "phoneNumber": row.phone,
        "messageId": row.message_id,
        "status": PUBLIC_STATUS[row.state],
        "date": str(row.status_at),
        "stopSms": FLAG[row.stop_sms],
        "isSpam": FLAG[row.is_spam],
    }


def missing_item(message_id: int, phone: str) -> dict[str, Any]:
    return {
        "success": False,
        "code": 4,
        "phoneNumber": phone,
        "messageId": message_id,
        "status": NOT_FOUND_TEXT,
    }


def build_bodies(
    rng: random.Random, key: str, rows: list[Row], foreign: list[tuple[int, str]], count: int
) -> tuple[list[bytes], list[dict[str, Any]], int]:
    """Request bodies, the answer each must get, and how many pairs of each are found."""
    if len(rows) < PAIRS_PER_REQUEST:
        raise SystemExit(f"the queried account has {len(rows)} recipients: too few")
    unknown = round(PAIRS_PER_REQUEST * UNKNOWN_SHARE)
    known = PAIRS_PER_REQUEST - unknown
    existing = {(row.message_id, row.phone) for row in rows}
    message_ids = sorted({row.message_id for row in rows})
    bodies: list[bytes] = []
    answers: list[dict[str, Any]] = []
    for _ in range(count):
        pairs: list[tuple[int, str, dict[str, Any]]] = [
            (row.message_id, row.phone, expected_item(row)) for row in rng.sample(rows, known)
        ]
        taken = {(message_id, phone) for message_id, phone, _ in pairs}
        strangers = rng.sample(foreign, unknown // 2) if foreign else []
        while len(strangers) < unknown:  # a message of the account, another number
            pair = (rng.choice(message_ids), f"+33{mobile_number(rng)}")
            if pair not in existing and pair not in taken:
                strangers.append(pair)
        for message_id, phone in strangers:
            taken.add((message_id, phone))
            pairs.append((message_id, phone, missing_item(message_id, phone)))
        rng.shuffle(pairs)
        body = {
            "apiKey": key,
            "SMSStatut_List": [{"phoneNumber": p, "messageId": m} for m, p, _ in pairs],
        }
        bodies.append(msgspec.json.encode(body))
        answers.append(
            {"success": True, "code": 200, "StatutResponse_List": [a for *_, a in pairs]}
        )
    return bodies, answers, known
