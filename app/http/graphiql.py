"""The GraphiQL page, served entirely from our own origin.

GraphiQL, the React it runs on and the graphql-ws client its subscriptions use are vendored
into ``static/graphiql/`` by ``scripts/vendor_graphiql.sh`` instead of being loaded from a
CDN, so that:

* the IDE works with no internet access (air-gapped hosts, CI, laptops on a plane);
* the versions are pinned in the repository and only change through a reviewed diff;
* the bytes are checksummed: ``SHA256SUMS`` records them, and every ``<script>`` and
  ``<link>`` tag carries a Subresource Integrity hash computed from the files on disk
  when this module is imported, so the browser refuses anything that does not match.

The page is the same whatever the query string: what a shared link carries (a query,
variables, an operation name) and the websocket URL are read in the browser from
``location``, so nothing from a link is ever written into the HTML (and the inline script
stays the same, for a CSP hash to pin).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from pathlib import Path
from typing import Final

__all__ = ["GRAPHIQL_ASSETS_DIR", "render_graphiql_page"]

GRAPHIQL_ASSETS_DIR: Final[Path] = Path(__file__).resolve().parent / "static" / "graphiql"

_STYLESHEET: Final = "graphiql.min.css"
# Load order matters: React, then ReactDOM, then GraphiQL (which expects both as globals).
# graphql-ws (global ``graphqlWs``) is the subscription client the page builds.
_SCRIPTS: Final = (
    "react.production.min.js",
    "react-dom.production.min.js",
    "graphql-ws.min.js",
    "graphiql.min.js",
)

_DEFAULT_QUERY: Final = """\
query Contacts {
  contacts(first: 10) {
    totalCount
    edges {
      node {
        id
        name
        email
      }
    }
  }
}
"""


def _sri_sha384(name: str) -> str:
    path = GRAPHIQL_ASSETS_DIR / name
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            f"GraphiQL asset {path} is missing; run scripts/vendor_graphiql.sh"
        ) from exc
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode("ascii")


_INTEGRITY: Final[dict[str, str]] = {name: _sri_sha384(name) for name in (_STYLESHEET, *_SCRIPTS)}


#: Mounts GraphiQL; called with the page's settings (``endpoint``, ``defaultQuery``). A constant:
#: what varies per request is read in the browser, so the script is the same on every page.
_MOUNT_SCRIPT: Final = """\
(function (config) {
  "use strict";

  function stored(key) {
    try {
      return localStorage.getItem(key);
    } catch (error) {
      return null; // storage disabled: GraphiQL runs without it too
    }
  }

  // Subscriptions: a websocket to the same host and path, ws: beside http:, wss: beside https:.
  var socketUrl = new URL(config.endpoint, location.href);
  socketUrl.protocol = socketUrl.protocol === "https:" ? "wss:" : "ws:";

  // graphql-ws retries a refused socket for about 40 s before it reports anything. The
  // server says why it refuses (4403: the token was not accepted; 1013: this address holds
  // all the sockets it may): show that at once. A dropped socket is still retried.
  function retryable(event) {
    return event instanceof CloseEvent && event.code !== 4403 && event.code !== 1013;
  }

  // GraphiQL hands the Headers tab to the fetcher with every operation, but a websocket
  // presents its credentials once, in connection_init: so one client per Authorization
  // value. The clients are lazy: a socket is open only while a subscription runs.
  var fetchers = new Map();
  function fetcherFor(authorization) {
    if (!fetchers.has(authorization)) {
      var client = graphqlWs.createClient({
        url: socketUrl.href,
        connectionParams: authorization ? { Authorization: authorization } : {},
        shouldRetry: retryable,
      });
      fetchers.set(
        authorization,
        GraphiQL.createFetcher({ url: config.endpoint, wsClient: client })
      );
    }
    return fetchers.get(authorization);
  }
  function authorizationIn(headers) {
    for (var name in headers || {}) {
      if (name.toLowerCase() === "authorization") return String(headers[name]);
    }
    return "";
  }
  function fetcher(params, options) {
    return fetcherFor(authorizationIn(options && options.headers))(params, options);
  }

  // Persisted headers are off unless chosen in Settings. GraphiQL 3 stores that choice but
  // resets it to the prop on every load, and in doing so overwrites the stored headers
  // (graphql/graphiql#3369): pass the stored choice, and put the headers back after it.
  var persistHeaders = stored("graphiql:shouldPersistHeaders") === "true";
  var persistedHeaders = persistHeaders ? stored("graphiql:headers") : null;

  // A shared link, /graphql?query=...&variables=...&operationName=..., opens with the
  // operation filled in (never run). Its operationName picks what runs until the document
  // changes (GraphiQL reports an edit while loading too, hence the comparison).
  var link = new URLSearchParams(location.search);
  var linked = link.get("query");

  function Page() {
    var pinned = React.useState(linked === null ? null : link.get("operationName"));
    React.useEffect(function () {
      // Effects run children first: this comes after GraphiQL's own.
      if (persistedHeaders !== null) localStorage.setItem("graphiql:headers", persistedHeaders);
    }, []);
    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      defaultQuery: config.defaultQuery,
      shouldPersistHeaders: persistHeaders,
      showPersistHeadersSettings: true, // GraphiQL hides it when the prop above is false
      query: linked === null ? undefined : linked,
      variables: linked === null ? undefined : link.get("variables") || "",
      operationName: pinned[0] || undefined,
      onEditQuery: function (query) {
        if (query !== linked) pinned[1](null);
      },
    });
  }
  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(Page));
})"""


def _js_literal(value: object) -> str:
    """A JSON literal that is also safe inside an inline ``<script>`` element."""
    return (
        json.dumps(value, ensure_ascii=True)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


def render_graphiql_page(
    *, endpoint: str, assets_prefix: str, title: str = "contentgraph GraphiQL"
) -> str:
    """Return a complete HTML page that mounts GraphiQL against ``endpoint``.

    ``assets_prefix`` is the URL path under which ``GRAPHIQL_ASSETS_DIR`` is served
    (for example ``"/graphiql-static"``); the page references nothing outside it.
    """
    prefix = assets_prefix.rstrip("/")
    stylesheet = (
        f'<link rel="stylesheet" href="{_attr(f"{prefix}/{_STYLESHEET}")}"'
        f' integrity="{_INTEGRITY[_STYLESHEET]}">'
    )
    scripts = "\n    ".join(
        f'<script src="{_attr(f"{prefix}/{name}")}" integrity="{_INTEGRITY[name]}"></script>'
        for name in _SCRIPTS
    )
    config = _js_literal({"endpoint": endpoint, "defaultQuery": _DEFAULT_QUERY})
    return f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="referrer" content="no-referrer">
    <title>{html.escape(title)}</title>
    <style>
      html, body {{ height: 100%; margin: 0; }}
      /* Not on body: GraphiQL's dialogs lock scrolling there, and warn if it is locked. */
      #graphiql {{ height: 100%; overflow: hidden; }}
    </style>
    {stylesheet}
  </head>
  <body>
    <div id="graphiql">Loading GraphiQL...</div>
    {scripts}
    <script>
{_MOUNT_SCRIPT}({config});
    </script>
  </body>
</html>
"""
