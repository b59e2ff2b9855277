"""Typed results to response bytes, in the two forms v1 clients parse.

The XML form is the one the original service's serializer produced (root
``<result>``, one anonymous ``<entry>`` per value, strings in CDATA); clients
read it by position, so it must hold exactly the members of the JSON form, in
the same order.
"""

import re
from typing import Any

import msgspec

__all__ = ["JSON_MEDIA_TYPE", "XML_MEDIA_TYPE", "encode_json", "encode_xml"]

JSON_MEDIA_TYPE = "application/json"
XML_MEDIA_TYPE = "text/xml; charset=UTF-8"
"""The label the original service most likely sent.

The ``<result>``/``<entry>``/CDATA shape is the default output of PHP's JMS
serializer, and the Symfony stack around it labels XML ``text/xml`` with an
explicit charset; older readers of ``text/xml`` (RFC 3023) would otherwise
assume US-ASCII.
"""

_JSON = msgspec.json.Encoder()
_CONTAINERS = (dict, list, tuple, msgspec.Struct)
_PROLOG = "<?xml version='1.0' encoding='UTF-8'?>\n<result>"
_EPILOGUE = "</result>\n"
# Characters XML 1.0 cannot carry at all (lone surrogates included).
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
# Everything a CDATA section cannot hold verbatim: the above, its terminator,
# and CR, which every XML parser would turn into LF.
_UNSAFE_IN_CDATA = re.compile(r"[\x00-\x08\x0b-\x1f\ufffe\uffff\ud800-\udfff]|]]>")


def encode_json(value: Any) -> bytes:
    """Encode with the one shared encoder.

    msgspec keeps dict insertion order and Struct field order, which the
    contract fixes, and leaves UNSET fields out, which ``encode_xml`` mirrors.
    """
    return _JSON.encode(value)


def encode_xml(value: Any) -> bytes:
    """Encode as the v1 XML form: every value an ``<entry>``, keys dropped.

    Dicts give their values in insertion order and Structs their fields in
    declaration order, leaving out UNSET fields as the JSON encoder does, so
    both forms carry the same members (``omit_defaults`` and tagged Structs
    are not mirrored: result types use neither). Strings go in CDATA, numbers
    and booleans bare, ``None`` is ``<entry/>``. A float is written as the
    JSON body writes it (``0.038``, ``0.00001``; NaN and infinities, null in
    JSON, are ``<entry/>``), so the two forms never disagree on a value.

    Strings parse back to the same text: ``]]>`` and CR are carried outside
    CDATA. Characters XML 1.0 forbids are replaced by U+FFFD, because one of
    them would make the whole document unreadable.

    The top value must be a dict, Struct, list or tuple (its members are the
    root's entries); any value of another type raises ``TypeError``.
    """
    if not isinstance(value, _CONTAINERS):
        raise TypeError(f"the XML root needs a container, not {type(value).__name__}")
    out = [_PROLOG]
    _write_members(value, out)
    out.append(_EPILOGUE)
    return "".join(out).encode()


def _write_members(container: Any, out: list[str]) -> None:
    if isinstance(container, dict):
        members: Any = container.values()
    elif isinstance(container, list | tuple):
        members = container
    else:
        members = [
            member
            for name in container.__struct_fields__
            if (member := getattr(container, name)) is not msgspec.UNSET
        ]
    for value in members:
        # Exact str and int first: they are nearly every value of a result.
        cls = value.__class__
        if cls is str:
            out.append(f"<entry><![CDATA[{_cdata(value)}]]></entry>")
        elif cls is int:
            out.append(f"<entry>{value}</entry>")
        else:
            _write(value, out)


def _write(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(f"<entry><![CDATA[{_cdata(value)}]]></entry>")
    elif isinstance(value, bool):
        out.append("<entry>true</entry>" if value else "<entry>false</entry>")
    elif isinstance(value, int):
        out.append(f"<entry>{int.__repr__(value)}</entry>")
    elif isinstance(value, _CONTAINERS):
        out.append("<entry>")
        _write_members(value, out)
        out.append("</entry>")
    elif value is None:
        out.append("<entry/>")
    elif isinstance(value, float):
        number = _JSON.encode(value).decode()
        out.append("<entry/>" if number == "null" else f"<entry>{number}</entry>")
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as XML")


def _cdata(text: str) -> str:
    if _UNSAFE_IN_CDATA.search(text) is None:
        return text
    text = _FORBIDDEN.sub("\ufffd", text)
    return text.replace("]]>", "]]]]><![CDATA[>").replace("\r", "]]>&#13;<![CDATA[")
