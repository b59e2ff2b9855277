"""What every store says and keeps of the reports it does not apply to one SMS.

Reports matched on their id alone (the connector's receipts name no handset) are said
once per connector and store; reports that fit several SMS awaiting one are kept in
`ambiguous_receipts` and each said. The same rows and the same lines on both stores.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import msgspec

from smsrelay.domain.records import Receipt
from smsrelay.domain.report_matching import Ambiguous

__all__ = ["ambiguous_rows", "warn_ambiguous", "warn_no_handset"]

log = logging.getLogger(__name__)
_encode_json = msgspec.json.Encoder().encode


def warn_no_handset(receipt: Receipt, warned: set[str]) -> None:
    """Once per connector in `warned` (the store's): every receipt it sends is matched on
    its id alone."""
    if receipt.carrier in warned:
        return
    warned.add(receipt.carrier)
    log.warning(
        "connector %s: receipt for operator id %s comes from %s, a number no SMS is sent to:"
        " its receipts do not name the handset, they are matched on the operator id alone"
        " (warned once per connector)",
        receipt.carrier,
        receipt.operator_ref,
        receipt.phone,
    )


def ambiguous_rows(found: Sequence[tuple[Receipt, Ambiguous]]) -> list[tuple[object, ...]]:
    """The `ambiguous_receipts` rows: the report, and its candidates as JSON
    [[account_id, message_id, phone, part], ...] (part null: a one-part SMS)."""
    return [
        (
            r.carrier,
            r.operator_ref,
            r.phone,
            r.state,
            r.at,
            r.detail,
            _encode_json(
                [[c.account_id, c.message_id, c.phone, c.part] for c in match.candidates]
            ).decode(),
        )
        for r, match in found
    ]


def warn_ambiguous(found: Sequence[tuple[Receipt, Ambiguous]]) -> None:
    """Say each kept report: none is guessed, an operator of the platform reads them."""
    for receipt, match in found:
        log.warning(
            "connector %s: report %s for operator id %s, handset %s, fits %d SMS awaiting"
            " a report (%s): applied to none, kept in ambiguous_receipts",
            receipt.carrier,
            receipt.state,
            receipt.operator_ref,
            receipt.phone or "not named",
            len(match.candidates),
            ", ".join(f"message {c.message_id} to {c.phone}" for c in match.candidates),
        )
