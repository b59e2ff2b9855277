"""Request bytes to parameters, the way v1 clients actually send them.

Clients of the v1 API post JSON under any Content-Type (the documentation's
PHP sample labels it a form, its Python sample sends no header at all), and
some post real PHP forms (``http_build_query``). The body is therefore
recognised by its content, never by its headers; see ``decode_body``.
"""

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

import msgspec

__all__ = ["MAX_DEPTH", "MalformedBody", "decode_body", "decode_json", "decode_query"]

MAX_DEPTH = 8
"""Bracket segments a form key may have before it is taken literally.

The deepest real parameter is ``SMSStatut_List[0][phoneNumber]`` (two); the
bound keeps a hostile key from building an arbitrarily deep tree.
"""


MAX_INDEX = 2**63 - 1
"""The largest bracket segment read as a list index, PHP's largest integer.

A longer run of digits is a name, as PHP keeps it: the index of no list a client can send,
and past 4,300 digits not even a number `int()` accepts.
"""
_MAX_INDEX_DIGITS = len(str(MAX_INDEX))


class MalformedBody(Exception):
    """The body is neither a JSON object nor a form encoding (API code 90)."""


_JSON_OBJECT = msgspec.json.Decoder(dict[str, Any])
_JSON_VALUE = msgspec.json.Decoder()
_JSON_WHITESPACE = b" \t\r\n"
_JSON_OPENERS = b"{["
_UTF8_BOM = b"\xef\xbb\xbf"
# A name followed by one or more [segment]; the name and segments hold no brackets.
_BRACKET_KEY = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])+)")


def decode_body(body: bytes) -> dict[str, Any]:
    """Decode a request body into its parameters, whatever it was labelled.

    An empty (or blank) body has no parameters. A body opening with ``{`` or
    ``[`` was meant as JSON and must be a valid JSON object: a client that sent
    a JSON array or a truncated document gets code 90, not a form reading of
    its JSON. Anything else must be a strict form encoding, expanded as
    ``decode_query`` does; its values stay strings. A leading UTF-8 byte order
    mark (some .NET writers emit one) and surrounding whitespace are ignored.

    The form has to be valid UTF-8 once percent-decoded, made of ``name=value``
    fields only (a bare ``name``, an empty field or an empty name is not a
    form), so that prose or binary posted by mistake is reported as code 90
    rather than read as a parameter named after it.
    """
    text = body.removeprefix(_UTF8_BOM).strip(_JSON_WHITESPACE)
    if not text:
        return {}
    if text[0] in _JSON_OPENERS:
        params: dict[str, Any] = _decode_json(_JSON_OBJECT, text, "JSON object")
        return params
    try:
        pairs = parse_qsl(
            # PHP's http_build_query percent-encodes every bracket; decoding them
            # first (a no-op on the result) spares unquote its slow path on keys.
            text.decode().replace("%5B", "[").replace("%5D", "]"),
            keep_blank_values=True,
            strict_parsing=True,
            errors="strict",
        )
    except ValueError as error:  # UnicodeDecodeError included
        raise MalformedBody(f"not a form encoding: {error}") from error
    if any(not key for key, _ in pairs):
        raise MalformedBody("not a form encoding: a field has no name")
    return _expand(pairs)


def decode_json(text: str) -> Any:
    """Decode a JSON document sent inside a parameter (a list in a query string or a form).

    Raises `MalformedBody` when it is not JSON, and when it nests deeper than the decoder can
    follow: msgspec raises RecursionError past Python's recursion limit (about 1,000 levels,
    fewer the deeper the caller's stack), which is the client's input, not a fault of ours.
    """
    return _decode_json(_JSON_VALUE, text, "JSON document")


def _decode_json(decoder: msgspec.json.Decoder[Any], text: str | bytes, what: str) -> Any:
    try:
        return decoder.decode(text)
    # DecodeError, and UnicodeDecodeError for bad UTF-8 inside a string, are ValueErrors.
    except (ValueError, RecursionError) as error:
        raise MalformedBody(f"not a {what}: {error}") from error


def decode_query(query_string: bytes | str) -> dict[str, Any]:
    """Decode a query string into its parameters, forgiving what browsers forgive.

    A bare ``flag`` is ``""``, empty fields and nameless fields are skipped,
    and undecodable bytes become U+FFFD: a GET's parameters are validated one
    by one later, so a sloppy query string must not hide the ones it does hold.

    PHP bracket notation is expanded as PHP does, so that a query built by
    ``http_build_query`` reads like the JSON it stands for:

    - ``a[x]=1&a[y]=2`` is ``{"a": {"x": "1", "y": "2"}}``;
    - ``a[]=x&a[]=y`` is ``{"a": ["x", "y"]}``, ``[]`` taking the index after
      the largest one seen so far at that level;
    - a mapping whose keys are all decimal integers becomes a list in the
      order of those integers, gaps closed (``a[5]=x&a[2]=y`` is
      ``["y", "x"]``);
    - a name given twice keeps its last value, whether scalar or nested
      (``a=1&a[b]=2`` is ``{"a": {"b": "2"}}``);
    - a segment of more than ``MAX_INDEX`` (``a[99999999999999999999]``) is a
      name, not an index, as PHP keeps it;
    - a key that is not plain bracket notation (``a]b[``, ``a[b``,
      ``a[b]c``) or that nests deeper than ``MAX_DEPTH`` is a literal name,
      matching no API parameter, so the request fails on that parameter's
      own error code instead of being half-read.

    PHP's renaming of ``.`` and spaces in names to ``_`` is not reproduced:
    no v1 parameter name contains either.
    """
    if isinstance(query_string, bytes):
        query_string = query_string.decode(errors="replace")
    pairs = parse_qsl(query_string, keep_blank_values=True)
    return _expand((key, value) for key, value in pairs if key)


class _Node(dict[str, Any]):
    """A bracket-notation container while the form is being read.

    It remembers where PHP's ``[]`` appends (after the largest index seen) and
    whether all its keys are indices, so that neither needs a second pass.
    """

    __slots__ = ("indexed", "next_index")

    def __init__(self) -> None:
        self.indexed = True
        self.next_index = 0


def _expand(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    root = _Node()
    for key, value in pairs:
        match = _BRACKET_KEY.fullmatch(key) if "[" in key else None
        # The pattern guarantees "[s1][s2]...": splitting on "][" yields the segments.
        segments = match[2][1:-1].split("][") if match else ()
        if not match or len(segments) > MAX_DEPTH:
            root[key] = value
            continue
        node = root
        name: str = match[1]
        for segment in segments:
            child = node.get(name)
            if not isinstance(child, _Node):
                child = node[name] = _Node()
            node = child
            if not segment:
                name = str(node.next_index)
                node.next_index += 1
            # The length first: int() of a hostile run of digits is slow, past 4,300 refused.
            elif (
                len(segment) <= _MAX_INDEX_DIGITS
                and segment.isdigit()
                and segment.isascii()
                and (index := int(segment)) <= MAX_INDEX
            ):
                name = segment
                if index >= node.next_index:
                    node.next_index = index + 1
            else:
                name = segment
                node.indexed = False
        node[name] = value
    return {name: _settle(value) for name, value in root.items()}


def _index(item: tuple[str, Any]) -> int:
    return int(item[0])


def _settle(value: Any) -> Any:
    if not isinstance(value, _Node):
        return value
    if value.indexed:
        return [_settle(member) for _, member in sorted(value.items(), key=_index)]
    return {name: _settle(member) for name, member in value.items()}
