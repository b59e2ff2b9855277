"""smsrelay against an SMSC over real SMPP on loopback, one run per fault operators commit.

`smsrelay smsc` decides each SMS's fate and writes it down; `smsrelay serve` sends through
a connector to it and reads its receipts. Each run ends with every accepted SMS in the
final status the simulator decided: nothing lost, nothing moved by a bad report.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from smsrelay.smsc.decisions import DecisionRecord, read_decisions
from tests.conftest import free_port
from tests.serving import SMSRELAY, cli

VALIDITY = 10.0  # seconds: an SMS never reported is Not delivered after this
SMS_PER_RUN = 600
FAILED = {"UNDELIV", "EXPIRED", "refused"}


@dataclass
class Peer:
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def toml(values: dict[str, Any]) -> str:
    lines = []
    for key, value in values.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, str):
            lines.append(f'{key} = "{value}"')
        else:
            lines.append(f"{key} = {value}")
    return "\n".join(lines) + "\n"


def start_smsc(
    folder: Path, formats: dict[str, str], faults: dict[str, Any], stop_replies: float = 0.0
) -> tuple[Peer, int]:
    port = free_port()
    config = folder / "smsc.toml"
    config.write_text(
        toml({"port": port, "decisions_log": str(folder / "decisions.jsonl"), **formats})
        + "[outcomes]\n"
        + toml({"seed": 7, "time_scale": 1000.0, "max_delay": 3000.0, "stop_replies": stop_replies})
        + "[faults]\n"
        + toml(faults)
    )
    log = folder / "smsc.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [SMSRELAY, "smsc", "--config", str(config)], stdout=output, stderr=subprocess.STDOUT
        )
    return Peer(process, log), port


def start_server(folder: Path, env: dict[str, str], connector: dict[str, Any]) -> Peer:
    config = folder / "serve.toml"
    config.write_text(f"validity = {VALIDITY}\n[[connectors]]\n" + toml(connector))
    log = folder / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [SMSRELAY, "serve", "--config", str(config)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{env['SMSRELAY_PORT']}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{base}/health", timeout=1)
            return Peer(process, log)
        except httpx.TransportError:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)


@dataclass
class Run:
    base: str
    key: str
    folder: Path
    smsc: Peer
    server: Peer


@pytest.fixture
def environment(database_url: str) -> dict[str, str]:
    """The server's database, of the test's kind: a new SQLite file, or this process's
    PostgreSQL database emptied (the server is stopped before the next test empties it)."""
    return os.environ | {"SMSRELAY_DATABASE": database_url, "SMSRELAY_PORT": str(free_port())}


def connector_of(folder: Path) -> dict[str, Any]:
    """The connector settings `begin` wrote, to start the server again with them."""
    return dict(tomllib.loads((folder / "serve.toml").read_text())["connectors"][0])


def begin(folder: Path, env: dict[str, str], case: dict[str, Any]) -> Run:
    formats = case.get("formats", {"message_id_format": "decimal", "receipt_id_format": "decimal"})
    smsc, port = start_smsc(folder, formats, case.get("faults", {}), case.get("stop_replies", 0.0))
    connector = {
        "name": "smsc",
        "port": port,
        "system_id": "smsrelay",
        "password": "smsrelay",
        "window": 64,
        "throughput": 5000.0,
        "submit_timeout": 2.0,
        "reconnect_min": 0.2,
        "reconnect_max": 1.0,
        "throttle_pause": 0.2,
        "submit_id_format": formats["message_id_format"],
        "receipt_id_format": formats["receipt_id_format"],
        "fallback": True,
        **case.get("connector", {}),
    }
    cli(env, "migrate")
    key = cli(env, "key", "create", cli(env, "account", "create", "acme", "--credits", "10000"))
    server = start_server(folder, env, connector)
    return Run(f"http://127.0.0.1:{env['SMSRELAY_PORT']}", key, folder, smsc, server)


def send(run: Run, count: int, first: int = 0) -> dict[str, int]:
    """`count` SMS to distinct numbers, one in five long enough for two parts."""
    sent: dict[str, int] = {}
    for start in range(first, first + count, 500):
        numbers = [f"+3361{n:07d}" for n in range(start, min(start + 500, first + count))]
        items = [
            {"phoneNumber": n, "message": ("x" * 200 if i % 5 == 0 else f"Bonjour {i}")}
            for i, n in enumerate(numbers)
        ]
        answer = httpx.post(
            f"{run.base}/v1/bulk-send", json={"apiKey": run.key, "SMSList": items}, timeout=30
        ).json()
        assert answer["success"] is True, answer
        sent |= dict.fromkeys(numbers, answer["message_id"])
    return sent


def expected_statuses(decisions: list[DecisionRecord]) -> dict[str, str]:
    """Per number, the status its parts' fates make (contract §3), after the validity."""
    fates: dict[str, dict[int, str]] = {}
    for record in decisions:
        fates.setdefault("+" + record.destination.lstrip("+"), {})[record.part] = record.fate
    outcome = {}
    for phone, parts in fates.items():
        if any(fate in FAILED for fate in parts.values()) or "none" in parts.values():
            outcome[phone] = "Not delivered"
        else:
            outcome[phone] = "Delivered"
    return outcome


def statuses(run: Run, sent: dict[str, int]) -> dict[str, str]:
    found: dict[str, str] = {}
    for message_id in set(sent.values()):
        answer = httpx.get(
            f"{run.base}/v1/bulk-status", params={"apiKey": run.key, "messageId": message_id}
        ).json()
        found |= {i["phoneNumber"]: i["status"] for i in answer["StatutResponse_List"]}
    return found


def settle(run: Run, sent: dict[str, int], timeout: float = VALIDITY + 40) -> dict[str, str]:
    """Wait until every SMS is final (Waiting ones run out of validity), then the statuses."""
    deadline = time.monotonic() + timeout
    while True:
        found = statuses(run, sent)
        if "Waiting" not in found.values() or time.monotonic() > deadline:
            return found
        time.sleep(1)


CASES: dict[str, dict[str, Any]] = {
    "clean": {},
    "dropped connections": {"faults": {"drop_connection": 0.002}},
    "throttling": {"faults": {"throttle": 0.05, "queue_full": 0.02}},
    "permanent errors": {"faults": {"permanent_error": 0.05}},
    "unanswered submissions": {"faults": {"unanswered": 0.01}},
    "reports before the response": {"faults": {"report_before_response": True}},
    "duplicate and out of order reports": {
        "faults": {"duplicate_reports": True, "out_of_order": True}
    },
    "hex ids then decimal ids": {
        "formats": {"message_id_format": "hex", "receipt_id_format": "decimal"}
    },
    "twelve-digit dates": {"faults": {"twelve_digit_dates": True}},
    "non-standard stat words": {"faults": {"nonstandard_stat": True}},
    "lower-case receipts": {"faults": {"lowercase_receipts": True}},
    "receipts without TLVs": {"faults": {"omit_tlvs": True, "nonstandard_stat": True}},
    # Operators reuse ids: each report must still land on its own SMS, long ones included
    # (600 SMS, 720 parts: every id comes back seven times).
    "ids restarted by the SMSC": {"faults": {"restart_ids_every": 97}},
    "ids reused on every connection": {
        "faults": {"ids_per_connection": True, "drop_connection": 0.004}
    },
    # An SMSC that swaps a receipt's addresses: it names our short code, not the handset,
    # and the reports are matched on their ids alone.
    "receipts from the sender": {
        "faults": {"receipts_from_sender": True},
        "connector": {"source": "36180"},
    },
}


@pytest.fixture
def running(
    request: pytest.FixtureRequest, tmp_path: Path, environment: dict[str, str]
) -> Iterator[Run]:
    run = begin(tmp_path, environment, CASES[request.param])
    try:
        yield run
    finally:
        run.server.stop()
        run.smsc.stop()


REUSING_IDS = {"ids restarted by the SMSC", "ids reused on every connection"}


@pytest.mark.timeout(180)
@pytest.mark.parametrize("running", CASES, indirect=True)
def test_every_sms_ends_as_the_operator_decided(
    running: Run, request: pytest.FixtureRequest
) -> None:
    sent = send(running, SMS_PER_RUN)
    found = settle(running, sent)
    decisions = read_decisions(running.folder / "decisions.jsonl")
    expected = expected_statuses(decisions)
    assert set(found) == set(sent)
    mismatched = {p: (found[p], expected.get(p)) for p in sent if found[p] != expected.get(p)}
    assert mismatched == {}
    assert "Traceback" not in running.server.log.read_text()
    if request.node.callspec.params["running"] in REUSING_IDS:
        # The run really gave one id to several SMS, parts of long ones among them.
        ids = [d.message_id for d in decisions if d.message_id is not None]
        repeated = {i for i in ids if ids.count(i) > 1}
        assert len(repeated) > 20
        assert any(d.parts > 1 and d.message_id in repeated for d in decisions)


CRASH_SMS = 3000
CRASH_WINDOW = 64


@pytest.mark.timeout(240)
def test_a_server_killed_mid_run_loses_nothing(tmp_path: Path, environment: dict[str, str]) -> None:
    run = begin(tmp_path, environment, {})
    try:
        sent = send(run, CRASH_SMS)
        # Kill while SMS are being submitted and reports are coming back.
        deadline = time.monotonic() + 30
        while len(read_decisions(tmp_path / "decisions.jsonl")) < CRASH_SMS // 4:
            assert time.monotonic() < deadline, "nothing was submitted"
            time.sleep(0.05)
        run.server.process.kill()
        run.server.process.wait(10)
        run.server = start_server(tmp_path, environment, connector_of(tmp_path))
        found = settle(run, sent)
    finally:
        run.server.stop()
        run.smsc.stop()
    decisions = read_decisions(tmp_path / "decisions.jsonl")
    expected = expected_statuses(decisions)
    mismatched = {p: (found[p], expected.get(p)) for p in sent if found[p] != expected.get(p)}
    assert mismatched == {}
    # An SMS the operator had accepted when the server died may be submitted again: at most
    # what the dispatcher's batch held, which the connector's window bounds.
    copies: dict[str, int] = {}
    for record in decisions:
        if record.fate != "refused" and record.part == 1:
            copies[record.destination] = copies.get(record.destination, 0) + 1
    twice = sum(1 for count in copies.values() if count > 1)
    print(f"SMS submitted twice because of the crash: {twice} (window {CRASH_WINDOW})")
    assert twice <= CRASH_WINDOW


@pytest.mark.timeout(180)
def test_inbound_stop_messages_list_the_number_and_mark_the_sms(
    tmp_path: Path, environment: dict[str, str]
) -> None:
    run = begin(tmp_path, environment, {"stop_replies": 0.05})
    try:
        sent = send(run, 400)
        found = settle(run, sent)
        decisions = read_decisions(tmp_path / "decisions.jsonl")
        answering = {"+" + d.destination.lstrip("+") for d in decisions if d.stop_at is not None}
        assert answering, "the simulator decided no STOP reply: raise the share"
        deadline = time.monotonic() + 20
        while True:
            listed = httpx.get(f"{run.base}/v1/stop-sms/list", params={"apiKey": run.key}).json()
            on_list = {entry["phoneNumber"] for entry in listed["data"]}
            if on_list >= answering or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        flagged = set()
        for message_id in set(sent.values()):
            items = httpx.get(
                f"{run.base}/v1/bulk-status", params={"apiKey": run.key, "messageId": message_id}
            ).json()["StatutResponse_List"]
            flagged |= {i["phoneNumber"] for i in items if i["stopSMS"]}
    finally:
        run.server.stop()
        run.smsc.stop()
    assert on_list == answering
    assert flagged == answering
    expected = expected_statuses(decisions)
    assert {p: found[p] for p in sent} == {p: expected.get(p) for p in sent}
