import contextlib
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsrelay.api.wire import (
    MAX_DEPTH,
    MAX_INDEX,
    MalformedBody,
    decode_body,
    decode_json,
    decode_query,
)
from tests.properties import PROPERTIES

SEED_REQUEST = {
    "apiKey": "Votre clé API",
    "SMSStatut_List": [
        {"phoneNumber": "0619922264", "messageId": 199897},
        {"phoneNumber": "06xxxxxxx2", "messageId": 1000},
    ],
}


@pytest.mark.parametrize("body", [b"", b"   ", b" \r\n\t"])
def test_empty_or_blank_body_has_no_parameters(body: bytes) -> None:
    assert decode_body(body) == {}


@pytest.mark.parametrize(
    "body",
    [
        b'{"apiKey": "Votre cl\xc3\xa9 API", "SMSStatut_List": [{"phoneNumber": "0619922264",'
        b' "messageId": 199897}, {"phoneNumber": "06xxxxxxx2", "messageId": 1000}]}',
        b'\r\n  {"apiKey":"Votre cl\xc3\xa9 API","SMSStatut_List":[{"phoneNumber":"0619922264",'
        b'"messageId":199897},{"phoneNumber":"06xxxxxxx2","messageId":1000}]}\n',
    ],
    ids=["spaced", "compact-with-surrounding-whitespace"],
)
def test_json_object_body_is_decoded_with_its_json_types(body: bytes) -> None:
    assert decode_body(body) == SEED_REQUEST


def test_json_body_keeps_key_order() -> None:
    assert list(decode_body(b'{"z": 1, "a": 2, "m": 3}')) == ["z", "a", "m"]


def test_json_body_after_a_utf8_byte_order_mark_is_decoded() -> None:
    assert decode_body(b'\xef\xbb\xbf{"apiKey": "k"}') == {"apiKey": "k"}


@pytest.mark.parametrize(
    "body",
    [
        b'[{"apiKey": "k"}]',
        b'{"apiKey": "k", "SMSStatut_List": [{"phoneNumber": "06',
        b'{"apiKey": "k"} trailing',
        b"{apiKey=k}",
        b"[0]=x",
        b'{"apiKey": "\xff"}',
        b'{"apiKey": "\\ud800"}',
        b'{"a": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
    ],
    ids=[
        "array",
        "truncated",
        "trailing-garbage",
        "brace-led-form",
        "bracket-led-form",
        "bad-utf8",
        "lone-surrogate-escape",
        "hostile-nesting",
    ],
)
def test_body_opening_like_json_must_be_a_json_object(body: bytes) -> None:
    with pytest.raises(MalformedBody):
        decode_body(body)


def test_form_body_from_php_http_build_query_is_expanded() -> None:
    # PHP's http_build_query percent-encodes the brackets.
    body = (
        b"apiKey=Votre+cl%C3%A9+API"
        b"&SMSStatut_List%5B0%5D%5BphoneNumber%5D=0619922264"
        b"&SMSStatut_List%5B0%5D%5BmessageId%5D=199897"
        b"&SMSStatut_List%5B1%5D%5BphoneNumber%5D=06xxxxxxx2"
        b"&SMSStatut_List%5B1%5D%5BmessageId%5D=1000"
    )
    assert decode_body(body) == {
        "apiKey": "Votre clé API",
        "SMSStatut_List": [
            {"phoneNumber": "0619922264", "messageId": "199897"},
            {"phoneNumber": "06xxxxxxx2", "messageId": "1000"},
        ],
    }


def test_form_body_with_literal_brackets_is_expanded() -> None:
    body = b"SMSStatut_List[0][phoneNumber]=0611&SMSStatut_List[0][messageId]=12"
    assert decode_body(body) == {"SMSStatut_List": [{"phoneNumber": "0611", "messageId": "12"}]}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"apiKey=k&_format=xml", {"apiKey": "k", "_format": "xml"}),
        (b"a=", {"a": ""}),
        (b"a=1&a=2", {"a": "2"}),
        (b"a[]=x&a[]=y", {"a": ["x", "y"]}),
        (b"a[5]=x&a[2]=y", {"a": ["y", "x"]}),
        (b"a[0]=x&a[]=y", {"a": ["x", "y"]}),
        (b"a[5]=x&a[]=y&a[2]=z", {"a": ["z", "x", "y"]}),
        (b"a[][b]=1&a[][b]=2", {"a": [{"b": "1"}, {"b": "2"}]}),
        (b"a[x]=1&a[y]=2", {"a": {"x": "1", "y": "2"}}),
        (b"a[x]=1&a[0]=2", {"a": {"x": "1", "0": "2"}}),
        (b"a[0]=1&a[x]=2", {"a": {"0": "1", "x": "2"}}),
        (b"a[1][b]=x&a[0][b]=y", {"a": [{"b": "y"}, {"b": "x"}]}),
        (b"a[b]=1&a[b]=2", {"a": {"b": "2"}}),
        (b"a[]=", {"a": [""]}),
    ],
    ids=[
        "plain",
        "blank-value",
        "repeated-key-last-wins",
        "appended",
        "indices-ordered-gaps-closed",
        "append-after-index",
        "append-after-largest-index",
        "append-of-mappings",
        "mapping",
        "mixed-keys-stay-a-mapping",
        "index-then-name-stays-a-mapping",
        "nested-indices-ordered",
        "repeated-nested-key-last-wins",
        "appended-blank",
    ],
)
def test_form_bracket_notation_is_expanded_like_php(body: bytes, expected: dict[str, Any]) -> None:
    assert decode_body(body) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"a=1&a[b]=2", {"a": {"b": "2"}}),
        (b"a[b]=2&a=1", {"a": "1"}),
        (b"a[b]=1&a[b][c]=2", {"a": {"b": {"c": "2"}}}),
        (b"a[b][c]=2&a[b]=1", {"a": {"b": "1"}}),
    ],
    ids=["container-after-scalar", "scalar-after-container", "deeper-after-scalar", "reverse"],
)
def test_form_key_both_scalar_and_container_keeps_the_later(
    body: bytes, expected: dict[str, Any]
) -> None:
    assert decode_body(body) == expected


@pytest.mark.parametrize(
    "key",
    ["a]b[", "a[b", "a[b]c", "a[[b]]", "[b]", "a]"],
)
def test_form_key_not_in_bracket_notation_is_taken_literally(key: str) -> None:
    assert decode_body(urlencode({key: "v"}).encode()) == {key: "v"}


def test_form_key_nested_up_to_max_depth_is_expanded() -> None:
    key = "a" + "[x]" * MAX_DEPTH
    expected: Any = "v"
    for _ in range(MAX_DEPTH):
        expected = {"x": expected}
    assert decode_body(urlencode({key: "v"}).encode()) == {"a": expected}


def test_form_key_nested_deeper_than_max_depth_is_taken_literally() -> None:
    key = "a" + "[x]" * (MAX_DEPTH + 1)
    assert decode_body(urlencode({key: "v"}).encode()) == {key: "v"}


def test_form_body_surrounded_by_whitespace_is_decoded() -> None:
    assert decode_body(b"apiKey=k\r\n") == {"apiKey": "k"}


@pytest.mark.parametrize(
    "body",
    [
        b"a",
        b"apiKey=k&flag",
        b"a=1&&b=2",
        b"a=1&",
        b"=x",
        b"a=1&=x",
        b"Bonjour",
        b"a=\xe9t\xe9",
        b"a=%E9t%E9",
        b"\xff\xfe\x00a",
    ],
    ids=[
        "bare-name",
        "bare-name-after-field",
        "empty-field",
        "trailing-separator",
        "nameless",
        "nameless-after-field",
        "prose",
        "raw-latin1",
        "percent-encoded-latin1",
        "binary",
    ],
)
def test_body_that_is_not_a_strict_form_encoding_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedBody):
        decode_body(body)


@pytest.mark.parametrize("query", [b"apiKey=k&messageId=12", "apiKey=k&messageId=12"])
def test_query_string_is_decoded_from_bytes_or_text(query: bytes | str) -> None:
    assert decode_query(query) == {"apiKey": "k", "messageId": "12"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (b"", {}),
        (b"flag", {"flag": ""}),
        (b"a=&b", {"a": "", "b": ""}),
        (b"a=1&&b=2&", {"a": "1", "b": "2"}),
        (b"=x&a=1", {"a": "1"}),
        (b"a=%FF", {"a": "\ufffd"}),
        (b"a=\xff", {"a": "\ufffd"}),
        (b"tag=caf%C3%A9+cr%C3%A8me", {"tag": "café crème"}),
    ],
    ids=[
        "empty",
        "bare-name",
        "blank-values",
        "empty-fields-skipped",
        "nameless-skipped",
        "bad-percent-utf8-replaced",
        "bad-raw-utf8-replaced",
        "plus-and-percent",
    ],
)
def test_query_string_is_read_leniently(query: bytes, expected: dict[str, Any]) -> None:
    assert decode_query(query) == expected


def test_query_string_bracket_notation_is_expanded() -> None:
    query = "SMSStatut_List%5B0%5D%5BphoneNumber%5D=0611&SMSStatut_List%5B0%5D%5BmessageId%5D=12"
    assert decode_query(query) == {"SMSStatut_List": [{"phoneNumber": "0611", "messageId": "12"}]}


# --- hostile input: a value or MalformedBody, nothing else -------------------------------


@pytest.mark.parametrize("digits", ["1" * 4301, "9" * 20, str(MAX_INDEX + 1)])
def test_a_bracket_index_past_phps_integers_is_a_name(digits: str) -> None:
    fields = f"a[{digits}]=1&a[]=2"
    expected = {"a": {digits: "1", "0": "2"}}
    assert decode_query(fields) == expected
    assert decode_body(fields.encode()) == expected


def test_the_largest_php_integer_is_still_an_index() -> None:
    assert decode_query(f"a[{MAX_INDEX}]=1&a[3]=2") == {"a": ["2", "1"]}


@pytest.mark.parametrize("text", ["[" * 5000, "[" * 1500 + "]" * 1500, '{"a":' * 3000])
def test_json_nested_past_the_recursion_limit_is_malformed(text: str) -> None:
    with pytest.raises(MalformedBody):
        decode_json(text)
    with pytest.raises(MalformedBody):
        decode_body(b'{"a":' + text.encode() + b"}")


def test_json_inside_a_parameter_is_decoded_whatever_its_type() -> None:
    assert decode_json('[{"phoneNumber": "0611", "messageId": 12}]') == [
        {"phoneNumber": "0611", "messageId": 12}
    ]


SEGMENT = st.one_of(
    st.just(""),
    st.text(max_size=4),
    st.integers(1, 6000).map(lambda length: "1" * length),
    st.sampled_from(["0", "00", str(MAX_INDEX), str(MAX_INDEX + 1)]),
)
FORM_KEY = st.builds(
    lambda name, segments, tail: name + "".join(f"[{s}]" for s in segments) + tail,
    st.text(max_size=4),
    st.lists(SEGMENT, max_size=MAX_DEPTH + 2),
    st.sampled_from(["", "[", "]", "]["]),
)


@PROPERTIES
@given(st.lists(st.tuples(FORM_KEY, st.text(max_size=8)), max_size=6))
def test_any_bracketed_form_is_read_as_parameters(pairs: list[tuple[str, str]]) -> None:
    fields = "&".join(f"{quote(k, safe='[]')}={quote(v)}" for k, v in pairs)
    assert isinstance(decode_query(fields), dict)
    # A body opening with a bracket is JSON: that one may be malformed.
    with contextlib.suppress(MalformedBody):
        assert isinstance(decode_body(fields.encode()), dict)


JSONISH = st.lists(st.sampled_from(list(b'[{]}"a:,1 ')), max_size=4000).map(bytes)


@PROPERTIES
@given(st.binary(max_size=2000) | JSONISH)
def test_any_bytes_are_parameters_or_malformed(body: bytes) -> None:
    with contextlib.suppress(MalformedBody):
        assert isinstance(decode_body(body), dict)
    assert isinstance(decode_query(body), dict)
