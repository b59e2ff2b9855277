"""The final checks of the end-to-end benchmark, once the load is over: what
`/v1/multi-status` and the SQLite file say, against the SMSC's decisions log; and the
accept → final latencies, read from the file.

Apart from the measurement: nothing here runs against the clock, and what each fate of
the decisions log must end in reads in one place.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import msgspec

from e2e_common import FINAL_LIST
from e2e_measure import Load, Reader
from harness import Server
from smsrelay.domain.status import PUBLIC_BY_VALUE
from smsrelay.smsc.decisions import read_decisions

API_CHECK_SENDS = 10
MULTI_STATUS = "/v1/multi-status"


def expected_status(fate: str) -> str:
    """The public status a fate of the decisions log must end in (docs/smsc.md)."""
    return {"DELIVRD": "Delivered", "none": "Waiting"}.get(fate, "Not delivered")


def decided(decisions: Path) -> tuple[dict[str, str], int]:
    """Fate per E.164 number (SMPP addresses carry no +), and how many were decided twice."""
    fates: dict[str, str] = {}
    twice = 0
    for record in read_decisions(decisions):
        phone = "+" + record.destination.lstrip("+")
        if phone in fates:
            twice += 1
        fates[phone] = record.fate
    return fates, twice


class _StatusItem(msgspec.Struct):
    phoneNumber: str | None  # noqa: N815  # the contract's names
    status: str | None = None


class _StatusAnswer(msgspec.Struct):
    StatutResponse_List: list[_StatusItem]  # the contract's name


_STATUS_DECODER = msgspec.json.Decoder(_StatusAnswer)


def api_check(
    server: Server, key: str, load: Load, phones_of: list[list[str]], fates: dict[str, str]
) -> tuple[int, int, str]:
    """Ask /v1/multi-status for the recipients of sends spread over the run.

    Returns the statuses checked, how many disagree with the SMSC, and the first one.
    """
    sends = load.sends
    picked = sorted({sends[i * len(sends) // API_CHECK_SENDS] for i in range(API_CHECK_SENDS)})
    checked = wrong = 0
    first = ""
    for message_id, index in picked if sends else []:
        phones = phones_of[index]
        body = msgspec.json.encode(
            {
                "apiKey": key,
                "SMSStatut_List": [{"phoneNumber": p, "messageId": message_id} for p in phones],
            }
        )
        status, raw = server.request("POST", MULTI_STATUS, body)
        if status != 200:
            return checked, wrong + len(phones), f"HTTP {status}: {raw[:200]!r}"
        items = _STATUS_DECODER.decode(raw).StatutResponse_List
        for phone, item in zip(phones, items, strict=True):
            checked += 1
            want = expected_status(fates.get(phone, "not decided"))
            if item.phoneNumber != phone or item.status != want:
                wrong += 1
                first = first or f"{message_id} {phone}: {item.status}, the SMSC decided {want}"
    return checked, wrong, first


@dataclass(frozen=True)
class Consistency:
    recipients: int
    decisions: int
    decided_twice: int
    mismatches: Counter[tuple[str, str]]  # (fate, public status) that disagree
    not_decided: int  # recipients the SMSC never saw
    unknown: int  # decisions for numbers that are no recipient
    carriers: dict[str, int]
    final_events: int
    final_recipients: int


def consistency(db: Reader, fates: dict[str, str], twice: int, final_events: int) -> Consistency:
    """The file's recipients against the SMSC's fates (`decided`); `final_events`: how many
    final-status events the file holds (one per `Latency` value)."""
    rows = db.execute("SELECT phone, state FROM recipients").fetchall()
    carriers = dict(
        db.execute("SELECT coalesce(carrier, '(none)'), count(*) FROM recipients GROUP BY carrier")
    )
    mismatches: Counter[tuple[str, str]] = Counter()
    not_decided = final_recipients = 0
    phones = set()
    for phone, state in rows:
        phones.add(phone)
        public = PUBLIC_BY_VALUE[state]
        final_recipients += public != "Waiting"
        fate = fates.get(phone)
        if fate is None:
            not_decided += 1
        elif expected_status(fate) != public:
            mismatches[(fate, public)] += 1
    unknown = sum(1 for phone in fates if phone not in phones)
    return Consistency(
        len(rows),
        len(fates) + twice,
        twice,
        mismatches,
        not_decided,
        unknown,
        carriers,
        final_events,
        final_recipients,
    )


@dataclass(frozen=True)
class Latency:
    values: list[float]  # seconds from the 'accepted' event to each final one, sorted
    last_final: float  # Unix time of the last final event


def latencies(db: Reader) -> Latency:
    """Accept → final status of every final-status event, from `status_events.at` (REAL).

    All recipients of one send are accepted in one transaction at one time, so the
    accept time is read per message.
    """
    accepted = dict(
        db.execute(
            "SELECT message_id, min(at) FROM status_events"
            " WHERE state = 'accepted' AND source = 'api' GROUP BY message_id"
        )
    )
    finals = db.execute(
        f"SELECT message_id, at FROM status_events WHERE state IN ({FINAL_LIST})"
    ).fetchall()
    values = sorted(at - accepted[message_id] for message_id, at in finals)
    return Latency(values, max((at for _, at in finals), default=0.0))
