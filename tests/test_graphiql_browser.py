"""Drive the GraphiQL page in headless Debian Chromium against a live server.

Proves that the page works offline: every request the browser makes must go to the
server under test (GraphiQL, React and their CSS are vendored), requests elsewhere are
recorded and aborted, and a query typed into the editor actually runs.

Needs a ``chromium`` binary on PATH (Debian's package); Playwright never downloads one.
The test is skipped without it unless ``CONTENTGRAPH_REQUIRE_BROWSER=1`` is set, in which
case it fails instead.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import pytest

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
EXECUTE_BUTTON = ".graphiql-execute-button"
RESPONSE_EDITOR = ".graphiql-response .result-window .CodeMirror"
TEST_QUERY = "{ contacts(first: 5) { totalCount } }"


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


async def test_graphiql_page_runs_a_query_offline(live_server: str, tmp_path: Path) -> None:
    executable = _chromium_path()
    try:
        from playwright.async_api import async_playwright
    except ImportError:  # pragma: no cover - playwright is a dev dependency
        _require_or_skip("the playwright package is not installed")

    requested: list[str] = []
    foreign: list[str] = []
    http_errors: list[str] = []
    console_errors: list[str] = []

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
                    foreign.append(url)
                    await route.abort("internetdisconnected")

            # Record everything, and make sure nothing can leak out even if it is tried.
            await context.route("**/*", route_handler)
            context.on("request", lambda request: requested.append(request.url))

            page = await context.new_page()
            page.on("websocket", lambda ws: requested.append(ws.url))

            def on_response(response: Any) -> None:
                if response.status >= 400 and not response.url.endswith("/favicon.ico"):
                    http_errors.append(f"{response.status} {response.url}")

            def on_console(message: Any) -> None:
                if message.type != "error":
                    return
                source = str(message.location.get("url", ""))
                if source.endswith("/favicon.ico"):
                    return
                console_errors.append(f"{message.text} ({source})")

            page.on("response", on_response)
            page.on("console", on_console)
            page.on("pageerror", lambda exc: console_errors.append(f"page error: {exc}"))

            try:
                response = await page.goto(f"{live_server}/graphql", wait_until="load")
                assert response is not None and response.ok, "GraphiQL page did not load"
                assert "text/html" in (await response.header_value("content-type") or "")

                editor = page.locator(QUERY_EDITOR)
                await editor.wait_for(state="visible")
                await page.evaluate(
                    "([sel, q]) => document.querySelector(sel).CodeMirror.setValue(q)",
                    [QUERY_EDITOR, TEST_QUERY],
                )
                assert (
                    await page.evaluate(
                        "(sel) => document.querySelector(sel).CodeMirror.getValue()",
                        QUERY_EDITOR,
                    )
                    == TEST_QUERY
                )
                # GraphiQL re-parses the editor 100 ms after a change (debounced) and until then
                # would still send the default query's operationName ("Contacts"), which the
                # server rightly rejects for an anonymous query. Wait for the re-parse.
                await page.wait_for_function(
                    """(sel) => {
                        const cm = document.querySelector(sel).CodeMirror;
                        return Array.isArray(cm.operations) && cm.operations.length === 1
                            && !cm.operations[0].name && cm.operationName == null;
                    }""",
                    arg=QUERY_EDITOR,
                )

                await page.locator(EXECUTE_BUTTON).click()
                handle = await page.wait_for_function(
                    """(sel) => {
                        const el = document.querySelector(sel);
                        const text = el && el.CodeMirror ? el.CodeMirror.getValue() : "";
                        return text.includes('"totalCount"') ? text : null;
                    }""",
                    arg=RESPONSE_EDITOR,
                )
                result = json.loads(await handle.json_value())
                assert "errors" not in result, result
                assert isinstance(result["data"]["contacts"]["totalCount"], int), result
                assert "totalCount" in await page.locator(".graphiql-response").inner_text()

                # GraphiQL and React really came from the server under test.
                served = {urlsplit(u).path.rsplit("/", 1)[-1] for u in requested}
                for asset in (
                    "graphiql.min.js",
                    "graphiql.min.css",
                    "react.production.min.js",
                    "react-dom.production.min.js",
                ):
                    assert asset in served, f"{asset} not requested; saw {sorted(requested)}"

                assert not foreign, f"requests left the live server: {foreign}"
                off_host = [u for u in requested if not _is_same_server(u, live_server)]
                assert not off_host, f"requests left the live server: {off_host}"
                assert not http_errors, f"HTTP errors: {http_errors}"
                assert not console_errors, f"console errors: {console_errors}"
            except BaseException:
                shot = tmp_path / "graphiql.png"
                try:
                    await page.screenshot(path=str(shot), full_page=True)
                except Exception:  # pragma: no cover - best effort only
                    pass
                else:
                    print(f"screenshot saved to {shot}")
                print(f"requests: {requested}\nconsole errors: {console_errors}")
                raise
        finally:
            await browser.close()
