"""What the benchmarks share: the results folder and the environment they run smsrelay in,
its commands, a server process on loopback, its CPU time and memory, the SQLite file, the
machine and the code measured.

Used by `multi_status.py`, `send.py` and the end-to-end benchmark (`end_to_end.py`,
`e2e_*.py`). Every server listens on 127.0.0.1 only and is stopped by `Server.stop`,
whatever happens.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import http.client
import importlib.metadata
import os
import platform
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

import smsrelay

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
STARTUP_TIMEOUT = 300.0
ANSWER_TIMEOUT = 10.0
STOP_TIMEOUT = 20.0
# With --pin: the server on one core, everything else (the load tool included) on another.
# Off by default: on the reference machine it changed nothing but the spread of the tail.
SERVER_CPU = 1
LOAD_CPU = 0
# Cores that other processes (not the server, not the load tool) and the hypervisor may
# take during a measured phase before the figures are flagged as disturbed.
BACKGROUND_LIMIT = 0.15


# --- the run's folder, environment and commands ------------------------------------------


def results_folder(prefix: str, database_dir: Path | None) -> Path:
    """`--database-dir` (created if need be), or else a new folder under bench/results/."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    if database_dir is None:
        return Path(tempfile.mkdtemp(prefix=prefix, dir=RESULTS_DIR))
    database_dir.mkdir(parents=True, exist_ok=True)
    return database_dir


def clean_env() -> dict[str, str]:
    """This process's environment without any `SMSRELAY_*` setting: smsrelay's defaults."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SMSRELAY_")}


def smsrelay_command() -> str:
    """The `smsrelay` executable of the virtualenv running the benchmark."""
    return str(Path(sys.executable).with_name("smsrelay"))


def serve_command(port: int, database: Path | str) -> list[str]:
    """`smsrelay serve` on 127.0.0.1:`port` with the SQLite file `database` (a Path) or the
    database URL `database` (a str, e.g. postgresql://...), else defaults."""
    return [
        smsrelay_command(),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--database",
        database if isinstance(database, str) else f"sqlite:///{database}",
    ]


# --- the SQLite file ---------------------------------------------------------------------


def read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection, to read beside a running server (WAL readers do not block)."""
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def remove_database(path: Path) -> None:
    """The SQLite file `path` and its -wal, -shm and -journal files, where they exist."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


# --- CPU accounting ----------------------------------------------------------------------


@dataclass(frozen=True)
class CpuUse:
    """Cores used during one phase: by the server, by everything else, by the hypervisor."""

    server: float
    others: float
    steal: float


@dataclass(frozen=True)
class CpuClock:
    """CPU seconds spent so far, machine-wide and by the processes of the benchmark."""

    at: float
    busy: float  # every core, every process (/proc/stat)
    steal: float
    server: float
    ours: float  # this script, and the load tools it has waited for

    @classmethod
    def read(cls, server_pid: int) -> CpuClock:
        tick = os.sysconf("SC_CLK_TCK")
        # cpu  user nice system idle iowait irq softirq steal guest guest_nice
        ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        mine = os.times()
        return cls(
            at=time.perf_counter(),
            busy=(ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6]) / tick,
            steal=ticks[7] / tick,
            server=cpu_seconds(server_pid),
            ours=mine.user + mine.system + mine.children_user + mine.children_system,
        )

    def until(self, later: CpuClock) -> CpuUse:
        elapsed = later.at - self.at
        server = later.server - self.server
        others = (later.busy - self.busy) - server - (later.ours - self.ours)
        return CpuUse(
            server / elapsed, max(0.0, others / elapsed), (later.steal - self.steal) / elapsed
        )


# --- servers -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_status(pid: int, field: str) -> int:
    """A `kB` field of /proc/PID/status (VmHWM: the peak resident set size)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def peak_rss_mb(pid: int) -> float:
    """Peak resident set (VmHWM) of process `pid` plus that of each process it started."""
    total = proc_status(pid, "VmHWM")
    for child in psutil.Process(pid).children(recursive=True):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, RuntimeError):
            total += proc_status(child.pid, "VmHWM")
    return total / 1024


def cpu_times(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of process `pid` so far (/proc/PID/stat utime, stime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of process `pid` and of the processes it started.

    smsrelay's server starts its delivery worker as a child process: its work is the
    server's work, and counting the API process alone would flatter it.
    """
    total = sum(cpu_times(pid))
    for child in psutil.Process(pid).children(recursive=True):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            total += sum(cpu_times(child.pid))
    return total


class Server:
    """One server process on a loopback port, always stopped by `stop`."""

    def __init__(
        self,
        name: str,
        command: list[str],
        port: int,
        env: dict[str, str],
        pin: bool,
        log_path: Path,
    ) -> None:
        self.name = name
        self.pin = pin
        self.command = command
        self.port = port
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> float:
        """Start the process and wait until it answers; returns the seconds that took."""
        started = time.perf_counter()
        with self.log_path.open("wb") as log_file:
            self.process = subprocess.Popen(
                self.command, env=self.env, stdout=log_file, stderr=subprocess.STDOUT
            )
        if self.pin:
            os.sched_setaffinity(self.process.pid, {SERVER_CPU})
        deadline = started + STARTUP_TIMEOUT
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}; see {self.log_path}"
                )
            try:
                status, _ = self.request("GET", "/health", None, timeout=2.0)
            except OSError:
                time.sleep(0.1)
                continue
            if status == 200:
                return time.perf_counter() - started
        raise RuntimeError(f"{self.name} did not answer within {STARTUP_TIMEOUT:.0f} s")

    def request(
        self, method: str, path: str, body: bytes | None, timeout: float = ANSWER_TIMEOUT
    ) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body, headers)
            answer = conn.getresponse()
            return answer.status, answer.read()
        finally:
            conn.close()

    def stop(self) -> None:
        stop_process(self.process)


def stop_process(process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM, then SIGKILL if it has not stopped in STOP_TIMEOUT; nothing if it is gone."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT)


# --- report ------------------------------------------------------------------------------


def disturbed(others: float, steal: float) -> str:
    """The warning that ends the CPU line when the machine was not quiet, else nothing."""
    if max(others, steal) > BACKGROUND_LIMIT:
        return "; WARNING: the machine was not quiet, these figures are disturbed"
    return ""


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    return (
        f"machine: {os.cpu_count()} cores, {model}, {platform.system()} {platform.release()},"
        f" Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )


def code_version() -> str:
    """Which smsrelay was measured: its commit, or a digest of its sources when none."""
    root = Path(smsrelay.__file__).resolve().parent
    files = sorted(p for p in root.rglob("*") if p.suffix in (".py", ".sql"))
    digest = hashlib.sha256()
    for file in files:
        digest.update(str(file.relative_to(root)).encode() + b"\0" + file.read_bytes())
    newest = max(file.stat().st_mtime for file in files)
    when = datetime.datetime.fromtimestamp(newest, datetime.UTC).strftime("%Y-%m-%d %H:%M")

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("log", "-1", "--format=%h") or "none"
    if commit != "none" and git("status", "--porcelain", "--", "."):
        commit += " + uncommitted changes"
    return (
        f"code: smsrelay {importlib.metadata.version('smsrelay')}, commit {commit},"
        f" sources sha256 {digest.hexdigest()[:12]} (newest file {when} UTC)"
    )
