"""Refusals become HTTP answers here, and only here.

The body is always the documented error body; the HTTP status follows the decision of
v1-api.md §1 (clients of the live service treat any non-200 as an error and parse the
same body from it).
"""

from __future__ import annotations

from typing import Any

from smsrelay.domain.problems import Language, Problem, Refused

_STATUS_BY_CODE = {
    1: 401,
    10: 401,
    20: 403,
    30: 403,
    40: 403,
    96: 403,
    404: 404,
    405: 405,
    500: 500,
}
_STATUS_BY_PROBLEM = {Problem.BODY_TOO_LARGE: 413, Problem.BUSY: 503}


def http_status(problem: Problem) -> int:
    return _STATUS_BY_PROBLEM.get(problem) or _STATUS_BY_CODE.get(problem.code, 400)


def error_body(refused: Refused, language: Language) -> dict[str, Any]:
    """`{success, code, message}`, or `{success, code, error: [...]}` for field errors."""
    if refused.fields:
        return {
            "success": False,
            "code": refused.problem.code,
            "error": [
                {"elementId": f.element_id, "message": f.problem.text(language)}
                for f in refused.fields
            ],
        }
    return {
        "success": False,
        "code": refused.problem.code,
        "message": refused.problem.text(language),
    }
