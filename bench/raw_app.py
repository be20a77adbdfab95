"""The raw baseline: each workload answered by ONE SQL statement that builds the whole JSON
response inside PostgreSQL, returned as bytes by a bare ASGI app - the practical limit for
"HTTP + PostgreSQL" on this machine.

    uvicorn bench.raw_app:app  (DATABASE_URL from the environment)
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from app.db.json_reads import JsonReads
from app.services.search import like_pattern


def file_of(reference: str) -> str:
    """The file object for a reference column: a primary-key lookup per row. (A JOIN made the
    planner hash the whole stored_file table for 100 rows - 6.4 against 4.2 ms for Q_list.)"""
    return f"""(SELECT json_build_object('url', '/files/' || f.entity || '/' || f.id || '/' ||
  f.filename, 'contentType', f.content_type, 'size', f.size, 'width', f.width,
  'height', f.height) FROM stored_file f WHERE f.id = {reference})"""


def gid(type_name: str, column: str) -> str:
    return f"encode(convert_to('{type_name}:' || {column}::text, 'UTF8'), 'base64')"


def cursor(sort: str, name: str, id_: str) -> str:
    """app.db.paging's cursor for a (text, uuid) sort key, in SQL: base64url without padding
    of the compact JSON ``[sort, name, uuid hex]``. (json.dumps escapes non-ASCII as \\uXXXX
    where to_json keeps it: the seed's names are ASCII.)"""
    payload = f"""'["{sort}",' || to_json({name})::text || ',"' || replace({id_}::text, '-', '') || '"]'"""
    return f"""rtrim(translate(encode(convert_to({payload}, 'UTF8'), 'base64'), E'+/\\n', '-_'), '=')"""


SQL = {
    "Q_small": f"""
SELECT json_build_object('data', json_build_object('contact', (SELECT json_build_object(
  'id', {gid("Contact", "c.id")}, 'name', c.name, 'email', c.email,
  'avatar', {file_of("c.avatar_id")}) FROM contact c WHERE c.id = $1)))::text""",
    "Q_list": f"""
SELECT json_build_object('data', json_build_object('contacts', json_build_object('edges',
  coalesce(json_agg(json_build_object('node', json_build_object(
    'id', {gid("Contact", "c.id")}, 'name', c.name, 'avatar', {file_of("c.avatar_id")}))
  ORDER BY c.name, c.id), '[]'))))::text
FROM (SELECT * FROM contact ORDER BY name, id LIMIT 100) c""",
    "Q_nested": f"""
SELECT json_build_object('data', json_build_object('albums', json_build_object('nodes',
  coalesce(json_agg(json_build_object('id', {gid("Album", "a.id")}, 'title', a.title,
    'photos', json_build_object('nodes', (
      SELECT coalesce(json_agg(json_build_object('id', {gid("Photo", "p.id")},
        'caption', p.caption, 'file', {file_of("p.file_id")}) ORDER BY p.sort, p.id), '[]')
      FROM (SELECT * FROM photo WHERE album_id = a.id ORDER BY sort, id LIMIT 50) p)))
  ORDER BY a.title, a.id), '[]'))))::text
FROM (SELECT * FROM album ORDER BY title, id LIMIT 20) a""",
    # contacts(first: 100, filter: {search: $term}): ILIKE on name or email ($1 is the escaped
    # pattern, as app.services.search.text_search makes it), in NAME_ASC order.
    "Q_search": f"""
SELECT json_build_object('data', json_build_object('contacts', json_build_object('edges',
  coalesce(json_agg(json_build_object('node', json_build_object(
    'id', {gid("Contact", "c.id")}, 'name', c.name, 'avatar', {file_of("c.avatar_id")}))
  ORDER BY c.name, c.id), '[]'))))::text
FROM (SELECT * FROM contact WHERE name ILIKE $1 ESCAPE '\\' OR email ILIKE $1 ESCAPE '\\'
  ORDER BY name, id LIMIT 100) c""",
    # contacts(last: 100, before: <cursor of ($1 name, $2 id)>): the 100 rows before the key
    # (one more to learn hasPreviousPage), read backwards by the (name, id) index and answered
    # in forward order, each with its cursor.
    "Q_backward": f"""
SELECT json_build_object('data', json_build_object('contacts', json_build_object(
  'edges', coalesce(json_agg(json_build_object('cursor', c.cursor, 'node', json_build_object(
    'id', {gid("Contact", "c.id")}, 'name', c.name, 'avatar', {file_of("c.avatar_id")}))
    ORDER BY c.name, c.id) FILTER (WHERE c.n <= 100), '[]'),
  'pageInfo', json_build_object('hasPreviousPage', count(*) > 100,
    'startCursor', (array_agg(c.cursor ORDER BY c.name, c.id) FILTER (WHERE c.n <= 100))[1]
  ))))::text
FROM (SELECT p.*, {cursor("NAME_ASC", "p.name", "p.id")} AS cursor,
    row_number() OVER (ORDER BY p.name DESC, p.id DESC) AS n
  FROM (SELECT * FROM contact WHERE (name, id) < ($1, $2) ORDER BY name DESC, id DESC
    LIMIT 101) p) c""",
    "Q_node": f"""
SELECT json_build_object('data', json_build_object('node', (SELECT json_build_object(
  'id', {gid("Contact", "c.id")}, 'name', c.name, 'email', c.email,
  'avatar', {file_of("c.avatar_id")}) FROM contact c WHERE c.id = $1)))::text""",
}


def _id(extensions: dict[str, str]) -> list[object]:
    return [uuid.UUID(extensions["id"])]


#: Each workload's statement parameters, from the request's ``extensions``.
ARGS: dict[str, Callable[[dict[str, str]], list[object]]] = {
    "Q_small": _id,
    "Q_node": _id,
    "Q_search": lambda e: [like_pattern(e["search"].strip())],
    "Q_backward": lambda e: [e["name"], uuid.UUID(e["id"])],
}

#: The same connection handling as contentgraph's compiled reads (a LIFO queue of asyncpg
#: connections, no per-release reset or task): asyncpg's own Pool costs more per request, and
#: the baseline is meant to be the limit, not a handicap.
_reads = JsonReads(os.environ.get("DATABASE_URL", ""), pool_size=10)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await _reads.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    request = orjson.loads(body)
    extensions = request["extensions"]
    workload = extensions["workload"]
    args = ARGS[workload](extensions) if workload in ARGS else []
    payload = await _reads.fetch_text(SQL[workload], args)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": payload.encode()})
