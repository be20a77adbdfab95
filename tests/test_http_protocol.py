"""GraphQL over HTTP at /graphql: negotiation, methods, malformed requests, limits, error codes.

Every client mistake gets a JSON body with a stable ``extensions.code`` and a 4xx (or a 200 with
errors, where the spec asks for one) - never a 500, never plain text, never a traceback. Only
our own failures are 5xx, and those are masked and logged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

import schema.pagination
from schema.limits import DocumentGuard
from tests.conftest import as_admin

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"
TYPENAME = {"query": "{ __typename }"}
#: Under graphql-response+json a request error is a 400; under application/json always a 200.
STATUS_BY_MEDIA_TYPE = [(APPLICATION_JSON, 200), (GRAPHQL_RESPONSE_JSON, 400)]


@pytest.fixture
async def client(app: Starlette, client: httpx.AsyncClient) -> httpx.AsyncClient:
    """These tests are about the protocol, not permissions: sign in as an administrator."""
    return await as_admin(app, client)


async def post(
    client: httpx.AsyncClient,
    body: object = TYPENAME,
    *,
    accept: str = APPLICATION_JSON,
    **kwargs: Any,
) -> httpx.Response:
    """POST to /graphql, checking what holds for every answer: no 5xx, a JSON body."""
    headers = {"accept": accept}
    if "content" not in kwargs:
        # Not json=: httpx sends no body at all for json=None.
        kwargs["content"] = json.dumps(body)
        headers["content-type"] = APPLICATION_JSON
    headers.update(kwargs.pop("headers", {}))
    response = await client.post("/graphql", headers=headers, **kwargs)
    return checked(response)


def checked(response: httpx.Response) -> httpx.Response:
    assert response.status_code < 500, response.text
    assert response.headers["content-type"].startswith((APPLICATION_JSON, GRAPHQL_RESPONSE_JSON)), (
        response.headers
    )
    return response


def codes(response: httpx.Response) -> list[str]:
    return [error["extensions"]["code"] for error in response.json()["errors"]]


def assert_http_error(response: httpx.Response, status: int, code: str) -> None:
    """A transport-level refusal: the status, and the one JSON error with its code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == APPLICATION_JSON
    (error,) = response.json()["errors"]
    assert isinstance(error["message"], str) and error["message"]
    assert error["extensions"] == {"code": code}


def assert_request_error(response: httpx.Response, status: int, code: str) -> None:
    """Refused before execution: the status for the media type, no data entry, the code."""
    assert response.status_code == status, response.text
    body = response.json()
    assert "data" not in body, body
    assert codes(response) == [code] * len(body["errors"]) and body["errors"]


# Content negotiation


async def test_post_json_query_answers_application_json(client: httpx.AsyncClient) -> None:
    response = await post(client)
    assert response.status_code == 200
    assert response.headers["content-type"] == APPLICATION_JSON
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_accepting_graphql_response_json_gets_that_content_type(
    client: httpx.AsyncClient,
) -> None:
    response = await post(client, accept=GRAPHQL_RESPONSE_JSON)
    assert response.status_code == 200
    assert response.headers["content-type"] == GRAPHQL_RESPONSE_JSON
    assert response.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (f"{APPLICATION_JSON};q=0.5, {GRAPHQL_RESPONSE_JSON};q=0.9", GRAPHQL_RESPONSE_JSON),
        (f"{GRAPHQL_RESPONSE_JSON};q=0.2, {APPLICATION_JSON}", APPLICATION_JSON),
        (f"{GRAPHQL_RESPONSE_JSON};q=0, {APPLICATION_JSON};q=0.1", APPLICATION_JSON),
        (f"{GRAPHQL_RESPONSE_JSON}, {APPLICATION_JSON}", GRAPHQL_RESPONSE_JSON),
        ("text/html;q=1, application/*;q=0.3", APPLICATION_JSON),
        ("*/*", APPLICATION_JSON),
    ],
)
async def test_accept_q_values_choose_the_response_type(
    client: httpx.AsyncClient, accept: str, media_type: str
) -> None:
    response = await post(client, accept=accept)
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type


@pytest.mark.parametrize(
    "accept", ["text/plain", "text/html", f"{GRAPHQL_RESPONSE_JSON};q=0, {APPLICATION_JSON};q=0"]
)
async def test_unacceptable_accept_is_406_with_json_error(
    client: httpx.AsyncClient, accept: str
) -> None:
    assert_http_error(await post(client, accept=accept), 406, "NOT_ACCEPTABLE")


async def test_missing_accept_answers_application_json(client: httpx.AsyncClient) -> None:
    request = client.build_request("POST", "/graphql", json=TYPENAME)
    del request.headers["accept"]
    response = checked(await client.send(request))
    assert response.status_code == 200
    assert response.headers["content-type"] == APPLICATION_JSON


# Methods


async def test_get_runs_queries(client: httpx.AsyncClient) -> None:
    response = checked(
        await client.get(
            "/graphql",
            params={
                "query": "query Q($n: String!) { __type(name: $n) { name } }",
                "variables": '{"n": "Query"}',
            },
            headers={"accept": GRAPHQL_RESPONSE_JSON},
        )
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"__type": {"name": "Query"}}}


@pytest.mark.parametrize("accept", [APPLICATION_JSON, GRAPHQL_RESPONSE_JSON])
async def test_get_refuses_mutations_with_405_and_allow(
    client: httpx.AsyncClient, accept: str
) -> None:
    response = checked(
        await client.get(
            "/graphql", params={"query": "mutation { __typename }"}, headers={"accept": accept}
        )
    )
    assert_http_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "GET, POST"


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
async def test_methods_other_than_get_and_post_are_405(
    client: httpx.AsyncClient, method: str
) -> None:
    response = checked(await client.request(method, "/graphql", json=TYPENAME))
    assert_http_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "GET, POST"


async def test_get_without_query_is_400_for_api_clients(client: httpx.AsyncClient) -> None:
    response = checked(await client.get("/graphql", headers={"accept": APPLICATION_JSON}))
    assert_http_error(response, 400, "BAD_REQUEST")


@pytest.mark.parametrize("variables", ["{", "[]", "1", '"x"'])
async def test_get_with_malformed_variables_is_400(
    client: httpx.AsyncClient, variables: str
) -> None:
    response = checked(
        await client.get("/graphql", params={"query": "{ __typename }", "variables": variables})
    )
    assert_http_error(response, 400, "BAD_REQUEST")


# Malformed requests


@pytest.mark.parametrize("body", [b"{", b'{"query": "{ __typename }"', b"", b"\xff\xfe"])
async def test_malformed_json_body_is_400_bad_request(
    client: httpx.AsyncClient, body: bytes
) -> None:
    response = await post(client, content=body, headers={"content-type": APPLICATION_JSON})
    assert_http_error(response, 400, "BAD_REQUEST")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(1, id="number"),
        pytest.param(None, id="null"),
        pytest.param("{ __typename }", id="string"),
        pytest.param([TYPENAME], id="batch"),
        pytest.param({"query": 1}, id="query-number"),
        pytest.param({"query": ["{ __typename }"]}, id="query-list"),
        pytest.param({**TYPENAME, "variables": "{}"}, id="variables-string"),
        pytest.param({**TYPENAME, "variables": []}, id="variables-list"),
        pytest.param({**TYPENAME, "operationName": {}}, id="operation-name-object"),
        pytest.param({**TYPENAME, "operationName": False}, id="operation-name-false"),
        pytest.param({**TYPENAME, "extensions": "x"}, id="extensions-string"),
        pytest.param({}, id="query-missing"),
        pytest.param({"query": None}, id="query-null"),
        pytest.param({"qeury": "{ __typename }"}, id="query-misspelt"),
    ],
)
@pytest.mark.parametrize("accept", [APPLICATION_JSON, GRAPHQL_RESPONSE_JSON])
async def test_ill_formed_request_is_400_bad_request(
    client: httpx.AsyncClient, body: object, accept: str
) -> None:
    assert_http_error(await post(client, body, accept=accept), 400, "BAD_REQUEST")


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/graphql", "application/x-www-form-urlencoded"],
)
async def test_unsupported_content_type_is_415(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = await post(client, content=b'{"query": "{ __typename }"}', headers=headers)
    assert response.request.headers.get("content-type") == content_type
    assert_http_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


async def test_json_content_type_with_charset_is_accepted(client: httpx.AsyncClient) -> None:
    response = await post(
        client,
        content=b'{"query": "{ __typename }"}',
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200


# Body size


def _limit(app: Starlette) -> int:
    limit: int = app.state.settings.max_request_bytes
    return limit


def _padded(size: int) -> bytes:
    """A valid request of exactly ``size`` bytes (JSON allows trailing whitespace)."""
    body = b'{"query": "{ __typename }"}'
    return body + b" " * (size - len(body))


async def test_body_at_the_limit_is_served(client: httpx.AsyncClient, app: Starlette) -> None:
    response = await post(
        client, content=_padded(_limit(app)), headers={"content-type": APPLICATION_JSON}
    )
    assert response.status_code == 200


async def test_body_over_the_limit_is_413(client: httpx.AsyncClient, app: Starlette) -> None:
    response = await post(
        client, content=_padded(_limit(app) + 1), headers={"content-type": APPLICATION_JSON}
    )
    assert_http_error(response, 413, "PAYLOAD_TOO_LARGE")


async def test_chunked_body_over_the_limit_is_413(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    """No Content-Length to check up front: the body is counted as it arrives."""
    chunk = b" " * 64 * 1024

    async def body() -> AsyncIterator[bytes]:
        yield b'{"query": "{ __typename }"}'
        for _ in range(_limit(app) // len(chunk) + 1):
            yield chunk

    response = await post(client, content=body(), headers={"content-type": APPLICATION_JSON})
    assert_http_error(response, 413, "PAYLOAD_TOO_LARGE")


# GraphQL request errors: refused before execution


@pytest.mark.parametrize(("accept", "status"), STATUS_BY_MEDIA_TYPE)
async def test_parse_error_is_graphql_parse_failed(
    client: httpx.AsyncClient, accept: str, status: int
) -> None:
    response = await post(client, {"query": "{"}, accept=accept)
    assert_request_error(response, status, "GRAPHQL_PARSE_FAILED")
    assert response.headers["content-type"] == accept


@pytest.mark.parametrize(("accept", "status"), STATUS_BY_MEDIA_TYPE)
async def test_unknown_field_is_graphql_validation_failed(
    client: httpx.AsyncClient, accept: str, status: int
) -> None:
    response = await post(client, {"query": "{ noSuchField }"}, accept=accept)
    assert_request_error(response, status, "GRAPHQL_VALIDATION_FAILED")
    assert response.headers["content-type"] == accept


@pytest.mark.parametrize(("accept", "status"), STATUS_BY_MEDIA_TYPE)
@pytest.mark.parametrize("value", [1.5, None, {"id": "x"}])
async def test_bad_variable_is_bad_user_input(
    client: httpx.AsyncClient, accept: str, status: int, value: object
) -> None:
    query = "query Q($id: ID!) { contact(id: $id) { id } }"
    response = await post(client, {"query": query, "variables": {"id": value}}, accept=accept)
    assert_request_error(response, status, "BAD_USER_INPUT")


def _nested(levels: int) -> str:
    """An album -> photos -> album ... chain ``levels`` round trips deep."""
    inner = "id"
    for _ in range(levels):
        inner = f"photos {{ edges {{ node {{ album {{ {inner} }} }} }} }}"
    return f'{{ node(id: "x") {{ ... on Album {{ {inner} }} }} }}'


def limit_of(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["extensions"]["limit"])


@pytest.mark.parametrize(("accept", "status"), STATUS_BY_MEDIA_TYPE)
async def test_depth_limit_refusal_is_too_complex(
    client: httpx.AsyncClient, app: Starlette, accept: str, status: int
) -> None:
    assert app.state.settings.max_query_depth == 12
    response = await post(client, {"query": _nested(4)}, accept=accept)
    assert_request_error(response, status, "QUERY_TOO_COMPLEX")
    assert limit_of(response) == "depth"
    assert "at most 12 are allowed" in response.json()["errors"][0]["message"]


async def test_depth_within_limit_executes(client: httpx.AsyncClient) -> None:
    response = await post(client, {"query": _nested(2)})
    assert response.status_code == 200
    assert codes(response) == ["BAD_USER_INPUT"]  # the id "x", so execution did start


@pytest.mark.parametrize(("accept", "status"), STATUS_BY_MEDIA_TYPE)
async def test_alias_limit_refusal_is_too_complex(
    client: httpx.AsyncClient, app: Starlette, accept: str, status: int
) -> None:
    count = app.state.settings.max_aliases + 1
    aliases = " ".join(f"a{index}: __typename" for index in range(count))
    response = await post(client, {"query": f"{{ {aliases} }}"}, accept=accept)
    assert_request_error(response, status, "QUERY_TOO_COMPLEX")
    assert limit_of(response) == "aliases"


@pytest.mark.parametrize(("accept", "status"), STATUS_BY_MEDIA_TYPE)
async def test_token_limit_refusal_is_too_complex(
    client: httpx.AsyncClient, app: Starlette, accept: str, status: int
) -> None:
    fields = " __typename" * app.state.settings.max_query_tokens
    response = await post(client, {"query": f"{{{fields} }}"}, accept=accept)
    assert_request_error(response, status, "QUERY_TOO_COMPLEX")
    assert limit_of(response) == "tokens"


@pytest.mark.parametrize(("accept", "status"), STATUS_BY_MEDIA_TYPE)
async def test_document_size_limit_refusal_is_too_complex(
    client: httpx.AsyncClient, app: Starlette, accept: str, status: int
) -> None:
    """Comments and strings are lexed a character at a time: bytes are bounded too."""
    padding = "#" + "x" * app.state.settings.max_query_bytes + "\n"
    response = await post(client, {"query": f"{padding}{{ __typename }}"}, accept=accept)
    assert_request_error(response, status, "QUERY_TOO_COMPLEX")
    assert limit_of(response) == "bytes"


# Field errors: execution ran, so there is data and the status is 200 under either type


@pytest.mark.parametrize("accept", [APPLICATION_JSON, GRAPHQL_RESPONSE_JSON])
async def test_invalid_global_id_is_bad_user_input_with_null_field(
    client: httpx.AsyncClient, accept: str
) -> None:
    response = await post(client, {"query": '{ contact(id: "nope") { id } }'}, accept=accept)
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"contact": None}
    assert codes(response) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["path"] == ["contact"]


async def test_field_error_keeps_partial_data_and_200_under_graphql_response_json(
    client: httpx.AsyncClient,
) -> None:
    query = '{ __typename contact(id: "nope") { id } }'
    response = await post(client, {"query": query}, accept=GRAPHQL_RESPONSE_JSON)
    assert response.status_code == 200
    assert response.headers["content-type"] == GRAPHQL_RESPONSE_JSON
    assert response.json()["data"] == {"__typename": "Query", "contact": None}


# Unexpected failures


@pytest.mark.parametrize("accept", [APPLICATION_JSON, GRAPHQL_RESPONSE_JSON])
async def test_unexpected_resolver_exception_is_masked_and_logged(
    app: Starlette,
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    accept: str,
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(app.state.graphql, "compiled", None)  # the resolvers, not compiled SQL
    monkeypatch.setattr(schema.pagination, "to_list_filter", explode)
    with caplog.at_level(logging.ERROR, logger="contentgraph.graphql"):
        response = await post(
            client, {"query": "{ __typename contacts { totalCount } }"}, accept=accept
        )

    assert response.status_code == 200
    (error,) = response.json()["errors"]
    assert error["message"] == "Internal server error"
    request_id = response.headers["x-request-id"]
    # The id the client can quote is the one the traceback is logged under.
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
    assert error["path"] == ["contacts"]
    assert "secret detail" not in response.text
    assert "Traceback" not in response.text and "RuntimeError" not in response.text
    (record,) = [r for r in caplog.records if r.name == "contentgraph.graphql"]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None and "secret detail" in str(record.exc_info[1])
    assert vars(record)["request_id"] == request_id


@pytest.mark.parametrize(
    ("accept", "status"), [(APPLICATION_JSON, 200), (GRAPHQL_RESPONSE_JSON, 500)]
)
async def test_unexpected_exception_before_execution_is_masked_and_logged(
    app: Starlette,
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    accept: str,
    status: int,
) -> None:
    """An extension failing outside execution is our fault: masked, logged, never a 400."""

    def explode(self: DocumentGuard) -> Iterator[None]:
        raise RuntimeError("secret detail")
        yield

    monkeypatch.setattr(DocumentGuard, "on_validate", explode)
    monkeypatch.setattr(app.state.graphql, "compiled", None)  # Strawberry's pipeline
    with caplog.at_level(logging.ERROR, logger="contentgraph.graphql"):
        response = await client.post("/graphql", json=TYPENAME, headers={"accept": accept})

    assert response.status_code == status
    assert response.headers["content-type"] == accept
    request_id = response.headers["x-request-id"]
    assert response.json() == {
        "errors": [
            {
                "message": "Internal server error",
                "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
            }
        ]
    }
    assert "secret detail" not in response.text
    (record,) = [r for r in caplog.records if r.name == "contentgraph.graphql"]
    assert record.exc_info is not None and "secret detail" in str(record.exc_info[1])
    assert vars(record)["request_id"] == request_id
