"""Configuration shown in the documentation is configuration that works."""

from __future__ import annotations

import re
from pathlib import Path

from smsrelay.smsc.settings import load_smsc_settings

DOCS = Path(__file__).parent.parent / "docs"


def toml_blocks(page: str) -> list[str]:
    return re.findall(r"```toml\n(.*?)```", (DOCS / page).read_text(), re.S)


def test_the_smsc_settings_example_is_read_as_written(tmp_path: Path) -> None:
    example = tmp_path / "smsc.toml"
    example.write_text(toml_blocks("smsc.md")[0])
    settings = load_smsc_settings(example)
    assert (settings.message_id_format, settings.receipt_id_format) == ("hex", "decimal")
