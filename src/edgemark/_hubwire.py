"""Reading the hub's HTTP answers, shared by the node's and the admin's hub clients.

The two clients must not import each other (edge and hub talk HTTP only), so the parts
of an answer both read — the error detail and a JSON object body — live here, in core.
"""

from __future__ import annotations

from typing import Any

import httpx

from edgemark.errors import HubError


def response_detail(response: httpx.Response) -> str:
    """The hub's ``{"detail": ...}`` of an error answer, or the start of its body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])
    return str(body)[:500]


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object; ``HubError`` when the body is not one."""
    where = f"{response.request.method} {response.request.url.path}"
    try:
        body = response.json()
    except ValueError:
        raise HubError(
            f"hub answered {where} with non-JSON content; is {response.request.url.host} "
            "an edgemark hub?",
            response.status_code,
        ) from None
    if not isinstance(body, dict):
        raise HubError(f"hub answered {where} with a non-object JSON body", response.status_code)
    return body
