"""Whatever a client sends, the answer is coded and never a 5xx: the input classes, generated.

`test_no_server_error.py` holds a fixed list of wrong values and the named regressions; these
properties feed a real server on loopback whole classes instead: any JSON value (nested past
the recursion limit, integers past 64 bits and past `int`'s digit limit, long strings) in every
field of every endpoint, the same as a PHP form with bracketed keys, any bytes as a body under
any label, any query string, and any calendar day to schedule. tests/properties.py says how
many examples run; `make test-properties-long` is the long run. Every property runs against a
server on each kind of database, SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_from_bytes

import httpx
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsrelay.config import Settings, SimulatorSettings
from tests import databases
from tests.api.helpers import assert_coded
from tests.api.test_no_server_error import ITEM_FIELDS, VALID
from tests.conftest import Admin, free_port, start_server
from tests.databases import STORE_KINDS, PostgresDatabase
from tests.properties import PROPERTIES

PATHS = list(VALID)
POST_ONLY = ("/v1/send", "/v1/bulk-send")
PARAMETER_NAMES = sorted({name for params in VALID.values() for name in params} | {"_format"})
ITEM_NAMES = sorted({name for _, names in ITEM_FIELDS.values() for name in names})
CONTENT_TYPES = [
    None,
    "application/json",
    "application/json; charset=utf-8",
    "application/x-www-form-urlencoded",
    "text/plain",
    "multipart/form-data; boundary=x",
]
QUERY_LIMIT = 8000
"""What an HTTP server takes as a request line; longer queries are cut. Past about 80 KB
uvicorn's parser answers a bare 400 of its own before smsrelay sees the request."""


@dataclass
class Shared:
    client: httpx.Client
    key: str


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(kind, marks=[pytest.mark.postgres] if kind == "postgresql" else [], id=kind)
        for kind in STORE_KINDS
    ],
)
def properties_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The URL of this module's own database, of each kind in turn: pytest runs every test
    of the module on one kind's server, then on the other's.

    PostgreSQL: a database of its own, created and dropped here, not the one of the test
    process, which other tests empty before each test (under this module's server)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('properties') / 'smsrelay.db'}"
        return
    request.getfixturevalue("postgres_database")  # skipped (or failed) without a server
    database = PostgresDatabase.create(databases.POSTGRES_ADMIN_URL)
    try:
        yield database.url
    finally:
        database.drop()


@pytest.fixture(scope="module")
def shared(properties_database: str) -> Iterator[Shared]:
    """One real server per kind of database for every example of the module (a server per
    example would cost more than the examples): what the properties check does not depend
    on its state."""
    database = properties_database
    admin = Admin(database)
    key = admin.key(admin.account("acme", credits=1e6))
    settings = Settings(
        database=database,
        port=free_port(),
        simulator=SimulatorSettings(time_scale=1000.0, stop_replies=0.0),
        delivery="inline",
    )
    try:
        with start_server(settings) as server, httpx.Client(base_url=server.base_url) as client:
            yield Shared(client, key)
    finally:
        admin.close()


# --- values -------------------------------------------------------------------------------


class Big:
    """A large value, shown in a failure report by how it was made rather than in full.

    `raw` marks a JSON token written as is (an integer past 64 bits, a nesting past the
    recursion limit: what a client's JSON library may send but ours cannot build); otherwise
    `text` is a string.
    """

    def __init__(self, text: str, how: str, *, raw: bool = False) -> None:
        self.text, self.how, self.raw = text, how, raw

    def __repr__(self) -> str:
        return self.how


def repeated(unit: str, count: int) -> Big:
    return Big(unit * count, f"{unit!r} * {count}")


def token(opening: str, count: int, closing: str = "") -> Big:
    how = f"{opening!r} * {count}" + (f" + {closing!r} * {count}" if closing else "")
    return Big(opening * count + closing * count, how, raw=True)


def text_of(value: str | Big) -> str:
    return value.text if isinstance(value, Big) else value


def json_of(value: Any) -> bytes:
    return msgspec.json.encode(value, enc_hook=_written)


def _written(value: object) -> object:
    if isinstance(value, Big):
        return msgspec.Raw(value.text.encode()) if value.raw else value.text
    raise TypeError(f"not a value of these tests: {value!r}")


# Lengths around the limits that matter: int()'s 4,300 digits, the recursion limit (~1,000).
LENGTHS = st.sampled_from([19, 20, 999, 1000, 1500, 4300, 4301, 6000]) | st.integers(1, 6000)
HUGE_INTEGERS = st.builds(token, st.sampled_from(["9", "-9", "1", "-1"]), LENGTHS)
DEEP_JSON = st.builds(
    token, st.sampled_from(["[", '{"a":[', "[{},["]), LENGTHS, st.sampled_from(["", "]"])
)
# The same as text, as a list is sent in a query string or a form.
DEEP_TEXT = st.builds(repeated, st.sampled_from(["[", "[[]", "[{}, "]), LENGTHS)
LONG_STRINGS = st.builds(
    repeated,
    st.sampled_from(["9", " ", "0", "+3", "é", "\U0001f600", "[", "]]>"]),
    # Bodies stay under the 1 MiB limit even percent-encoded: a larger one is refused (413)
    # before it is read, which tests/api/test_multi_status.py covers.
    st.sampled_from([16, 100, 101, 60_000]) | st.integers(16, 60_000),
)
FIELD_LIKE = st.one_of(
    st.from_regex(r"\A[0-9]{1,2}/[0-9]{1,2}/[0-9]{1,5}\Z"),
    st.dates().map(lambda day: f"{day.day:02d}/{day.month:02d}/{day.year:04d}"),
    st.from_regex(r"\A[+0]?[0-9 .()\-]{0,40}\Z"),
    st.builds(repeated, st.just("9"), LENGTHS),
    st.sampled_from(["xml", "XML", "json", "true", "false", "0", "1", "2", "-1", "[]", "[{}]"]),
)
ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | FIELD_LIKE,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(ITEM_NAMES) | st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
# Each class as likely as any other, so that a few examples per field meet every class.
JSON_VALUES = st.one_of(ANY_JSON, DEEP_JSON, DEEP_TEXT, HUGE_INTEGERS, LONG_STRINGS, FIELD_LIKE)


def fields() -> list[tuple[str, str]]:
    """Every (endpoint, field) a request can carry; `item.x` is a field of a list's item."""
    found = []
    for path, params in VALID.items():
        found += [(path, name) for name in dict.fromkeys([*params, "apiKey", "_format", "sandbox"])]
        if path in ITEM_FIELDS:
            found += [(path, f"item.{name}") for name in ITEM_FIELDS[path][1]]
    return found


FIELDS = [pytest.param(path, field, id=f"{path}:{field}") for path, field in fields()]


def with_value(path: str, field: str, key: str, value: Any) -> dict[str, Any]:
    """A valid request of `path` with `field` (or its item's field) set to `value`."""
    params: dict[str, Any] = {"apiKey": key, **VALID[path]}
    if field.startswith("item."):
        list_name, _ = ITEM_FIELDS[path]
        params[list_name] = [{**params[list_name][0], field.removeprefix("item."): value}]
    else:
        params[field] = value
    return params


def form_pairs(params: dict[str, Any]) -> list[tuple[str, str]]:
    """`params` as PHP's http_build_query writes them: nested keys in brackets."""
    pairs: list[tuple[str, str]] = []

    def add(key: str, value: Any) -> None:
        if isinstance(value, dict):
            for name, member in value.items():
                add(f"{key}[{name}]", member)
        elif isinstance(value, list):
            for index, member in enumerate(value):
                add(f"{key}[{index}]", member)
        elif isinstance(value, Big):
            pairs.append((key, value.text))
        elif isinstance(value, bool):
            pairs.append((key, "1" if value else "0"))
        elif isinstance(value, str):
            pairs.append((key, value))
        elif value is not None:
            pairs.append((key, json_of(value).decode()))

    for name, value in params.items():
        add(name, value)
    return pairs


def encode_form(pairs: list[tuple[str | Big, str | Big]]) -> str:
    # Brackets are left as they are, as hand-written clients do; everything else is quoted.
    return "&".join(
        f"{quote(text_of(k), safe='[]')}={quote(text_of(v), safe='[]')}" for k, v in pairs
    )


def bracketed(name: str, segments: list[str | Big], tail: str) -> Big:
    key = name + "".join(f"[{text_of(segment)}]" for segment in segments) + tail
    return Big(key, " + ".join(repr(part) for part in [name, *segments, tail]))


SEGMENTS = st.one_of(
    st.just(""),
    st.builds(repeated, st.sampled_from(["1", "0"]), LENGTHS),
    st.from_regex(r"\A[0-9]{1,3}\Z"),
    st.sampled_from(ITEM_NAMES),
    st.text(max_size=6),
)
BRACKETED_KEYS = st.builds(
    bracketed,
    st.sampled_from(PARAMETER_NAMES) | st.text(max_size=6),
    st.lists(SEGMENTS, max_size=12),
    st.sampled_from(["", "", "[", "]", "[x", "]["]),
)
FORM_VALUES = st.one_of(st.text(), FIELD_LIKE, DEEP_TEXT, DEEP_JSON)


# --- the properties -----------------------------------------------------------------------


@pytest.mark.parametrize(("path", "field"), FIELDS)
@PROPERTIES
@given(value=JSON_VALUES)
def test_any_json_value_in_any_field_gets_a_coded_answer(
    shared: Shared, path: str, field: str, value: Any
) -> None:
    body = json_of(with_value(path, field, shared.key, value))
    assert_coded(shared.client.post(path, content=body))


@pytest.mark.parametrize(("path", "field"), FIELDS)
@PROPERTIES
@given(value=JSON_VALUES)
def test_any_value_in_any_field_of_a_form_gets_a_coded_answer(
    shared: Shared, path: str, field: str, value: Any
) -> None:
    body = encode_form(form_pairs(with_value(path, field, shared.key, value)))
    answer = shared.client.post(
        path, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert_coded(answer)


@pytest.mark.parametrize("path", PATHS)
@PROPERTIES
@given(
    content_type=st.sampled_from(CONTENT_TYPES),
    body=st.binary(max_size=4000)
    | st.tuples(
        st.sampled_from([b"{", b"[", b"\xef\xbb\xbf{", b"apiKey=", b"a[0]="]), st.binary()
    ).map(b"".join),
)
def test_any_bytes_as_a_body_get_a_coded_answer(
    shared: Shared, path: str, content_type: str | None, body: bytes
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    answer = shared.client.post(path, params={"apiKey": shared.key}, content=body, headers=headers)
    assert_coded(answer)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("where", ["query", "form"])
@PROPERTIES
@given(
    pairs=st.lists(st.tuples(BRACKETED_KEYS, FORM_VALUES), max_size=8),
    raw=st.binary(max_size=300),
)
def test_any_query_string_or_form_with_bracketed_keys_gets_a_coded_answer(
    shared: Shared, path: str, where: str, pairs: list[tuple[Big, str | Big]], raw: bytes
) -> None:
    fields = f"apiKey={shared.key}&{encode_form(pairs)}&{quote_from_bytes(raw, safe='&=[]')}"
    if where == "form":
        answer = shared.client.post(
            path, content=fields, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
    else:
        url = httpx.URL(path, query=fields[:QUERY_LIMIT].encode())
        answer = shared.client.post(url) if path in POST_ONLY else shared.client.get(url)
    assert_coded(answer)


EDGES_OF_THE_CALENDAR = st.sampled_from(
    [datetime.date.min, datetime.date.min + datetime.timedelta(days=1), datetime.date.max]
)


@pytest.mark.parametrize("path", POST_ONLY)
@PROPERTIES
@given(
    day=st.dates() | EDGES_OF_THE_CALENDAR,
    hour=st.integers(-1, 24) | st.sampled_from([0, 23, "0", "00", "23", "024"]),
    minute=st.sampled_from([None, 0, 5, 55, 3, 60, "0"]),
)
def test_any_calendar_day_and_time_to_schedule_gets_a_coded_answer(
    shared: Shared, path: str, day: datetime.date, hour: int | str, minute: int | str | None
) -> None:
    schedule = {
        "scheduledDeliveryDate": f"{day.day:02d}/{day.month:02d}/{day.year:04d}",
        "time": hour,
        "minute": minute,
    }
    answer = shared.client.post(path, json={"apiKey": shared.key, **VALID[path], **schedule})
    assert_coded(answer)
