"""What several API test files do the same way."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import httpx


def send(client: httpx.Client, key: str, numbers: str, **extra: Any) -> int:
    """POST /v1/send "Bonjour" to `numbers` (comma-separated); the new message's id."""
    body = {"apiKey": key, "phoneNumbers": numbers, "message": "Bonjour", **extra}
    answer = client.post("/v1/send", json=body)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["message_id"])


def assert_coded(answer: httpx.Response) -> None:
    """A v1 answer below 500, `success` and `code` first, in JSON or in XML.

    No 5xx at all, not even "busy": the test servers share their database with nobody, so
    a 503 there would be a fault of ours passing for contention.
    """
    shown = answer.text[:2000]
    assert answer.status_code < 500, shown
    if answer.headers.get("content-type", "").startswith("text/xml"):
        root = ET.fromstring(answer.content)
        success, code = (entry.text for entry in root[:2])
        assert success in ("true", "false"), shown
        assert (code or "").isdigit(), shown
    else:
        body = answer.json()
        assert isinstance(body["success"], bool), shown
        assert type(body["code"]) is int, shown
