"""A frontend on another origin, in real headless Chromium: a query, an upload with fetch and
FormData, a graphql-ws subscription and an SSE subscription all work from an allowed origin,
and all are refused from any other.

The page is served by a tiny static server on a port of its own, under two names: 127.0.0.1
(allowed: the embedded default lets any port on localhost and 127.0.0.1 in) and stranger.test
(mapped to 127.0.0.1 inside Chromium; on no list). It talks to a live embedded server.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import images
from tests.conftest import signed_in
from tests.test_graphiql_browser import CHROMIUM_ARGS, _chromium_path, _require_or_skip

pytestmark = pytest.mark.browser

STRANGER = "stranger.test"

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>a frontend</title></head><body>
<script>
const settings = new URLSearchParams(location.hash.slice(1));
const api = settings.get("api"), token = settings.get("token");
const auth = { Authorization: "Bearer " + token };
const UPLOAD = "mutation($f: Upload!) { setMyAvatar(input: {file: $f}) { userErrors { code } } }";
const FILES = "subscription { fileChanged(entity: USERS_AVATAR) { kind entity } }";
const PNG = Uint8Array.from(atob(settings.get("png")), (c) => c.charCodeAt(0));

async function attempt(name, work) {
  try { return { [name]: await work() }; } catch (error) { return { [name]: "refused: " + error }; }
}

async function query() {
  const response = await fetch(api + "/graphql", {
    method: "POST",
    headers: { ...auth, "Content-Type": "application/json" },
    body: JSON.stringify({ query: "{ me { username } }" }),
  });
  return (await response.json()).data.me.username;
}

async function upload() {
  const form = new FormData();
  form.append("operations", JSON.stringify({ query: UPLOAD, variables: { f: null } }));
  form.append("map", JSON.stringify({ 0: ["variables.f"] }));
  form.append("0", new Blob([PNG], { type: "image/png" }), "me.png");
  const response = await fetch(api + "/graphql", {
    method: "POST",
    headers: { ...auth, "Apollo-Require-Preflight": "true" },  // the one line clients add
    body: form,
  });
  return JSON.stringify((await response.json()).data.setMyAvatar.userErrors);
}

function websocket() {  // graphql-transport-ws, by hand
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(api.replace(/^http/, "ws") + "/graphql", "graphql-transport-ws");
    const result = { subscribed: null, event: null };
    result.subscribed = new Promise((ready) => {
      socket.onopen = () =>
        socket.send(JSON.stringify({ type: "connection_init", payload: { token } }));
      socket.onmessage = (message) => {
        const data = JSON.parse(message.data);
        if (data.type === "connection_ack") {
          socket.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query: FILES } }));
          setTimeout(ready, 300);
        } else if (data.type === "next") {
          socket.close();
          result.resolveEvent(data.payload.data.fileChanged.kind);
        }
      };
    });
    result.event = new Promise((done) => (result.resolveEvent = done));
    socket.onerror = () => reject(new Error("the websocket was refused"));
    socket.onclose = (event) => {
      if (event.code === 1006) reject(new Error("closed: " + event.code));
    };
    result.subscribed.then(() => resolve(result));
  });
}

async function eventStream() {  // GraphQL over SSE, distinct connections mode, by hand
  const controller = new AbortController();
  const response = await fetch(api + "/graphql/stream", {
    method: "POST",
    headers: { ...auth, "Content-Type": "application/json", Accept: "text/event-stream" },
    body: JSON.stringify({ query: FILES }),
    signal: controller.signal,
  });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const event = (async () => {
    let text = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the stream ended");
      text += value;
      const match = text.match(/event: next\\ndata: (.*)\\n\\n/);
      if (match) { controller.abort(); return JSON.parse(match[1]).data.fileChanged.kind; }
    }
  })();
  return { event };
}

window.results = (async () => {
  const found = {};
  Object.assign(found, await attempt("query", query));
  const socket = await attempt("websocket", websocket);
  const stream = await attempt("sse", eventStream);
  await new Promise((ready) => setTimeout(ready, 300));
  Object.assign(found, await attempt("upload", upload));
  for (const [name, started] of [["websocket", socket.websocket], ["sse", stream.sse]]) {
    if (typeof started === "string") { found[name] = started; continue; }
    Object.assign(found, await attempt(name, () => Promise.race([
      started.event,
      new Promise((_, reject) => setTimeout(() => reject(new Error("no event")), 10000)),
    ])));
  }
  return found;
})();
</script></body></html>
"""


@contextlib.contextmanager
def static_site(directory: Path) -> Iterator[int]:
    """The frontend's own server: static files on a port of their own."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


async def _run_page(url: str) -> dict[str, Any]:
    executable = _chromium_path()
    try:
        from playwright.async_api import async_playwright
    except ImportError:  # pragma: no cover - playwright is a dev dependency
        _require_or_skip("the playwright package is not installed")
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=executable,
            args=[*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {STRANGER} 127.0.0.1"],
        )
        try:
            page = await browser.new_page()
            await page.goto(url)
            results: dict[str, Any] = await page.evaluate("window.results", None)
            return results
        finally:
            await browser.close()


async def test_a_frontend_on_another_origin_uses_every_transport(
    live_server: str, live_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "index.html").write_text(PAGE)
    _, token = signed_in(live_server, live_env)
    png = base64.b64encode(images.png(16, 16)).decode()
    fragment = httpx.QueryParams({"api": live_server, "token": token, "png": png})
    with static_site(tmp_path) as port:
        allowed = await _run_page(f"http://127.0.0.1:{port}/index.html#{fragment}")
        refused = await _run_page(f"http://{STRANGER}:{port}/index.html#{fragment}")
    assert allowed["query"].startswith("user-"), allowed
    assert allowed["upload"] == "[]", allowed
    assert allowed["websocket"] == "FILE_CREATED", allowed
    assert allowed["sse"] == "FILE_CREATED", allowed
    for transport in ("query", "upload", "websocket", "sse"):
        assert str(refused[transport]).startswith("refused"), (transport, refused)
