"""What `make run` prepares: a key kept across restarts, a sample send, enough credit."""

from __future__ import annotations

from pathlib import Path

from smsrelay.config import Settings
from smsrelay.demo import DEMO_ACCOUNT, prepare_demo
from smsrelay.service.sending import SendingRules
from tests.conftest import Admin

RULES = SendingRules.from_settings(Settings())


def test_a_restart_prints_the_same_key(admin: Admin, tmp_path: Path) -> None:
    first, _ = admin.run(prepare_demo(admin.store, tmp_path / "demo.key", RULES))
    again, _ = admin.run(prepare_demo(admin.store, tmp_path / "demo.key", RULES))
    assert first == again


def test_each_start_makes_a_new_sample_send(admin: Admin, tmp_path: Path) -> None:
    _, first = admin.run(prepare_demo(admin.store, tmp_path / "demo.key", RULES))
    _, second = admin.run(prepare_demo(admin.store, tmp_path / "demo.key", RULES))
    assert second > first


def test_a_demo_short_of_credit_is_topped_up(admin: Admin, tmp_path: Path) -> None:
    admin.run(prepare_demo(admin.store, tmp_path / "demo.key", RULES))
    account = admin.run(admin.store.find_account(DEMO_ACCOUNT))
    assert account is not None
    admin.run(admin.store.add_credit(account.id, -account.credits))
    admin.run(prepare_demo(admin.store, tmp_path / "demo.key", RULES))
    topped = admin.run(admin.store.find_account(DEMO_ACCOUNT))
    assert topped is not None
    assert topped.credits > 90_000
