"""A migrated store of the test's kind: every store test runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from smsrelay.store import open_store
from smsrelay.store.base import Store
from tests.databases import sync


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = open_store(database_url)
    sync(opened.migrate())
    yield opened
    sync(opened.close())
