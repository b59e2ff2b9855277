"""Specification of SMS billing: encoding choice, length in units, and parts."""

import pytest

from smsrelay.domain.segments import MAX_PARTS, Segmentation, segment

# GSM 03.38 default alphabet in table order, without 0x1B (the escape).
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = "\f^{}\\[~]|€"
EMOJI = "😀"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("a" * 160, Segmentation("gsm7", 160, 1), id="160 gsm: one sms"),
        pytest.param("a" * 161, Segmentation("gsm7", 161, 2), id="161 gsm: two parts"),
        pytest.param("a" * 306, Segmentation("gsm7", 306, 2), id="153x2 gsm: two full parts"),
        pytest.param("a" * 307, Segmentation("gsm7", 307, 3), id="153x2+1 gsm: three parts"),
        pytest.param(
            "a" * 153 + "€" + "a" * 151,
            Segmentation("gsm7", 306, 2),
            id="extension right after a full part",
        ),
        pytest.param(
            "a" * 152 + "€" + "a" * 152,
            Segmentation("gsm7", 306, 3),
            id="extension at septet 153 opens the next part",
        ),
        pytest.param("€" * 80, Segmentation("gsm7", 160, 1), id="80 euros: one sms"),
        pytest.param("€" * 81, Segmentation("gsm7", 162, 2), id="81 euros: two parts"),
        pytest.param("a" * 1530, Segmentation("gsm7", 1530, MAX_PARTS), id="max parts of gsm"),
        pytest.param("á", Segmentation("ucs2", 1, 1), id="a acute is ucs2"),
        pytest.param("ç", Segmentation("ucs2", 1, 1), id="lower c cedilla is ucs2"),
        pytest.param("ê", Segmentation("ucs2", 1, 1), id="e circumflex is ucs2"),
        pytest.param("`", Segmentation("ucs2", 1, 1), id="backtick is ucs2"),
        pytest.param("\x1b", Segmentation("ucs2", 1, 1), id="bare escape is ucs2"),
        pytest.param("a" * 159 + "ê", Segmentation("ucs2", 160, 3), id="one ucs2 char: all ucs2"),
        pytest.param("á" * 70, Segmentation("ucs2", 70, 1), id="70 ucs2: one sms"),
        pytest.param("á" * 71, Segmentation("ucs2", 71, 2), id="71 ucs2: two parts"),
        pytest.param("á" * 134, Segmentation("ucs2", 134, 2), id="67x2 ucs2: two full parts"),
        pytest.param("á" * 135, Segmentation("ucs2", 135, 3), id="67x2+1 ucs2: three parts"),
        pytest.param(EMOJI * 35, Segmentation("ucs2", 70, 1), id="35 emoji: one sms"),
        pytest.param(
            "á" * 67 + EMOJI + "á" * 65,
            Segmentation("ucs2", 134, 2),
            id="emoji right after a full part",
        ),
        pytest.param(
            "á" * 66 + EMOJI + "á" * 66,
            Segmentation("ucs2", 134, 3),
            id="emoji at unit 67 opens the next part",
        ),
        pytest.param("", Segmentation("gsm7", 0, 0), id="empty text: no part"),
    ],
)
def test_tricky_texts_are_billed_like_the_operator(text: str, expected: Segmentation) -> None:
    assert segment(text) == expected


def test_unicode_flag_forces_ucs2_on_plain_ascii() -> None:
    assert segment("Hello", unicode=True) == Segmentation("ucs2", 5, 1)


def test_unicode_flag_moves_the_one_sms_limit_to_70() -> None:
    assert segment("a" * 71, unicode=True).parts == 2


@pytest.mark.parametrize("char", GSM7_BASIC)
def test_basic_table_character_costs_one_septet(char: str) -> None:
    assert segment(char) == Segmentation("gsm7", 1, 1)


@pytest.mark.parametrize("char", GSM7_EXTENSION)
def test_extension_table_character_costs_two_septets(char: str) -> None:
    assert segment(char) == Segmentation("gsm7", 2, 1)


def test_gsm7_alphabet_has_nothing_else_below_u0100() -> None:
    outside = [chr(code) for code in range(0x100) if chr(code) not in GSM7_BASIC + GSM7_EXTENSION]
    assert {segment(char).encoding for char in outside} == {"ucs2"}


def test_emoji_costs_two_ucs2_units() -> None:
    assert segment(EMOJI) == Segmentation("ucs2", 2, 1)
