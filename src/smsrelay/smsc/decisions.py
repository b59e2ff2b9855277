"""The decisions log: what the simulator decided for every submitted part.

End-to-end tests compare smsrelay's final statuses with it: "DELIVRD" must end
Delivered; "UNDELIV", "EXPIRED" and "refused" Not delivered; "none" (accepted, never
reported) Waiting until the validity ends. One JSON object a line, appended and written
through at once (unbuffered, O_APPEND), so a test may read it while the SMSC runs and a
killed SMSC leaves every line it answered for. Throttled, unanswered and dropped
submit_sm decide nothing and are not logged: the ESME will submit them again.
"""

from __future__ import annotations

import io
from pathlib import Path

import msgspec


class DecisionRecord(msgspec.Struct, frozen=True):
    at: float  # Unix time of the decision
    id: int | None  # the message number; None when refused
    message_id: str | None  # the id as submit_sm_resp wrote it
    source: str
    destination: str
    part: int  # 1 of 1 unless the submit_sm carried a UDH or SAR TLVs
    parts: int
    fate: str  # DELIVRD, UNDELIV, EXPIRED, "none" (never reported), "refused"
    status: int  # submit_sm_resp command_status: 0, or why it was refused
    report_at: float | None = None  # when the final receipt is (first) due
    stop_at: float | None = None  # when the recipient answers STOP, if it does


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(DecisionRecord).decode


class DecisionLog:
    """Appends records to `path`; with an empty path, forgets them."""

    def __init__(self, path: str) -> None:
        self._file: io.FileIO | None = io.FileIO(path, "a") if path else None

    def write(self, record: DecisionRecord) -> None:
        if self._file is not None:
            self._file.write(_encode(record) + b"\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def read_decisions(path: Path) -> list[DecisionRecord]:
    """Every complete line of a decisions log (a line cut by a kill is skipped)."""
    return [
        _decode(line)
        for line in path.read_bytes().splitlines(keepends=True)
        if line.endswith(b"\n")
    ]
