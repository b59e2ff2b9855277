"""Configuration shown in the documentation is configuration that works."""

from __future__ import annotations

import json
import re
from pathlib import Path

from smsrelay.api.connection_cap import coded_answer
from smsrelay.config import Settings, load_settings
from smsrelay.delivery.worker import DeliveryWorker
from smsrelay.domain.problems import Problem
from smsrelay.smsc.settings import load_smsc_settings

DOCS = Path(__file__).parent.parent / "docs"


def toml_blocks(page: str) -> list[str]:
    return re.findall(r"```toml\n(.*?)```", (DOCS / page).read_text(), re.S)


def test_the_smsc_settings_example_is_read_as_written(tmp_path: Path) -> None:
    example = tmp_path / "smsc.toml"
    example.write_text(toml_blocks("smsc.md")[0])
    settings = load_smsc_settings(example)
    assert (settings.message_id_format, settings.receipt_id_format) == ("hex", "decimal")


def test_the_connector_example_is_read_as_written(tmp_path: Path) -> None:
    example = tmp_path / "smsrelay.toml"
    example.write_text(toml_blocks("smpp.md")[0])
    (connector,) = load_settings(example, environ={}).connectors
    assert (connector.name, connector.prefixes) == ("orange", ["+33"])


def test_the_readme_connector_example_is_read_as_written(tmp_path: Path) -> None:
    readme = (DOCS.parent / "README.md").read_text()
    block = re.search(r"<<'TOML'\n(.*?)TOML\n", readme, re.S)
    assert block is not None
    example = tmp_path / "smsrelay.toml"
    example.write_text(block.group(1))
    (connector,) = load_settings(example, environ={}).connectors
    assert connector.fallback is True


def test_the_connection_settings_example_is_read_as_written(tmp_path: Path) -> None:
    example = tmp_path / "smsrelay.toml"
    example.write_text(toml_blocks("operations.md")[0])
    settings = load_settings(example, environ={})
    assert (settings.header_timeout, settings.body_timeout) == (10.0, 30.0)
    assert (settings.keepalive_timeout, settings.max_connections) == (5.0, 1000)


def test_the_two_health_refusals_in_operations_md_are_what_the_server_answers() -> None:
    """A load balancer's operator reads there how to tell the connection cap from a missing
    delivery worker: both bodies must be the ones the server sends."""
    page = (DOCS / "operations.md").read_text()
    cap, worker = (json.loads(block) for block in re.findall(r"```json\n(.*?)```", page, re.S))
    sent = coded_answer(503, Problem.BUSY, Settings().language).partition(b"\r\n\r\n")[2]
    assert cap == json.loads(sent)
    assert worker == {"status": "unavailable", "reason": DeliveryWorker(Settings()).problem}


def test_every_test_docs_reliability_names_exists() -> None:
    """A promise in docs/reliability.md points at tests that are there to prove it."""
    rows = [line for line in (DOCS / "reliability.md").read_text().splitlines() if "tests/" in line]
    assert rows
    for row in rows:
        files = [DOCS.parent / path for path in re.findall(r"(tests/[\w/]+\.py)", row)]
        assert all(path.is_file() for path in files), row
        sources = "".join(path.read_text() for path in files)
        for name in re.findall(r"(?<![/\w])(test_\w+)(?![\w.])", row):
            assert f"def {name}(" in sources, f"{name} is not in {files}"
