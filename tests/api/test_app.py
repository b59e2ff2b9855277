"""The application's own routes: health, and paths that are no route."""

from __future__ import annotations

import httpx
import pytest


def test_health_is_ok_while_the_delivery_engine_runs(client: httpx.Client) -> None:
    answer = client.get("/health")
    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})


@pytest.mark.parametrize("path", ["/v1/send/", "/v1/multi-status/", "/health/"])
def test_a_trailing_slash_is_a_coded_404_never_a_redirect_to_the_clients_host(
    client: httpx.Client, path: str
) -> None:
    answer = client.post(path, headers={"Host": "attacker.example"}, content=b"{}")
    assert answer.status_code == 404
    assert "location" not in answer.headers
    assert answer.json() == {
        "success": False,
        "code": 404,
        "message": "Cette adresse n'existe pas",
    }
