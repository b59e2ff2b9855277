"""Each fault switch of the SMSC simulator, as a test ESME observes it."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import msgspec
import pytest

from smsrelay.smpp.errors import SessionClosed, SessionTimeout
from smsrelay.smpp.pdu import (
    ESME_RMSGQFUL,
    ESME_ROK,
    ESME_RSUBMITFAIL,
    ESME_RTHROTTLED,
    STATE_DELIVERED,
    STATE_ENROUTE,
    SUBMIT_SM,
    TLV_MESSAGE_STATE,
    decode_message_id,
    tlv_int,
)
from smsrelay.smsc.decisions import read_decisions
from smsrelay.smsc.settings import SmscSettings
from tests.smsc.esme import (
    RECIPIENT,
    SENDER,
    bound,
    outcomes,
    receipt_fields,
    run,
    running,
    with_faults,
)


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        ("throttle", ESME_RTHROTTLED),
        ("queue_full", ESME_RMSGQFUL),
        ("permanent_error", ESME_RSUBMITFAIL),
    ],
)
def test_refusal_faults_answer_their_status(
    smsc: SmscSettings, log_path: Path, fault: str, status: int
) -> None:
    async def scenario() -> None:
        async with running(with_faults(smsc, **{fault: 1.0})) as server:
            esme = await bound(server)
            assert await esme.submit() == (status, "")
            assert await esme.nothing_more()  # no receipt for what was not accepted

    run(scenario)
    # Only the permanent refusal is a decision; the others ask for a retry.
    decided = [(d.fate, d.status) for d in read_decisions(log_path)]
    assert decided == ([("refused", status)] if fault == "permanent_error" else [])


def test_an_unanswered_submit_times_out(smsc: SmscSettings) -> None:
    async def scenario() -> None:
        async with running(with_faults(smsc, unanswered=1.0)) as server:
            esme = await bound(server)
            with pytest.raises(SessionTimeout):
                await esme.session.request(SUBMIT_SM, esme.submit_body(), 0.3)

    run(scenario)


def test_a_dropped_connection_fails_the_whole_window(smsc: SmscSettings) -> None:
    async def scenario() -> None:
        async with running(with_faults(smsc, drop_connection=1.0)) as server:
            esme = await bound(server)
            answers = [
                asyncio.ensure_future(esme.session.request(SUBMIT_SM, esme.submit_body(), 2))
                for _ in range(5)
            ]
            for answer in answers:
                with pytest.raises(SessionClosed):
                    await answer
            await esme.session.closed

    run(scenario)


def test_beyond_its_window_the_smsc_throttles(smsc: SmscSettings) -> None:
    settings = msgspec.structs.replace(smsc, window=2, response_delay=0.3)

    async def scenario() -> None:
        async with running(settings) as server:
            esme = await bound(server)
            answers = await asyncio.gather(*(esme.submit(text=b"%d" % n) for n in range(3)))
            assert [status for status, _ in answers] == [ESME_ROK, ESME_ROK, ESME_RTHROTTLED]

    run(scenario)


@pytest.mark.parametrize("before", [False, True])
def test_report_before_response_sends_the_receipt_first(smsc: SmscSettings, before: bool) -> None:
    async def scenario() -> None:
        async with running(with_faults(smsc, report_before_response=before)) as server:
            esme = await bound(server)
            answer = esme.session.request_nowait(SUBMIT_SM, esme.submit_body())
            esme.watched = answer
            status, body = await answer
            receipt = await esme.next()
        assert status == ESME_ROK
        assert receipt_fields(receipt)["id"] == decode_message_id(body)
        assert esme.answered_first == [not before]

    run(scenario)


def test_duplicate_reports_send_each_final_receipt_twice(smsc: SmscSettings) -> None:
    async def scenario() -> None:
        async with running(with_faults(smsc, duplicate_reports=True)) as server:
            esme = await bound(server)
            await esme.submit()
            assert await esme.next() == await esme.next()
            assert await esme.nothing_more()

    run(scenario)


def test_out_of_order_sends_an_enroute_after_the_final_receipt(smsc: SmscSettings) -> None:
    async def scenario() -> None:
        async with running(with_faults(smsc, out_of_order=True)) as server:
            esme = await bound(server)
            _, message_id = await esme.submit()
            final, late = await esme.next(), await esme.next()
        assert tlv_int(final.tlvs[TLV_MESSAGE_STATE]) == STATE_DELIVERED
        assert tlv_int(late.tlvs[TLV_MESSAGE_STATE]) == STATE_ENROUTE
        assert receipt_fields(late)["stat"] == "ENROUTE"
        assert receipt_fields(late)["id"] == message_id

    run(scenario)


def test_twelve_digit_dates(smsc: SmscSettings) -> None:
    async def scenario() -> None:
        async with running(with_faults(smsc, twelve_digit_dates=True)) as server:
            esme = await bound(server)
            await esme.submit()
            fields = receipt_fields(await esme.next())
        assert re.fullmatch(r"\d{12}", fields["submit date"])
        assert re.fullmatch(r"\d{12}", fields["done date"])

    run(scenario)


@pytest.mark.parametrize(("state", "word"), [("delivered", "DELIVERED"), ("undelivered", "FAILED")])
def test_nonstandard_stat_words(smsc: SmscSettings, state: str, word: str) -> None:
    settings = with_faults(
        msgspec.structs.replace(smsc, outcomes=outcomes(state)), nonstandard_stat=True
    )

    async def scenario() -> None:
        async with running(settings) as server:
            esme = await bound(server)
            await esme.submit()
            assert receipt_fields(await esme.next())["stat"] == word

    run(scenario)


def test_lowercase_receipts(smsc: SmscSettings) -> None:
    async def scenario() -> None:
        async with running(with_faults(smsc, lowercase_receipts=True)) as server:
            esme = await bound(server)
            await esme.submit(text=b"HELLO")
            receipt = await esme.next()
        assert receipt.short_message == receipt.short_message.lower()
        assert b"stat:delivrd" in receipt.short_message

    run(scenario)


def test_omitted_tlvs_leave_the_text_alone(smsc: SmscSettings) -> None:
    async def scenario() -> None:
        async with running(with_faults(smsc, omit_tlvs=True)) as server:
            esme = await bound(server)
            _, message_id = await esme.submit()
            receipt = await esme.next()
        assert receipt.tlvs == {}
        assert receipt_fields(receipt)["id"] == message_id

    run(scenario)


def test_receipts_from_the_sender_name_no_handset(smsc: SmscSettings) -> None:
    async def scenario() -> None:
        async with running(with_faults(smsc, receipts_from_sender=True)) as server:
            esme = await bound(server)
            _, message_id = await esme.submit()
            receipt = await esme.next()
        assert (receipt.source_addr, receipt.destination_addr) == (SENDER, RECIPIENT)
        assert receipt_fields(receipt)["id"] == message_id

    run(scenario)


def test_restarted_ids_repeat_every_n_submissions(smsc: SmscSettings, log_path: Path) -> None:
    async def scenario() -> list[str]:
        async with running(with_faults(smsc, restart_ids_every=2)) as server:
            esme = await bound(server)
            answers = [await esme.submit(text=b"%d" % n) for n in range(5)]
            receipts = [receipt_fields(await esme.next())["id"] for _ in range(5)]
        assert sorted(receipts) == sorted(message_id for _, message_id in answers)
        return [message_id for _, message_id in answers]

    ids = run(scenario)
    first = int(ids[0])
    assert [int(i) for i in ids] == [first, first + 1, first, first + 1, first]
    assert [d.message_id for d in read_decisions(log_path)] == ids


def test_ids_per_connection_repeat_on_every_bind(smsc: SmscSettings) -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        async with running(with_faults(smsc, ids_per_connection=True)) as server:
            one, two = await bound(server), await bound(server)
            first = [(await one.submit(text=b"%d" % n))[1] for n in range(3)]
            second = [(await two.submit(text=b"%d" % n))[1] for n in range(3, 6)]
            third = [(await one.submit(text=b"%d" % n))[1] for n in range(6, 7)]
        return first + third, second

    on_one, on_two = run(scenario)
    assert on_two == on_one[:3]  # the second bind counted from the same start
    assert int(on_one[3]) == int(on_one[2]) + 1  # the first goes on with its own count
