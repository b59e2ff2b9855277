"""Reading operators' delivery receipts and comparing their message ids."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsrelay.domain.receipts import (
    IdEncoding,
    ParsedReceipt,
    normalise_operator_id,
    read_receipt,
)
from smsrelay.domain.status import State

STANDARD = (
    "id:1234567890 sub:001 dlvrd:001 submit date:2401151230 done date:2401151231"
    " stat:DELIVRD err:000 text:Votre code est 1234"
)
ENCODINGS: tuple[IdEncoding, ...] = ("decimal", "hex", "text")


def test_a_standard_receipt_is_read_whole() -> None:
    assert read_receipt(STANDARD) == ParsedReceipt(
        message_id="1234567890",
        state=State.DELIVERED,
        error="000",
        submitted=datetime(2024, 1, 15, 12, 30, tzinfo=UTC),
        done=datetime(2024, 1, 15, 12, 31, tzinfo=UTC),
        delivered_parts=1,
        submitted_parts=1,
    )


@pytest.mark.parametrize(
    ("text", "message_id", "state"),
    [
        pytest.param(STANDARD, "1234567890", State.DELIVERED, id="standard"),
        pytest.param(STANDARD.lower(), "1234567890", State.DELIVERED, id="lower case"),
        pytest.param(
            "ID:77 Sub:001 Dlvrd:001 Submit Date:2401151230 Done Date:2401151231 Stat:delivrd",
            "77",
            State.DELIVERED,
            id="mixed case keys and values",
        ),
        pytest.param(
            "id:5 sub:001 dlvrd:001 submit date:240115123005 done date:240115123159"
            " stat:UNDELIV err:001",
            "5",
            State.UNDELIVERABLE,
            id="12-digit dates",
        ),
        pytest.param(
            "id:5 submit date:2401151230 done date:2401151231 stat:EXPIRED err:000 text:",
            "5",
            State.EXPIRED,
            id="no sub, no dlvrd",
        ),
        pytest.param("id:abc-9 stat:FAILED err:069", "abc-9", State.FAILED, id="stat FAILED"),
        pytest.param(
            "id:8 stat:ACCEPTD text:Rappel: RDV 10:30 id:999 stat:DELIVRD",
            "8",
            State.ACKNOWLEDGED,
            id="text with colons and keys is not read",
        ),
        pytest.param(
            "\x05#DLR# receipt-> id:42 sub:001 dlvrd:000 stat:REJECTD",
            "42",
            State.REJECTED,
            id="garbage before id",
        ),
        pytest.param(
            "stat:DELIVRD err:000 dlvrd:001 id:7F3A sub:001",
            "7F3A",
            State.DELIVERED,
            id="any order",
        ),
        pytest.param(
            "  id :  42    sub:001   stat :  DELIVRD  ", "42", State.DELIVERED, id="extra spaces"
        ),
        pytest.param(
            "id:42 submit_date:2401151230 done_date:2401151231 stat:DELIVERED",
            "42",
            State.DELIVERED,
            id="underscored dates, long stat word",
        ),
        pytest.param("id:42 valid:yes stat:DELIVRD", "42", State.DELIVERED, id="key in a word"),
        pytest.param("id:42 stat:BOGUS", "42", State.UNKNOWN, id="stat never seen"),
        pytest.param("id:42 sub:001", "42", State.UNKNOWN, id="no stat"),
    ],
)
def test_real_world_receipt_texts(text: str, message_id: str, state: State) -> None:
    receipt = read_receipt(text)
    assert receipt is not None
    assert (receipt.message_id, receipt.state) == (message_id, state)


@pytest.mark.parametrize(
    ("word", "state"),
    [
        ("DELIVRD", State.DELIVERED),
        ("DELIVERED", State.DELIVERED),
        ("UNDELIV", State.UNDELIVERABLE),
        ("UNDELIVERABLE", State.UNDELIVERABLE),
        ("EXPIRED", State.EXPIRED),
        ("DELETED", State.DELETED),
        ("REJECTD", State.REJECTED),
        ("REJECTED", State.REJECTED),
        ("ACCEPTD", State.ACKNOWLEDGED),
        ("ACCEPTED", State.ACKNOWLEDGED),
        ("ENROUTE", State.ENROUTE),
        ("UNKNOWN", State.UNKNOWN),
        ("SKIPPED", State.SKIPPED),
        ("FAILED", State.FAILED),
        ("FAIL", State.FAILED),
        ("ERROR", State.FAILED),
        ("UNDELIVERED", State.FAILED),
        ("NACK", State.FAILED),
        ("delivrd", State.DELIVERED),
        ("Whatever", State.UNKNOWN),
    ],
)
def test_stat_words_map_to_states(word: str, state: State) -> None:
    receipt = read_receipt(f"id:1 stat:{word}")
    assert receipt is not None
    assert receipt.state is state


def test_the_operators_acceptd_is_not_our_api_acceptance() -> None:
    receipt = read_receipt("id:1 stat:ACCEPTD")
    assert receipt is not None
    assert receipt.state is not State.ACCEPTED


@pytest.mark.parametrize(
    ("number", "state"),
    [
        (0, State.ENROUTE),
        (1, State.ENROUTE),
        (2, State.DELIVERED),
        (3, State.EXPIRED),
        (4, State.DELETED),
        (5, State.UNDELIVERABLE),
        (6, State.ACKNOWLEDGED),
        (7, State.UNKNOWN),
        (8, State.REJECTED),
        (9, State.SKIPPED),
    ],
)
def test_message_state_numbers_map_to_states(number: int, state: State) -> None:
    receipt = read_receipt("", receipted_message_id="1", message_state=number)
    assert receipt is not None
    assert receipt.state is state


def test_a_tlv_only_receipt_with_empty_text_is_read() -> None:
    assert read_receipt(b"", receipted_message_id=b"0A1B\x00", message_state=2) == ParsedReceipt(
        message_id="0A1B",
        state=State.DELIVERED,
        error=None,
        submitted=None,
        done=None,
        delivered_parts=None,
        submitted_parts=None,
    )


def test_the_tlv_state_overrides_the_text_state() -> None:
    receipt = read_receipt("id:1 stat:DELIVRD", message_state=5)
    assert receipt is not None
    assert receipt.state is State.UNDELIVERABLE


def test_a_message_state_outside_smpp_falls_back_to_the_text() -> None:
    receipt = read_receipt("id:1 stat:DELIVRD", message_state=42)
    assert receipt is not None
    assert receipt.state is State.DELIVERED


def test_the_tlv_id_overrides_the_text_id() -> None:
    receipt = read_receipt("id:1 stat:DELIVRD", receipted_message_id="2")
    assert receipt is not None
    assert receipt.message_id == "2"


def test_an_empty_tlv_id_falls_back_to_the_text_id() -> None:
    receipt = read_receipt("id:1 stat:DELIVRD", receipted_message_id=b"\x00")
    assert receipt is not None
    assert receipt.message_id == "1"


def test_a_hex_tlv_id_matches_the_decimal_id_of_the_text() -> None:
    receipt = read_receipt("id:0000006699 stat:DELIVRD", receipted_message_id="1A2B")
    assert receipt is not None
    assert normalise_operator_id(receipt.message_id, "hex") == normalise_operator_id(
        "0000006699", "decimal"
    )


@pytest.mark.parametrize(
    "text", ["", "sub:001 dlvrd:001 stat:DELIVRD err:000", "id: stat:DELIVRD", "text:id:5"]
)
def test_a_receipt_without_an_id_is_none(text: str) -> None:
    assert read_receipt(text) is None


@pytest.mark.parametrize(
    "raw",
    [
        "id:é1 stat:DELIVRD text:Réunion".encode(),
        "id:é1 stat:DELIVRD text:Réunion".encode("latin-1"),
    ],
    ids=["utf-8", "latin-1"],
)
def test_bytes_are_decoded_as_utf8_or_latin1(raw: bytes) -> None:
    receipt = read_receipt(raw)
    assert receipt is not None
    assert (receipt.message_id, receipt.state) == ("é1", State.DELIVERED)


def test_twelve_digit_dates_keep_their_seconds() -> None:
    receipt = read_receipt("id:1 submit date:240115123005 done date:240115123159")
    assert receipt is not None
    assert receipt.submitted == datetime(2024, 1, 15, 12, 30, 5, tzinfo=UTC)
    assert receipt.done == datetime(2024, 1, 15, 12, 31, 59, tzinfo=UTC)


@pytest.mark.parametrize("date", ["2413151230", "24011512", "20240115123000", "24O1151230"])
def test_an_impossible_or_malformed_date_is_none(date: str) -> None:
    receipt = read_receipt(f"id:1 submit date:{date} stat:DELIVRD")
    assert receipt is not None
    assert receipt.submitted is None


def test_part_counts_are_numbers_or_none() -> None:
    receipt = read_receipt("id:1 sub:003 dlvrd:x2")
    assert receipt is not None
    assert (receipt.submitted_parts, receipt.delivered_parts) == (3, None)


def test_the_error_is_kept_as_written() -> None:
    receipt = read_receipt("id:1 stat:UNDELIV err:0B4")
    assert receipt is not None
    assert receipt.error == "0B4"


@given(st.one_of(st.text(), st.binary()), st.one_of(st.none(), st.text(), st.binary()))
def test_read_receipt_never_raises(text: str | bytes, tlv_id: str | bytes | None) -> None:
    read_receipt(text, tlv_id)


@given(st.lists(st.sampled_from(["id", "sub", "stat", "submit date", "text", ":", " ", "9"])))
def test_read_receipt_never_raises_on_receipt_like_text(pieces: list[str]) -> None:
    read_receipt("".join(pieces))


@pytest.mark.parametrize(
    ("raw", "encoding", "canonical"),
    [
        ("000123", "decimal", "123"),
        ("0", "decimal", "0"),
        ("0000", "decimal", "0"),
        ("7B", "hex", "123"),
        ("007b", "hex", "123"),
        (" AbC-9 ", "text", "abc-9"),
        (b"1A2B\x00", "hex", "6699"),
        ("12ab", "decimal", "12ab"),
        ("xyz", "hex", "xyz"),
        ("F" * 65, "hex", "f" * 65),
    ],
)
def test_normalise_operator_id(raw: str | bytes, encoding: IdEncoding, canonical: str) -> None:
    assert normalise_operator_id(raw, encoding) == canonical


# Every value a 64-character SMPP message_id can hold in hex.
@given(st.integers(min_value=0, max_value=16**64 - 1))
def test_a_hex_id_and_its_decimal_spelling_are_one_id(n: int) -> None:
    assert normalise_operator_id(format(n, "x"), "hex") == normalise_operator_id(str(n), "decimal")


@pytest.mark.parametrize(("encoding", "base"), [("decimal", "d"), ("hex", "x")])
@given(n=st.integers(min_value=0, max_value=16**64 - 1), zeros=st.integers(0, 100))
def test_leading_zeros_never_change_the_canonical_form(
    encoding: IdEncoding, base: str, n: int, zeros: int
) -> None:
    spelling = format(n, base)
    padded = "0" * zeros + spelling
    assert normalise_operator_id(padded, encoding) == normalise_operator_id(spelling, encoding)


@given(st.text(alphabet="0123456789abcdefABCDEFxyz-"), st.sampled_from(ENCODINGS))
def test_case_never_changes_the_canonical_form(raw: str, encoding: IdEncoding) -> None:
    assert normalise_operator_id(raw.upper(), encoding) == normalise_operator_id(raw, encoding)


@given(st.one_of(st.text(), st.binary()), st.sampled_from(ENCODINGS))
def test_any_id_has_a_canonical_form_in_every_encoding(
    raw: str | bytes, encoding: IdEncoding
) -> None:
    assert isinstance(normalise_operator_id(raw, encoding), str)
