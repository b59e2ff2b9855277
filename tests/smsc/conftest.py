"""The SMSC tests' settings: messages delivered within milliseconds, a decisions log."""

from __future__ import annotations

from pathlib import Path

import pytest

from smsrelay.smsc.settings import SmscSettings
from tests.smsc.esme import outcomes


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "decisions.jsonl"


@pytest.fixture
def base(log_path: Path) -> SmscSettings:
    return SmscSettings(port=0, outcomes=outcomes(), decisions_log=str(log_path))
