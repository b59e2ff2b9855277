"""What `make run` prepares before serving: a demo account, its key, and a sample send.

The key is kept in a file of the working folder (mode 600) so that a restart prints the
same key; the database still holds only its hash.
"""

from __future__ import annotations

from pathlib import Path

from smsrelay.domain.problems import Refused
from smsrelay.domain.records import Account
from smsrelay.service import accounts, sending
from smsrelay.store.base import ApiStore

DEMO_ACCOUNT = "demo"
DEMO_CREDIT = 100.0
DEMO_CREDIT_FLOOR = 10_000  # thousandths: 10.000 EUR
SAMPLE_NUMBERS = "+33600000001,+33600000002,+33600000003,+33600000006,0612345678"


async def _demo_account(store: ApiStore) -> Account:
    account = await store.find_account(DEMO_ACCOUNT)
    return account or await accounts.create_account(store, DEMO_ACCOUNT, credits=DEMO_CREDIT)


async def _demo_key(store: ApiStore, key_file: Path) -> tuple[str, Account]:
    """The kept key if it still works, else a new one written to `key_file`."""
    if key_file.exists():
        key = key_file.read_text().strip()
        try:
            return key, await accounts.authenticate(store, key)
        except Refused:
            pass  # revoked, or another database: make a new one
    account = await _demo_account(store)
    key = await accounts.create_api_key(store, account)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.touch(mode=0o600)
    key_file.chmod(0o600)
    key_file.write_text(key + "\n")
    return key, account


async def prepare_demo(
    store: ApiStore, key_file: Path, rules: sending.SendingRules
) -> tuple[str, int]:
    """The demo key, and the id of a sample send the simulator will deliver."""
    key, account = await _demo_key(store, key_file)
    if account.credits < DEMO_CREDIT_FLOOR:
        # Every start sends a sample: a demo used long enough would run out of credit.
        await store.add_credit(account.id, accounts.thousandths(DEMO_CREDIT) - account.credits)
    answer = await sending.send(
        store,
        account,
        rules,
        {"phoneNumbers": SAMPLE_NUMBERS, "message": "Bonjour de smsrelay"},
    )
    return key, answer.message_id
