"""The SMSC simulator's settings: defaults, then a TOML file, then command-line options.

The outcome model is smsrelay's own `[simulator]` table (`SimulatorSettings`: seed,
time_scale, the shares of each fate, the delays, stop_replies), under `[outcomes]`, so a
seed means the same fates in both simulators. Faults are off by default: an SMSC that
behaves is the base case, and each test turns on the one misbehaviour it is about.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from smsrelay.config import SimulatorSettings, read_config_file, validated

# How the simulator writes its message ids (smsrelay reads them as `domain.receipts.IdEncoding`).
SmscIdFormat = Literal["decimal", "hex"]
Share = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]


class Faults(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What real SMSCs do that a careful ESME must survive.

    The first five are shares of submit_sm. All but `permanent_error` are drawn per
    attempt from the server's seeded generator, so a retry of the same SMS may pass;
    `permanent_error` is drawn per SMS, so a retry meets it again. The switches change
    every receipt; the last two make message ids repeat.
    """

    # The connection is cut on receiving the submit_sm (unanswered, not accepted), with
    # whatever else is in flight on it.
    drop_connection: Share = 0.0
    throttle: Share = 0.0  # answered ESME_RTHROTTLED, not accepted
    queue_full: Share = 0.0  # answered ESME_RMSGQFUL, not accepted
    permanent_error: Share = 0.0  # answered ESME_RSUBMITFAIL: the SMS is Not delivered
    unanswered: Share = 0.0  # never answered, not accepted
    report_before_response: bool = False  # the receipt, at once, before submit_sm_resp
    duplicate_reports: bool = False  # every final receipt twice
    out_of_order: bool = False  # an ENROUTE receipt after the final one
    twelve_digit_dates: bool = False  # YYMMDDhhmmss instead of YYMMDDhhmm
    nonstandard_stat: bool = False  # DELIVERED / FAILED instead of DELIVRD / UNDELIV
    lowercase_receipts: bool = False  # "id:… stat:delivrd …"
    omit_tlvs: bool = False  # no receipted_message_id / message_state: the text alone
    # Receipts come from the SMS's sender, not from its recipient: some SMSCs swap the
    # two addresses, and a receipt then names no handset.
    receipts_from_sender: bool = False
    # Message ids repeat, as real operators' do. The counter goes back to its start after
    # this many accepted submit_sm (0: never), as an SMSC that restarts with it does...
    restart_ids_every: Annotated[int, msgspec.Meta(ge=0)] = 0
    # ... and each connection counts from the same start, as an SMSC whose binds each
    # keep their own counter does.
    ids_per_connection: bool = False


class SmscSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: int = 2775  # 0: any free port (`SmscServer.port` tells which)
    system_id: str = "smsrelay"
    password: str = "smsrelay"  # noqa: S105 (a simulator's well-known default, like its port)
    outcomes: SimulatorSettings = SimulatorSettings()
    # How message ids are written in submit_sm_resp, and in the receipts (text and TLV):
    # operators differ, and some differ between the two.
    message_id_format: SmscIdFormat = "decimal"
    receipt_id_format: SmscIdFormat = "decimal"
    # More submit_sm than this unanswered on one connection: ESME_RTHROTTLED. Also the
    # number of deliver_sm the SMSC keeps outstanding.
    window: Annotated[int, msgspec.Meta(ge=1)] = 64
    # Seconds before a submit_sm is answered (real time: it is latency, not network time).
    response_delay: Annotated[float, msgspec.Meta(ge=0.0)] = 0.0
    # A deliver_sm unanswered this long is sent again, as real SMSCs do.
    resend_timeout: Annotated[float, msgspec.Meta(gt=0.0)] = 10.0
    enquire_interval: Annotated[float, msgspec.Meta(gt=0.0)] = 30.0
    # A JSON-lines file, one line per decision (docs/smsc.md); empty: none.
    decisions_log: str = ""
    faults: Faults = Faults()


def load_smsc_settings(config_file: Path | None = None, **overrides: Any) -> SmscSettings:
    """Settings from the file and `overrides` (those whose value is None are not given)."""
    data = read_config_file(config_file)
    data |= {name: value for name, value in overrides.items() if value is not None}
    return validated(data, SmscSettings, "SMSC configuration")
