"""Specification of submit_sm payloads: the parts segments.py bills, byte for byte."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsrelay.domain.segments import segment
from smsrelay.smpp.text import Concatenation, Part, decode_gsm7, encode_parts

# Every character segments.py bills as GSM 7-bit, found through its public answer. Both
# read domain/gsm7.py, so these tests check that encoding and billing agree; the table
# itself is checked against the standard (GSM_0338_*) below.
GSM7_CHARACTERS = "".join(
    chr(code) for code in range(0x10000) if segment(chr(code)).encoding == "gsm7"
)
EMOJI = "😀"


def payload(part: Part) -> bytes:
    """The text's octets, without the UDH that a UDHI esm_class announces."""
    if part.esm_class & 0x40:
        return part.short_message[1 + part.short_message[0] :]
    return part.short_message


def octets_on_air(part: Part) -> int:
    """What the SMSC sends: septets packed 8 into 7 octets, after a UDH padded to a septet."""
    if part.data_coding != 0:
        return len(part.short_message)
    header = len(part.short_message) - len(payload(part))
    septets = -(-header * 8 // 7) + len(payload(part))
    return -(-septets * 7 // 8)


def decoded(parts: list[Part]) -> str:
    """The text a phone shows once it has put the parts back together."""
    return "".join(
        decode_gsm7(payload(part)) if part.data_coding == 0 else payload(part).decode("utf-16-be")
        for part in parts
    )


def test_single_part_has_no_udh() -> None:
    assert encode_parts("a" * 160, "gsm7", reference=7) == [Part(b"a" * 160, 0, esm_class=0)]


def test_161_gsm_characters_make_parts_of_153_and_8_septets_behind_a_udh() -> None:
    parts = encode_parts("a" * 161, "gsm7", reference=0x2A)

    assert [part.short_message for part in parts] == [
        bytes((0x05, 0x00, 0x03, 0x2A, 2, 1)) + b"a" * 153,
        bytes((0x05, 0x00, 0x03, 0x2A, 2, 2)) + b"a" * 8,
    ]
    assert [(part.data_coding, part.esm_class, part.sar) for part in parts] == [(0, 0x40, None)] * 2


def test_euro_at_a_part_boundary_moves_to_the_next_part() -> None:
    parts = encode_parts("a" * 152 + "€" + "a" * 10, "gsm7", reference=1)

    assert [payload(part) for part in parts] == [b"a" * 152, b"\x1b\x65" + b"a" * 10]


def test_ucs2_emoji_is_never_split_across_parts() -> None:
    parts = encode_parts("a" * 66 + EMOJI + "a" * 5, "ucs2", reference=1)

    assert [payload(part) for part in parts] == [
        "a".encode("utf-16-be") * 66,
        EMOJI.encode("utf-16-be") + "a".encode("utf-16-be") * 5,
    ]
    assert [part.data_coding for part in parts] == [8, 8]


def test_gsm7_uses_gsm_code_points_not_ascii() -> None:
    (part,) = encode_parts("@£$è_Ä€[", "gsm7", reference=0)

    assert part.short_message == b"\x00\x01\x02\x04\x11\x5b\x1b\x65\x1b\x3c"


@pytest.mark.parametrize("char", GSM7_CHARACTERS)
def test_every_gsm_basic_and_extension_character_round_trips(char: str) -> None:
    (part,) = encode_parts(char, "gsm7", reference=0)

    assert len(part.short_message) == segment(char).units
    assert decode_gsm7(part.short_message) == char


# 3GPP TS 23.038 section 6.2.1, typed from the standard, code 0x00 to 0x7F (0x1B, the
# escape, shown as a space here and left out of the comparison).
GSM_0338_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ ÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
GSM_0338_EXTENSION = {
    0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\",
    0x3C: "[", 0x3D: "~", 0x3E: "]", 0x40: "|", 0x65: "€",
}  # fmt: skip


def test_the_basic_table_is_the_standards() -> None:
    codes = [code for code in range(128) if code != 0x1B]
    assert decode_gsm7(bytes(codes)) == "".join(GSM_0338_BASIC[code] for code in codes)


def test_the_extension_table_is_the_standards() -> None:
    decoded = {code: decode_gsm7(bytes((0x1B, code))) for code in GSM_0338_EXTENSION}
    assert decoded == GSM_0338_EXTENSION


def test_decoding_reads_no_character_the_biller_would_not_bill_as_gsm7() -> None:
    for first in range(256):
        for octets in (bytes((first,)), bytes((0x1B, first))):
            try:
                char = decode_gsm7(octets)
            except UnicodeDecodeError:
                continue
            assert char in GSM7_CHARACTERS


@pytest.mark.parametrize("octets", [b"\x80", b"a\x1b", b"\x1b\x41"], ids=["8-bit", "end", "code"])
def test_decoding_refuses_octets_with_no_character(octets: bytes) -> None:
    with pytest.raises(UnicodeDecodeError):
        decode_gsm7(octets)


def test_gsm7_refuses_a_character_outside_the_alphabet() -> None:
    with pytest.raises(UnicodeEncodeError):
        encode_parts("á", "gsm7", reference=0)


def test_ucs2_refuses_a_lone_surrogate() -> None:
    with pytest.raises(UnicodeEncodeError):
        encode_parts("a\ud800", "ucs2", reference=0)


def test_sar_sets_the_tuple_and_no_udh() -> None:
    parts = encode_parts("a" * 161, "gsm7", reference=0x1234, concatenation="sar")

    assert parts == [
        Part(b"a" * 153, 0, esm_class=0, sar=(0x1234, 2, 1)),
        Part(b"a" * 8, 0, esm_class=0, sar=(0x1234, 2, 2)),
    ]


def test_udh_reference_keeps_its_low_byte() -> None:
    parts = encode_parts("a" * 161, "gsm7", reference=0x1234)

    assert {part.short_message[3] for part in parts} == {0x34}


def test_empty_text_has_no_part() -> None:
    assert encode_parts("", "gsm7", reference=0) == []


def test_more_parts_than_one_octet_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="256 parts"):
        encode_parts("a" * 153 * 256, "gsm7", reference=0)


# Lengths across several parts, and a bias towards the two-unit characters that meet boundaries.
gsm_texts = st.integers(0, 800).flatmap(
    lambda size: st.text(
        st.one_of(st.sampled_from(GSM7_CHARACTERS), st.sampled_from("€[a")),
        min_size=size,
        max_size=size,
    )
)
# Lone surrogates are left out: UTF-16 cannot carry them, and the API never lets one in.
unicode_texts = st.integers(0, 400).flatmap(
    lambda size: st.text(
        st.one_of(st.characters(exclude_categories=["Cs"]), st.just(EMOJI)),
        min_size=size,
        max_size=size,
    )
)
CONCATENATIONS: tuple[Concatenation, ...] = ("udh", "sar")
concatenations = st.sampled_from(CONCATENATIONS)


@given(gsm_texts, concatenations)
def test_gsm_part_count_is_the_billed_count(text: str, concatenation: Concatenation) -> None:
    parts = encode_parts(text, "gsm7", reference=9, concatenation=concatenation)

    assert len(parts) == segment(text).parts


@given(unicode_texts, concatenations)
def test_unicode_part_count_is_the_billed_count(text: str, concatenation: Concatenation) -> None:
    parts = encode_parts(text, "ucs2", reference=9, concatenation=concatenation)

    assert len(parts) == segment(text, unicode=True).parts


@given(gsm_texts, concatenations)
def test_gsm_parts_decode_back_to_the_text(text: str, concatenation: Concatenation) -> None:
    parts = encode_parts(text, "gsm7", reference=9, concatenation=concatenation)

    assert decoded(parts) == text


@given(unicode_texts, concatenations)
def test_unicode_parts_decode_back_to_the_text(text: str, concatenation: Concatenation) -> None:
    parts = encode_parts(text, "ucs2", reference=9, concatenation=concatenation)

    assert decoded(parts) == text


@given(st.one_of(gsm_texts, unicode_texts), concatenations)
def test_every_part_fits_one_sms(text: str, concatenation: Concatenation) -> None:
    billed = segment(text)
    parts = encode_parts(text, billed.encoding, reference=9, concatenation=concatenation)

    assert all(octets_on_air(part) <= 140 for part in parts)
