#!/usr/bin/env bash
# Vendor the GraphiQL UI (and the React it runs on, and the graphql-ws client its subscriptions
# use) into app/http/static/graphiql/ so the GraphiQL page works offline: every script and
# stylesheet is served by contentgraph itself.
#
# Usage: scripts/vendor_graphiql.sh   (needs npm and access to the npm registry)
# Bump the versions below, run the script, review the diff and commit the result.
set -euo pipefail

GRAPHIQL_VERSION="3.8.3"
REACT_VERSION="18.3.1"
REACT_DOM_VERSION="18.3.1"
# graphiql.min.js bundles a graphql-ws client but does not export createClient, and without
# our own client its retries (about 40 s) hide why the server refused a socket: the page
# builds one from this browser build (global `graphqlWs`). 5.x is the line GraphiQL 3 bundles.
GRAPHQL_WS_VERSION="5.16.2"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${repo_root}/app/http/static/graphiql"

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

fetch() {
    # fetch <package> <version> -> unpacks into ${work}/<package>/
    local pkg="$1" version="$2" tarball
    tarball="$(cd "${work}" && npm pack --silent "${pkg}@${version}" | tail -n 1)"
    mkdir -p "${work}/${pkg}"
    tar -xzf "${work}/${tarball}" -C "${work}/${pkg}" --strip-components=1
}

licence_of() {
    # licence_of <package dir> -> path of its licence file
    local dir="$1" f
    for f in LICENSE LICENSE.md LICENSE.txt license LICENCE; do
        if [[ -f "${dir}/${f}" ]]; then
            printf '%s\n' "${dir}/${f}"
            return 0
        fi
    done
    echo "error: no licence file in ${dir}" >&2
    return 1
}

fetch graphiql "${GRAPHIQL_VERSION}"
fetch react "${REACT_VERSION}"
fetch react-dom "${REACT_DOM_VERSION}"
fetch graphql-ws "${GRAPHQL_WS_VERSION}"

mkdir -p "${dest}"
install -m 0644 "${work}/graphiql/graphiql.min.js" "${dest}/graphiql.min.js"
install -m 0644 "${work}/graphiql/graphiql.min.css" "${dest}/graphiql.min.css"
install -m 0644 "${work}/react/umd/react.production.min.js" "${dest}/react.production.min.js"
install -m 0644 "${work}/react-dom/umd/react-dom.production.min.js" \
    "${dest}/react-dom.production.min.js"
install -m 0644 "${work}/graphql-ws/umd/graphql-ws.min.js" "${dest}/graphql-ws.min.js"
install -m 0644 "$(licence_of "${work}/graphiql")" "${dest}/LICENSE.graphiql"
install -m 0644 "$(licence_of "${work}/react")" "${dest}/LICENSE.react"
install -m 0644 "$(licence_of "${work}/react-dom")" "${dest}/LICENSE.react-dom"
install -m 0644 "$(licence_of "${work}/graphql-ws")" "${dest}/LICENSE.graphql-ws"

(
    cd "${dest}"
    sha256sum graphiql.min.css graphiql.min.js react.production.min.js \
        react-dom.production.min.js graphql-ws.min.js > SHA256SUMS
)

echo "vendored graphiql@${GRAPHIQL_VERSION}, react@${REACT_VERSION}," \
    "react-dom@${REACT_DOM_VERSION}, graphql-ws@${GRAPHQL_WS_VERSION} into ${dest#"${repo_root}/"}"
