"""The two processes of the end-to-end benchmark: `smsrelay smsc` (the SMSC simulator, on
a port it picks) and `smsrelay serve` with one SMPP connector pointing at it; their
configuration files, how they are started and stopped, and the end of their logs.

Apart so that what runs beside the benchmark reads in one place; the server process
itself is `harness.Server`, the measurement only watches these processes.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from e2e_common import (
    DECISIONS_FILE,
    SERVER_CONFIG,
    SERVER_LOG,
    SMSC_CONFIG,
    SMSC_LOG,
    Failed,
)
from harness import Server, smsrelay_command, stop_process

CONNECTOR = "smsc"
THROUGHPUT = 20_000.0  # submit_sm per second the connector may send: not the limit here
# The operator: reports within about a second, every SMS a final fate. 1 % is refused at
# submission (ESME_RINVDSTADR): Not delivered at once, without a report.
OUTCOMES = {
    "seed": 1,
    "time_scale": 1000.0,
    "median_delay": 4.0,  # 4 s of network time: 4 ms here
    "max_delay": 1000.0,  # 1 s here
    "delivered": 0.93,
    "undelivered": 0.04,
    "expired": 0.02,
    "rejected": 0.01,
    "stop_replies": 0.0,
}
START_TIMEOUT = 30.0  # for the SMSC to name its port
_PORT_LINE = re.compile(rb"listening on [^\s:]+:(\d+)")


def toml_table(values: Mapping[str, object]) -> str:
    lines = []
    for key, value in values.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str):
            text = json.dumps(value)  # a TOML basic string
        else:
            text = repr(value)
        lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"


class Smsc:
    """`smsrelay smsc` on a port of its choosing, its log in the results folder."""

    def __init__(self, folder: Path, window: int, env: dict[str, str]) -> None:
        self.config = folder / SMSC_CONFIG
        self.log_path = folder / SMSC_LOG
        self.decisions = folder / DECISIONS_FILE
        self.config.write_text(
            toml_table(
                {
                    "host": "127.0.0.1",
                    "port": 0,
                    "system_id": "smsrelay",
                    "password": "smsrelay",
                    "message_id_format": "decimal",
                    "receipt_id_format": "decimal",
                    "window": window,
                    "decisions_log": str(self.decisions),
                }
            )
            + "\n[outcomes]\n"
            + toml_table(OUTCOMES)
        )
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> int:
        command = [smsrelay_command(), "smsc", "--port", "0", "--config", str(self.config)]
        with self.log_path.open("wb") as output:
            self.process = subprocess.Popen(
                command, env=self.env, stdout=output, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            found = _PORT_LINE.search(self.log_path.read_bytes())
            if found:
                self.port = int(found[1])
                return self.port
            if self.process.poll() is not None:
                raise Failed(f"smsrelay smsc exited with {self.process.returncode}: {tail(self)}")
            time.sleep(0.05)
        raise Failed(
            f"smsrelay smsc named no port within {START_TIMEOUT:.0f} s; see {self.log_path}"
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        stop_process(self.process)


def server_config(folder: Path, database: str, port: int, smsc_port: int, window: int) -> Path:
    path = folder / SERVER_CONFIG  # where `smsrelay_server` points `--config`
    path.write_text(
        toml_table(
            {"database": database, "host": "127.0.0.1", "port": port, "log_level": "warning"}
        )
        + "\n[[connectors]]\n"
        + toml_table(
            {
                "name": CONNECTOR,
                "host": "127.0.0.1",
                "port": smsc_port,
                "system_id": "smsrelay",
                "password": "smsrelay",
                "window": window,
                "throughput": THROUGHPUT,
                "submit_id_format": "decimal",
                "receipt_id_format": "decimal",
                "fallback": True,
            }
        )
    )
    return path


def smsrelay_server(folder: Path, port: int, env: dict[str, str]) -> Server:
    """`smsrelay serve` on `port` with the file `server_config` writes, its log in `folder`."""
    return Server(
        "smsrelay",
        [smsrelay_command(), "serve", "--config", str(folder / SERVER_CONFIG)],
        port,
        env,
        False,
        folder / SERVER_LOG,
    )


def tail(process: Smsc | Server, lines: int = 5) -> str:
    """The last lines of a process's log, on one line."""
    try:
        text = process.log_path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"
