"""Drive the GraphiQL page in headless Debian Chromium against a live server.

Proves that the page works offline: every request the browser makes must go to the
server under test (GraphiQL, React, graphql-ws and their CSS are vendored), requests
elsewhere are recorded and aborted. And that what a person does in it works: a query typed
into the editor runs; a subscription runs over a websocket with the Headers tab's
Authorization, and shows an event caused from outside the browser; a shared link opens
the IDE filled in; headers are kept across reloads only when chosen in Settings.

Needs a ``chromium`` binary on PATH (Debian's package); Playwright never downloads one.
The tests are skipped without it unless ``CONTENTGRAPH_REQUIRE_BROWSER=1`` is set, in which
case they fail instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlencode, urlsplit

import httpx
import pytest

from tests import images
from tests.conftest import PASSWORD, run_cli
from tests.uploads import upload

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 30_000

QUERY_EDITOR = ".graphiql-query-editor .CodeMirror"
# The variables and headers editors share one pane; the one shown is not .hidden.
TOOL_EDITOR = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror"
EXECUTE_BUTTON = ".graphiql-execute-button"
RESPONSE_EDITOR = ".graphiql-response .result-window .CodeMirror"
TEST_QUERY = "{ contacts(first: 5) { totalCount } }"
SUBSCRIPTION = (
    "subscription { fileChanged(entity: ALBUMS_PHOTOS) { kind entity fileId file { width } } }"
)
LOGIN = (
    "mutation($u: String!, $p: String!) { login(input: {username: $u, password: $p}) { token } }"
)
CREATE_ALBUM = 'mutation { createAlbum(input: {title: "Watched"}) { album { id } } }'
ADD_PHOTO = (
    "mutation($a: ID!, $f: [Upload!]!) { addPhotos(input: {albumId: $a, files: $f}) "
    "{ photos { file { id } } userErrors { code } } }"
)


def _require_or_skip(reason: str) -> NoReturn:
    if os.environ.get("CONTENTGRAPH_REQUIRE_BROWSER") == "1":
        pytest.fail(f"CONTENTGRAPH_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def _chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        _require_or_skip("no `chromium` executable on PATH (apt-get install chromium)")
    return path


def _is_same_server(url: str, base: str) -> bool:
    """True for http(s)/ws(s) URLs on the live server's host:port, and for data:/blob:."""
    parts, base_parts = urlsplit(url), urlsplit(base)
    if parts.scheme in ("data", "blob"):
        return True
    return (
        parts.scheme in ("http", "https", "ws", "wss")
        and parts.hostname == base_parts.hostname
        and parts.port == base_parts.port
    )


@dataclass
class Traffic:
    """What the browser asked for, and what went wrong, while a test ran."""

    base: str
    requested: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    http_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    #: Errors a test expects (and which may arrive or not, early or late).
    expected_errors: set[str] = field(default_factory=set)
    #: Every websocket the page opened, and the text frames it sent.
    sockets: list[Any] = field(default_factory=list)
    frames_sent: list[dict[str, Any]] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert not self.foreign, f"requests left the live server: {self.foreign}"
        off_host = [u for u in self.requested if not _is_same_server(u, self.base)]
        assert not off_host, f"requests left the live server: {off_host}"
        assert not self.http_errors, f"HTTP errors: {self.http_errors}"
        unexpected = [e for e in self.console_errors if e not in self.expected_errors]
        assert not unexpected, f"console errors: {unexpected}"


@contextlib.asynccontextmanager
async def graphiql_browser(
    live_server: str, tmp_path: Path, *, intercept: bool = True
) -> AsyncIterator[tuple[Any, Traffic]]:
    """A page in a fresh browser context, cut off from everything but the live server.

    On the way out the traffic must be clean (nothing off the server, no HTTP error, no
    console error); on a failure a screenshot is kept. ``intercept=False`` only records:
    Playwright's interception fails every request for a ``/favicon.ico``.
    """
    executable = _chromium_path()
    try:
        from playwright.async_api import async_playwright
    except ImportError:  # pragma: no cover - playwright is a dev dependency
        _require_or_skip("the playwright package is not installed")

    traffic = Traffic(live_server)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(service_workers="block")
            context.set_default_timeout(TIMEOUT_MS)

            async def route_handler(route: Any) -> None:
                url = route.request.url
                if _is_same_server(url, live_server):
                    await route.continue_()
                else:
                    traffic.foreign.append(url)
                    await route.abort("internetdisconnected")

            # Record everything, and make sure nothing can leak out even if it is tried.
            if intercept:
                await context.route("**/*", route_handler)
            context.on("request", lambda request: traffic.requested.append(request.url))
            page = await context.new_page()

            def on_websocket(socket: Any) -> None:
                traffic.requested.append(socket.url)
                traffic.sockets.append(socket)
                socket.on("framesent", lambda text: traffic.frames_sent.append(json.loads(text)))
                socket.on("close", lambda closed: traffic.closed.append(closed.url))

            def on_response(response: Any) -> None:
                if response.status >= 400:
                    traffic.http_errors.append(f"{response.status} {response.url}")

            def on_console(message: Any) -> None:
                if message.type == "error":
                    source = str(message.location.get("url", ""))
                    traffic.console_errors.append(f"{message.text} ({source})")

            page.on("websocket", on_websocket)
            page.on("response", on_response)
            page.on("console", on_console)
            page.on("pageerror", lambda exc: traffic.console_errors.append(f"page error: {exc}"))
            try:
                yield page, traffic
                traffic.assert_clean()
            except BaseException:
                shot = tmp_path / "graphiql.png"
                try:
                    await page.screenshot(path=str(shot), full_page=True)
                except Exception:  # pragma: no cover - best effort only
                    pass
                else:
                    print(f"screenshot saved to {shot}")
                print(f"requests: {traffic.requested}\nconsole errors: {traffic.console_errors}")
                raise
        finally:
            await browser.close()


async def open_graphiql(page: Any, url: str) -> None:
    response = await page.goto(url, wait_until="load")
    assert response is not None and response.ok, "GraphiQL page did not load"
    assert "text/html" in (await response.header_value("content-type") or "")
    await page.locator(QUERY_EDITOR).wait_for(state="visible")


async def editor_text(page: Any, selector: str) -> str:
    text: str = await page.evaluate(
        "(sel) => document.querySelector(sel).CodeMirror.getValue()", selector
    )
    return text


async def set_editor(page: Any, selector: str, text: str) -> None:
    await page.evaluate(
        "([sel, text]) => document.querySelector(sel).CodeMirror.setValue(text)", [selector, text]
    )
    assert await editor_text(page, selector) == text


async def set_query(page: Any, query: str) -> None:
    """Type a one-operation document and wait until GraphiQL has parsed it.

    GraphiQL re-parses the editor 100 ms after a change (debounced) and until then would
    still send the previous document's operationName. Wait for the re-parse.
    """
    await set_editor(page, QUERY_EDITOR, query)
    await page.wait_for_function(
        """([sel, query]) => {
            const cm = document.querySelector(sel).CodeMirror;
            return Array.isArray(cm.operations) && cm.operations.length === 1
                && cm.operations[0].loc.source.body === query
                && (cm.operations[0].name ? cm.operations[0].name.value : null)
                    == cm.operationName;
        }""",
        arg=[QUERY_EDITOR, query],
    )


async def show_tool(page: Any, name: str) -> None:
    """Open the Variables or Headers tab under the query editor."""
    await page.get_by_role("button", name=name, exact=True).click()


async def response_containing(page: Any, needle: str) -> dict[str, Any]:
    """The result pane's JSON, once it contains ``needle``."""
    handle = await page.wait_for_function(
        """([sel, needle]) => {
            const el = document.querySelector(sel);
            const text = el && el.CodeMirror ? el.CodeMirror.getValue() : "";
            return text.includes(needle) ? text : null;
        }""",
        arg=[RESPONSE_EDITOR, needle],
    )
    result: dict[str, Any] = json.loads(await handle.json_value())
    return result


async def eventually(check: Callable[[], bool], what: str, within: float = 10) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def admin_token(base: str, env: dict[str, str]) -> str:
    username = f"graphiql-{uuid.uuid4().hex[:8]}"
    created = run_cli(env, "createuser", username, "--admin", "--password-stdin", stdin=PASSWORD)
    assert created.returncode == 0, created.stderr
    async with httpx.AsyncClient(base_url=base) as http:
        body = (
            await http.post(
                "/graphql", json={"query": LOGIN, "variables": {"u": username, "p": PASSWORD}}
            )
        ).json()
    token: str = body["data"]["login"]["token"]
    return token


async def test_graphiql_page_runs_a_query_offline(live_server: str, tmp_path: Path) -> None:
    async with graphiql_browser(live_server, tmp_path) as (page, traffic):
        await open_graphiql(page, f"{live_server}/graphql")
        await set_query(page, TEST_QUERY)
        await page.locator(EXECUTE_BUTTON).click()
        result = await response_containing(page, '"totalCount"')
        assert "errors" not in result, result
        assert isinstance(result["data"]["contacts"]["totalCount"], int), result
        assert "totalCount" in await page.locator(".graphiql-response").inner_text()

        # GraphiQL, React and graphql-ws really came from the server under test.
        served = {urlsplit(u).path.rsplit("/", 1)[-1] for u in traffic.requested}
        for asset in (
            "graphiql.min.js",
            "graphiql.min.css",
            "react.production.min.js",
            "react-dom.production.min.js",
            "graphql-ws.min.js",
        ):
            assert asset in served, f"{asset} not requested; saw {sorted(traffic.requested)}"


async def test_graphiql_runs_a_subscription_with_the_headers_tab_token(
    live_server: str, live_env: dict[str, str], tmp_path: Path
) -> None:
    """The issue's case: an event caused outside the browser (a real multipart upload) shows
    up in the result pane, and the socket signed in with the Headers tab's Authorization
    (the server checks it at connection_init: a refused one closes the socket, next test)."""
    token = await admin_token(live_server, live_env)
    authorization = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(base_url=live_server, headers=authorization) as http,
        graphiql_browser(live_server, tmp_path) as (page, traffic),
    ):
        album = (await http.post("/graphql", json={"query": CREATE_ALBUM})).json()["data"][
            "createAlbum"
        ]["album"]["id"]
        await open_graphiql(page, f"{live_server}/graphql")
        await set_query(page, SUBSCRIPTION)
        await show_tool(page, "Headers")
        await set_editor(page, TOOL_EDITOR, json.dumps(authorization))
        await page.locator(EXECUTE_BUTTON).click()

        await eventually(
            lambda: any(f["type"] == "subscribe" for f in traffic.frames_sent), "the subscribe"
        )
        await asyncio.sleep(0.3)  # let the server register the subscription before we upload
        (socket,) = traffic.sockets
        ws_base = live_server.replace("http://", "ws://", 1)
        assert socket.url == f"{ws_base}/graphql"
        init = next(f for f in traffic.frames_sent if f["type"] == "connection_init")
        assert init["payload"] == authorization

        response = await upload(
            http,
            ADD_PHOTO,
            {"a": album, "f": [None]},
            {"0": ("watched.png", images.png(23, 17), "image/png")},
            {"0": ["variables.f.0"]},
            token=token,
        )
        added = response.json()["data"]["addPhotos"]
        assert added["userErrors"] == [], added
        file_id = added["photos"][0]["file"]["id"]

        result = await response_containing(page, "FILE_CREATED")
        assert result == {
            "data": {
                "fileChanged": {
                    "kind": "FILE_CREATED",
                    "entity": "albums.photos",
                    "fileId": file_id,
                    "file": {"width": 23},
                }
            }
        }

        # Stopping the subscription closes its socket: a lazy client holds none when idle.
        await page.locator(EXECUTE_BUTTON).click()
        await eventually(lambda: traffic.closed == [socket.url], "the socket to close")


async def test_a_refused_token_is_reported_at_once(live_server: str, tmp_path: Path) -> None:
    """The server closes the socket with 4403; GraphiQL says so instead of retrying for 40 s."""
    async with graphiql_browser(live_server, tmp_path) as (page, traffic):
        await open_graphiql(page, f"{live_server}/graphql")
        await set_query(page, SUBSCRIPTION)
        await show_tool(page, "Headers")
        await set_editor(page, TOOL_EDITOR, json.dumps({"Authorization": "Bearer not-a-token"}))
        started = time.monotonic()
        await page.locator(EXECUTE_BUTTON).click()
        result = await response_containing(page, "4403")
        assert time.monotonic() - started < 5
        assert "Socket closed with event 4403" in result["errors"][0]["message"]
        assert len(traffic.sockets) == 1, "the refused socket was retried"
        # @graphiql/toolkit hands the error to its iterator's throw() and drops the promise
        # that returns, so the same error may also surface as an unhandled rejection.
        traffic.expected_errors.add("page error: Socket closed with event 4403 Forbidden")


async def test_a_link_opens_graphiql_filled_in(live_server: str, tmp_path: Path) -> None:
    """GET /graphql?query=&variables=&operationName= from a browser: the IDE, filled in, with
    the named operation the one that runs - until the document is edited."""
    document = (
        "query First { __typename }\nquery Second($n: Int!) { contacts(first: $n) { totalCount } }"
    )
    variables = '{"n": 2}'
    link = urlencode({"query": document, "variables": variables, "operationName": "Second"})
    async with graphiql_browser(live_server, tmp_path) as (page, _):
        posted: list[dict[str, Any]] = []

        def on_request(request: Any) -> None:
            if request.method == "POST" and "IntrospectionQuery" not in request.post_data:
                posted.append(json.loads(request.post_data))

        page.on("request", on_request)
        await open_graphiql(page, f"{live_server}/graphql?{link}")
        assert await editor_text(page, QUERY_EDITOR) == document
        await show_tool(page, "Variables")
        assert await editor_text(page, TOOL_EDITOR) == variables
        assert posted == [], "opening a link must not run it"

        await page.locator(EXECUTE_BUTTON).click()
        result = await response_containing(page, '"totalCount"')
        assert "errors" not in result and isinstance(
            result["data"]["contacts"]["totalCount"], int
        ), result
        assert posted[-1]["operationName"] == "Second"
        assert posted[-1]["variables"] == {"n": 2}

        # Edited, the document is the user's: no operation name is forced on it.
        await set_query(page, "{ __typename }")
        await page.locator(EXECUTE_BUTTON).click()
        assert await response_containing(page, '"Query"') == {"data": {"__typename": "Query"}}
        assert posted[-1].get("operationName") is None


async def test_headers_are_kept_across_reloads_only_when_chosen(
    live_server: str, tmp_path: Path
) -> None:
    headers = json.dumps({"Authorization": "Bearer kept"})
    async with graphiql_browser(live_server, tmp_path) as (page, _):
        await open_graphiql(page, f"{live_server}/graphql")
        await show_tool(page, "Headers")
        await set_editor(page, TOOL_EDITOR, headers)
        await asyncio.sleep(0.6)  # GraphiQL stores editor contents debounced
        await page.reload()
        await page.locator(QUERY_EDITOR).wait_for(state="visible")
        await show_tool(page, "Headers")
        assert await editor_text(page, TOOL_EDITOR) == "", "headers kept without being asked"

        await page.get_by_role("button", name="Open settings dialog").click()
        await page.locator("#enable-persist-headers").click()
        await page.keyboard.press("Escape")
        await set_editor(page, TOOL_EDITOR, headers)
        await asyncio.sleep(0.6)
        # GraphiQL 3 on its own loses them on the second reload (graphql/graphiql#3369).
        for _ in range(3):
            await page.reload()
            await page.locator(QUERY_EDITOR).wait_for(state="visible")
            await show_tool(page, "Headers")
            assert await editor_text(page, TOOL_EDITOR) == headers


async def test_the_favicon_is_an_icon(live_server: str, tmp_path: Path) -> None:
    async with graphiql_browser(live_server, tmp_path, intercept=False) as (page, _):
        await open_graphiql(page, f"{live_server}/graphql")
        size = await page.evaluate(
            """() => new Promise((resolve, reject) => {
                const icon = new Image();
                icon.onload = () => resolve([icon.naturalWidth, icon.naturalHeight]);
                icon.onerror = () => reject(new Error("/favicon.ico is not an image"));
                icon.src = "/favicon.ico";
            })"""
        )
        assert size in ([16, 16], [32, 32])
