import enum
import xml.etree.ElementTree as ET
from typing import Any

import msgspec
import pytest

from smsrelay.api.formats import encode_json, encode_xml

PROLOG = b"<?xml version='1.0' encoding='UTF-8'?>"

# The seed document's XML answer (whitespace between elements is free; the
# seed's page also shows blanks around the CDATA sections, a rendering artefact
# that v1-api.md section 2 leaves out).
SEED_XML = """<?xml version='1.0' encoding='UTF-8'?>
<result>
  <entry>true</entry>
  <entry>200</entry>
  <entry>
    <entry>
      <entry>true</entry>
      <entry>200</entry>
      <entry><![CDATA[+33619922264]]></entry>
      <entry>1226613</entry>
      <entry><![CDATA[Delivered]]></entry>
      <entry><![CDATA[1517934416]]></entry>
      <entry><![CDATA[0]]></entry>
      <entry><![CDATA[0]]></entry>
    </entry>
    <entry>
      <entry>false</entry>
      <entry>4</entry>
      <entry><![CDATA[+33699999992]]></entry>
      <entry>1000</entry>
      <entry><![CDATA[Numéro introuvable]]></entry>
    </entry>
    <entry>
      <entry>false</entry>
      <entry>4</entry>
      <entry><![CDATA[+33699999991]]></entry>
      <entry>1222</entry>
      <entry><![CDATA[Numéro introuvable]]></entry>
    </entry>
  </entry>
</result>
"""

SEED_ANSWER: dict[str, Any] = {
    "success": True,
    "code": 200,
    "StatutResponse_List": [
        {
            "success": True,
            "code": 200,
            "phoneNumber": "+33619922264",
            "messageId": 1226613,
            "status": "Delivered",
            "date": "1517934416",
            "stopSms": "0",
            "isSpam": "0",
        },
        {
            "success": False,
            "code": 4,
            "phoneNumber": "+33699999992",
            "messageId": 1000,
            "status": "Numéro introuvable",
        },
        {
            "success": False,
            "code": 4,
            "phoneNumber": "+33699999991",
            "messageId": 1222,
            "status": "Numéro introuvable",
        },
    ],
}

ERROR_ANSWER = {"success": False, "code": 10, "message": "Clef API incorrecte"}

ERROR_XML = (
    b"<?xml version='1.0' encoding='UTF-8'?>\n<result>"
    b"<entry>false</entry><entry>10</entry><entry><![CDATA[Clef API incorrecte]]></entry>"
    b"</result>\n"
)


class Item(msgspec.Struct):
    success: bool
    code: int
    phoneNumber: str  # noqa: N815 - the wire name
    status: str
    date: str | msgspec.UnsetType = msgspec.UNSET


class Answer(msgspec.Struct):
    success: bool
    code: int
    items: list[Item]


def shape(element: ET.Element) -> Any:
    """A parsed element as nested lists of leaf texts, for whole-tree comparison."""
    assert element.tag in {"result", "entry"}
    assert not element.attrib
    if len(element):
        return [shape(child) for child in element]
    return element.text


def parse(document: bytes | str) -> Any:
    return shape(ET.fromstring(document))


def test_seed_answer_is_the_seed_xml_tree() -> None:
    assert parse(encode_xml(SEED_ANSWER)) == parse(SEED_XML)


def test_seed_answer_writes_strings_in_cdata_and_numbers_and_booleans_bare() -> None:
    document = encode_xml(SEED_ANSWER)
    for bare in [b"true", b"false", b"200", b"4", b"1226613", b"1000", b"1222"]:
        assert b"<entry>" + bare + b"</entry>" in document
    for text in ["+33619922264", "Delivered", "1517934416", "0", "Numéro introuvable"]:
        assert f"<entry><![CDATA[{text}]]></entry>".encode() in document
    assert b"<entry><![CDATA[1226613" not in document
    assert b"<entry>+33619922264" not in document


def test_document_starts_with_the_seed_prolog() -> None:
    assert encode_xml(ERROR_ANSWER).startswith(PROLOG)


def test_error_answer_is_the_documented_xml() -> None:
    assert encode_xml(ERROR_ANSWER) == ERROR_XML


def test_unicode_is_written_as_utf8() -> None:
    assert "Numéro introuvable".encode() in encode_xml({"status": "Numéro introuvable"})


@pytest.mark.parametrize(
    "text",
    ["a]]>b", "]]>", "]]>]]>", "x]]]>y", "]]", "a\r\nb", "]]\r>", "a\r]]>\rb"],
)
def test_string_round_trips_through_a_parser(text: str) -> None:
    assert parse(encode_xml([text])) == [text]


def test_cdata_terminator_is_split_across_two_sections() -> None:
    assert b"<entry><![CDATA[a]]]]><![CDATA[>b]]></entry>" in encode_xml(["a]]>b"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\x00b", "a\ufffdb"),
        ("\x01\x08\x0b\x0c\x0e\x1f", "\ufffd" * 6),
        ("a\ufffeb\uffffc", "a\ufffdb\ufffdc"),
        ("a\ud800b\udfffc", "a\ufffdb\ufffdc"),
        ("tab\tand\nnewline", "tab\tand\nnewline"),
        ("\x7f\x85 \U0001f600", "\x7f\x85 \U0001f600"),
    ],
    ids=["nul", "c0-controls", "non-characters", "lone-surrogates", "allowed-c0", "allowed-others"],
)
def test_characters_xml_forbids_are_replaced(text: str, expected: str) -> None:
    assert parse(encode_xml([text])) == [expected]


def test_none_is_an_empty_entry() -> None:
    assert encode_xml([None]).endswith(b"<result><entry/></result>\n")


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (0.038, "0.038"),
        (1.0, "1.0"),
        (1234.5, "1234.5"),
        (0.00001, "0.00001"),
        (0.1 + 0.2, "0.30000000000000004"),
        (-2.5, "-2.5"),
    ],
)
def test_float_is_written_as_in_json(number: float, text: str) -> None:
    assert encode_json(number) == text.encode()
    assert f"<result><entry>{text}</entry></result>".encode() in encode_xml([number])


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_float_is_null_as_in_json(number: float) -> None:
    assert encode_json(number) == b"null"
    assert b"<result><entry/></result>" in encode_xml([number])


def test_nested_struct_skips_unset_fields_like_json() -> None:
    answer = Answer(
        success=True,
        code=200,
        items=[
            Item(success=True, code=200, phoneNumber="+33611", status="Waiting", date="17"),
            Item(success=False, code=4, phoneNumber="+33622", status="Numéro introuvable"),
        ],
    )
    assert parse(encode_xml(answer)) == [
        "true",
        "200",
        [
            ["true", "200", "+33611", "Waiting", "17"],
            ["false", "4", "+33622", "Numéro introuvable"],
        ],
    ]
    assert msgspec.json.decode(encode_json(answer)) == {
        "success": True,
        "code": 200,
        "items": [
            {
                "success": True,
                "code": 200,
                "phoneNumber": "+33611",
                "status": "Waiting",
                "date": "17",
            },
            {"success": False, "code": 4, "phoneNumber": "+33622", "status": "Numéro introuvable"},
        ],
    }


def test_tuple_and_empty_containers_are_entries() -> None:
    assert parse(encode_xml(((1, "a"), [], {}))) == [["1", "a"], None, None]


def test_dict_values_follow_insertion_order_not_key_order() -> None:
    assert parse(encode_xml({"z": 1, "a": 2, "m": 3})) == ["1", "2", "3"]


@pytest.mark.parametrize(
    "value",
    [[b"bytes"], [{1, 2}], [object()], {"nested": [1.5j]}, {"unset": msgspec.UNSET}],
    ids=["bytes", "set", "object", "nested-complex", "unset-outside-a-struct"],
)
def test_value_of_unsupported_type_is_refused(value: Any) -> None:
    with pytest.raises(TypeError):
        encode_xml(value)


@pytest.mark.parametrize("value", ["text", 1, True, None, 0.5])
def test_scalar_at_the_top_is_refused(value: Any) -> None:
    with pytest.raises(TypeError):
        encode_xml(value)


def test_json_keeps_dict_insertion_order() -> None:
    assert encode_json({"z": 1, "a": 2, "m": 3}) == b'{"z":1,"a":2,"m":3}'


def test_json_keeps_struct_field_order_and_skips_unset() -> None:
    item = Item(success=False, code=4, phoneNumber="+33622", status="Numéro introuvable")
    assert (
        encode_json(item)
        == (
            '{"success":false,"code":4,"phoneNumber":"+33622","status":"Numéro introuvable"}'
        ).encode()
    )


def test_json_error_answer_is_the_documented_body() -> None:
    assert (
        encode_json(ERROR_ANSWER) == b'{"success":false,"code":10,"message":"Clef API incorrecte"}'
    )


class Status(enum.StrEnum):
    WAITING = "Waiting"


class Code(enum.IntEnum):
    NOT_FOUND = 4


def test_enum_members_are_written_by_value_as_in_json() -> None:
    assert encode_json([Status.WAITING, Code.NOT_FOUND]) == b'["Waiting",4]'
    assert parse(encode_xml([Status.WAITING, Code.NOT_FOUND])) == ["Waiting", "4"]
