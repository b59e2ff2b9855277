"""What several API test files do the same way."""

from __future__ import annotations

from typing import Any

import httpx


def send(client: httpx.Client, key: str, numbers: str, **extra: Any) -> int:
    """POST /v1/send "Bonjour" to `numbers` (comma-separated); the new message's id."""
    body = {"apiKey": key, "phoneNumbers": numbers, "message": "Bonjour", **extra}
    answer = client.post("/v1/send", json=body)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["message_id"])
