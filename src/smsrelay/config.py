"""One settings object, read once at start-up.

Precedence, lowest first: defaults, the TOML file (`--config` or `SMSRELAY_CONFIG`),
environment variables (`SMSRELAY_<NAME>`, `SMSRELAY_SIMULATOR_<NAME>` for the simulator
table), then explicit command-line options. Values are validated as a whole by msgspec,
so a typo in the file is an error at start-up rather than a default silently kept.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import msgspec

from smsrelay.domain.receipts import IdEncoding
from smsrelay.smpp.text import Concatenation

T = TypeVar("T")

ENV_PREFIX = "SMSRELAY_"
DEFAULT_DATABASE = "sqlite:///var/smsrelay.db"


class ConfigError(Exception):
    """The configuration cannot be used; the message says which value and why."""


class SimulatorSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The simulated operator's outcome model (see docs/simulator.md)."""

    seed: int = 1
    # How many times faster than a real network the simulated one runs: at 60, a report
    # an operator would send after one hour arrives after one minute.
    time_scale: float = 1.0
    delivered: float = 0.90
    undelivered: float = 0.04
    expired: float = 0.02
    rejected: float = 0.01
    # The rest of the shares (here 3 %) never get a report and expire with the validity.
    # Of the delivered SMS, the share whose recipient answers "STOP" some time after the
    # report (here 2 in 1000); the number lands on the sending account's STOP list.
    stop_replies: float = 0.002
    median_delay: float = 4.0
    max_delay: float = 6 * 3600.0


Positive = Annotated[float, msgspec.Meta(gt=0)]


Ton = Annotated[int, msgspec.Meta(ge=0, le=6)]
Npi = Annotated[int, msgspec.Meta(ge=0, le=18)]


class SourceRules(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """TON and NPI of the source address by kind of sender: operators differ, mostly on
    short codes (network specific, unknown, national...)."""

    international: tuple[Ton, Npi] = (1, 1)
    short_code: tuple[Ton, Npi] = (3, 0)
    alphanumeric: tuple[Ton, Npi] = (5, 0)
    # A sender of digits without "+" and at most this many of them is a short code.
    short_code_digits: Annotated[int, msgspec.Meta(ge=0, le=15)] = 6


class ConnectorSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One SMPP connection to an operator (docs/smpp.md). Only the TOML file sets these."""

    name: str
    system_id: str
    host: str = "127.0.0.1"
    port: int = 2775
    password: str = ""
    system_type: str = ""
    bind: Literal["transceiver", "transmitter+receiver"] = "transceiver"
    # submit_sm sent and not yet answered, at most; and submit_sm per second, at most.
    window: Annotated[int, msgspec.Meta(ge=1)] = 10
    throughput: Positive = 100.0
    submit_timeout: Positive = 30.0
    enquire_link: Positive = 30.0
    reconnect_min: Positive = 1.0
    reconnect_max: Positive = 60.0
    # After an ESME_RTHROTTLED the connector submits nothing for this long (0: no pause).
    throttle_pause: Annotated[float, msgspec.Meta(ge=0)] = 1.0
    # Sender when a send names none; `source_rules` give each kind of sender its TON/NPI.
    source: str = "SMSRELAY"
    source_rules: SourceRules = msgspec.field(default_factory=SourceRules)
    # How this operator writes its message ids in submit_sm_resp and in receipts.
    submit_id_format: IdEncoding = "text"
    receipt_id_format: IdEncoding = "text"
    concatenation: Concatenation = "udh"
    # Destinations this connector serves, by E.164 prefix ("+33", "+3361"); the longest
    # matching prefix of all connectors wins, and `fallback` takes the rest.
    prefixes: list[str] = []
    fallback: bool = False


class Settings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    database: str = DEFAULT_DATABASE
    host: str = "127.0.0.1"
    port: int = 8000
    language: Literal["fr", "en"] = "fr"
    max_body_bytes: int = 1024 * 1024
    # Connections (docs/operations.md). A client has `header_timeout` seconds to send a
    # request's headers, from the opening of the connection or from the first byte of a
    # next request: a request line and headers take milliseconds on any real link.
    header_timeout: Positive = 10.0
    # ...and `body_timeout` seconds, from the end of the headers, for the whole body: a
    # deadline rather than a rate, so that a body dripped a byte at a time is cut off too;
    # max_body_bytes in 30 s is 35 KB/s, a 500-number send (about 20 KB) needs 1 KB/s.
    body_timeout: Positive = 30.0
    # ...and `keepalive_timeout` seconds idle, from the end of an answer (or of a body
    # answered before it all arrived) to its next request: pooled clients reuse a
    # connection within milliseconds, and an idle one only holds a descriptor.
    keepalive_timeout: Positive = 5.0
    # Connections open at once, at most; past it a new one is answered 503 (code 500) and
    # closed. Lowered at start-up, with a warning, to what the descriptor limit allows.
    max_connections: Annotated[int, msgspec.Meta(ge=1)] = 1000
    # How long an operator may take to report; past it a recipient is Not delivered.
    validity: float = 48 * 3600.0
    currency: str = "EUR"
    # A TOML price table (docs/pricing.md) that replaces the built-in one; empty: built-in.
    prices_file: str = ""
    # Appended to a text sent with isStopSms=1, so the recipient knows how to opt out.
    stop_mention: str = "STOP au 36180"
    # FULL: an accepted SMS survives a power cut, not only a crash of the process.
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    # How long the server waits for another process's write lock (the CLI's, a backup's)
    # before answering "try again": its event loop waits with it.
    sqlite_busy_timeout: float = 1.0
    # PostgreSQL (database = "postgresql://user@host:port/dbname"): connections each
    # process keeps open to the server. The API and its delivery worker have a pool each.
    postgres_pool_size: Annotated[int, msgspec.Meta(ge=1)] = 10
    # process: the delivery engine (dispatcher, reports, operator) runs in a process of
    # its own, on another core; inline: in the API's event loop (tests, tiny machines).
    delivery: Literal["process", "inline"] = "process"
    dispatch_batch: int = 500
    dispatch_interval: float = 0.05
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    simulator: SimulatorSettings = SimulatorSettings()
    # Replies read as an opt-out (any case, accents and punctuation ignored, the whole
    # text); empty: STOP, ARRET, STOP SMS, DESABONNER... (domain/replies.py).
    stop_keywords: list[str] = []
    # No connector: the simulated operator delivers everything (demo, tests).
    connectors: list[ConnectorSettings] = []

    def __post_init__(self) -> None:
        names = [c.name for c in self.connectors]
        if len(set(names)) != len(names):
            raise ValueError(f"connector names must be unique: {names}")
        if sum(c.fallback for c in self.connectors) > 1:
            raise ValueError("at most one connector may be the fallback")
        for c in self.connectors:
            if c.reconnect_min > c.reconnect_max:
                raise ValueError(f"connector {c.name}: reconnect_min exceeds reconnect_max")


def _from_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    simulator: dict[str, Any] = {}
    for name in Settings.__struct_fields__:
        raw = environ.get(ENV_PREFIX + name.upper())
        if raw is not None and name != "simulator":
            values[name] = raw
    for name in SimulatorSettings.__struct_fields__:
        raw = environ.get(f"{ENV_PREFIX}SIMULATOR_{name.upper()}")
        if raw is not None:
            simulator[name] = raw
    if simulator:
        values["simulator"] = simulator
    return values


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def load_settings(
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Settings from every source; `overrides` whose value is None are not given."""
    env = os.environ if environ is None else environ
    path = config_file or (
        Path(env[ENV_PREFIX + "CONFIG"]) if env.get(ENV_PREFIX + "CONFIG") else None
    )
    data = read_config_file(path)
    data = _merge(data, _from_environ(env))
    data = _merge(data, {k: v for k, v in overrides.items() if v is not None})
    return validated(data, Settings, "configuration")


def read_config_file(path: Path | None) -> dict[str, Any]:
    """The TOML file's values (none without a file); ConfigError when it cannot be read."""
    if path is None:
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc


def validated(data: Mapping[str, Any], kind: type[T], what: str) -> T:
    """`data` as a `kind`, checked whole: strings from the environment are converted."""
    try:
        return msgspec.convert(data, kind, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid {what}: {exc}") from exc
