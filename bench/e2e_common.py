"""What the parts of the end-to-end benchmark (`end_to_end.py` and its `e2e_*.py` modules)
share: its options, the files of a run's folder, the final states as SQL, and the failure
that stops a run.

Apart so that the processes, the measurement, the checks, the run and the report can each
use them without importing one another.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from send import RECIPIENTS_PER_REQUEST
from smsrelay.domain.status import FINAL_STATES

DATABASE_FILE = "e2e.db"
SERVER_LOG = "server.log"
SERVER_CONFIG = "serve.toml"
SMSC_LOG = "smsc.log"
SMSC_CONFIG = "smsc.toml"
DECISIONS_FILE = "decisions.jsonl"
TIMELINE_FILE = "timeline.csv"
# Bodies built for each second of a closed-loop load (not a rate limit: the loop sends as
# fast as the API answers, until they run out): 100 requests, 50,000 SMS, more than the
# API accepts in a second (about 32,000 seen). A load that uses them all before
# `--duration` is over ends early, and the report says so.
CLOSED_LOOP_CAP = 100  # requests per second of load
# The final states, as the list of an SQL `IN (...)`: read by the sampler and the checks.
FINAL_LIST = ", ".join(f"'{state.value}'" for state in sorted(FINAL_STATES))


class Failed(Exception):
    """The run cannot go on; the message says why and where to look."""


@dataclass(frozen=True)
class Options:
    duration: float
    rate: float  # SMS per second offered; 0: closed loop
    concurrency: int
    window: int
    smsc_window: int
    warmup: float
    submit_timeout: float
    drain_timeout: float
    seed: int
    keep: bool
    database_dir: Path | None
    database: str | None = None  # an admin postgresql:// URL: the server runs on PostgreSQL

    @property
    def requests(self) -> int:
        """How many bodies to build: the load never sends more."""
        per_second = self.rate / RECIPIENTS_PER_REQUEST if self.rate else CLOSED_LOOP_CAP
        return max(1, math.ceil(self.duration * per_second))
