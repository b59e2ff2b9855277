"""The administration commands, as an operator types them."""

from __future__ import annotations

import re
import resource
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from smsrelay.cli import app
from smsrelay.domain.status import State
from smsrelay.store import open_store
from tests.conftest import Admin, free_port
from tests.serving import SMSRELAY
from tests.store.test_reused_ids import ALICE, apply, report, sent, sync

runner = CliRunner()


@pytest.fixture
def database(database_url: str) -> list[str]:
    return ["--database", database_url]


def smsrelay(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_migrate_reports_the_database(database: list[str]) -> None:
    code, out, _ = smsrelay("migrate", *database)
    assert code == 0
    assert "up to date" in out


def test_account_create_prints_the_new_id(database: list[str]) -> None:
    assert smsrelay("account", "create", "acme", *database)[1] == "1\n"
    assert smsrelay("account", "create", "other", "--lang", "en", *database)[1] == "2\n"


def test_account_names_are_unique(database: list[str]) -> None:
    smsrelay("account", "create", "acme", *database)
    code, _, err = smsrelay("account", "create", "acme", *database)
    assert code == 1
    assert "exists already" in err


@pytest.mark.parametrize(
    "option",
    [
        ["--region", "FRA"],
        ["--region", "ZZ"],
        ["--lang", "de"],
        ["--timezone", "Paris"],
        ["--credits", "1.0005"],
    ],
)
def test_account_options_are_checked(database: list[str], option: list[str]) -> None:
    code, _, err = smsrelay("account", "create", "acme", *option, *database)
    assert code == 1
    assert err.startswith("smsrelay: ")


def test_account_credit_adds_to_the_balance_and_prints_it(database: list[str]) -> None:
    smsrelay("account", "create", "acme", "--credits", "10", *database)
    assert smsrelay("account", "credit", "acme", "2.5", *database) == (0, "12.500\n", "")


def test_account_credit_takes_back_with_a_negative_amount(database: list[str]) -> None:
    smsrelay("account", "create", "acme", "--credits", "10", *database)
    assert smsrelay("account", "credit", *database, "acme", "--", "-0.038")[1] == "9.962\n"


def test_account_credit_never_takes_the_balance_below_zero(database: list[str]) -> None:
    smsrelay("account", "create", "acme", "--credits", "1", *database)
    code, _, err = smsrelay("account", "credit", *database, "acme", "--", "-2")
    assert code == 1
    assert "below zero" in err


def test_account_credit_of_an_unknown_account_fails(database: list[str]) -> None:
    code, _, err = smsrelay("account", "credit", "nobody", "1", *database)
    assert code == 1
    assert "no account" in err


def test_account_create_takes_a_time_zone_and_quiet_hours(
    database: list[str], admin: Admin
) -> None:
    code, out, _ = smsrelay(
        "account", "create", "promo", "--timezone", "America/Martinique", "--quiet-hours",
        *database,
    )  # fmt: skip
    assert (code, out) == (0, "1\n")
    account = admin.run(admin.store.find_account("promo"))
    assert account is not None
    assert (account.timezone, account.quiet_hours) == ("America/Martinique", True)


def test_key_create_prints_only_the_key(database: list[str]) -> None:
    smsrelay("account", "create", "acme", *database)
    code, out, _ = smsrelay("key", "create", "acme", *database)
    assert code == 0
    assert re.fullmatch(r"[0-9a-f]{12}\.[A-Za-z0-9_-]{43}\n", out)


def test_key_create_for_an_unknown_account_fails(database: list[str]) -> None:
    code, _, err = smsrelay("key", "create", "nobody", *database)
    assert code == 1
    assert "no account" in err


def test_key_revoke_takes_the_key_or_its_id(database: list[str]) -> None:
    smsrelay("account", "create", "acme", *database)
    first = smsrelay("key", "create", "1", *database)[1].strip()
    second = smsrelay("key", "create", "1", *database)[1].strip()
    assert smsrelay("key", "revoke", first, *database)[0] == 0
    assert smsrelay("key", "revoke", second.split(".")[0], *database)[0] == 0


def test_revoking_twice_fails_the_second_time(database: list[str]) -> None:
    smsrelay("account", "create", "acme", *database)
    key = smsrelay("key", "create", "acme", *database)[1].strip()
    smsrelay("key", "revoke", key, *database)
    code, _, err = smsrelay("key", "revoke", key, *database)
    assert code == 1
    assert "no active key" in err


def test_an_unusable_database_url_fails_cleanly() -> None:
    code, _, err = smsrelay("migrate", "--database", "mysql://x")
    assert code == 1
    assert "unsupported database URL" in err


def test_demo_with_a_price_file_it_cannot_read_says_so_in_one_line(
    database: list[str], tmp_path: Path
) -> None:
    config = tmp_path / "smsrelay.toml"
    config.write_text(f'prices_file = "{tmp_path / "missing.toml"}"\n')
    code, _, err = smsrelay("demo", "--config", str(config), *database)
    assert code == 1
    assert err.startswith("smsrelay: prices_file")
    assert "Traceback" not in err


def few_descriptors() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48))


def test_serve_without_descriptors_for_connections_says_so_in_one_line(database_url: str) -> None:
    done = subprocess.run(
        [SMSRELAY, "serve", "--database", database_url, "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=few_descriptors,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("smsrelay: the descriptor limit (48, ulimit -n) leaves no room")
    assert "Traceback" not in done.stderr


def test_reports_ambiguous_lists_each_kept_report_with_the_sms_it_fitted(
    tmp_path: Path, database: list[str]
) -> None:
    store = open_store(database[1])
    sync(store.migrate())
    sync(store.create_account("acme", "FR", "fr", 10**9, 0))
    first, second = sent(store, ALICE), sent(store, ALICE)
    apply(store, report(State.DELIVERED, ALICE))
    sync(store.close())

    code, out, _ = smsrelay("reports", "ambiguous", *database)
    assert code == 0
    assert out == (
        f"1\tsmsc\t1234\t{ALICE}\tdelivered\t"
        f"message {first} to {ALICE}, message {second} to {ALICE}\n"
    )
