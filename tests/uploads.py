"""Real GraphQL multipart requests (the multipart request spec), as upload clients send them."""

from __future__ import annotations

import json
from typing import Any

import httpx

PREFLIGHT = {"Apollo-Require-Preflight": "true"}


async def upload(
    http: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any],
    files: dict[str, tuple[str, bytes, str]],
    mapping: dict[str, list[str]],
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST operations, map, then the files - in the order the spec requires."""
    sent = dict(PREFLIGHT if headers is None else headers)
    if token:
        sent["Authorization"] = f"Bearer {token}"
    if not files:  # httpx would fall back to urlencoded: write the multipart body ourselves
        boundary = "contentgraph-test-boundary"
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            for name, value in (
                ("operations", json.dumps({"query": query, "variables": variables})),
                ("map", json.dumps(mapping)),
            )
        ]
        sent["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        body = ("".join(parts) + f"--{boundary}--\r\n").encode()
        return await http.post("/graphql", content=body, headers=sent)
    return await http.post(
        "/graphql",
        data={
            "operations": json.dumps({"query": query, "variables": variables}),
            "map": json.dumps(mapping),
        },
        files={
            name: (filename, content, kind) for name, (filename, content, kind) in files.items()
        },
        headers=sent,
    )
