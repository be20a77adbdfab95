"""The raw baseline: each workload answered by ONE SQL statement that builds the whole JSON
response inside PostgreSQL, returned as bytes by a bare ASGI app - the practical limit for
"HTTP + PostgreSQL" on this machine.

    uvicorn bench.raw_app:app  (DATABASE_URL from the environment)
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import orjson

from app.db.json_reads import JsonReads


def file_of(reference: str) -> str:
    """The file object for a reference column: a primary-key lookup per row. (A JOIN made the
    planner hash the whole stored_file table for 100 rows - 6.4 against 4.2 ms for Q_list.)"""
    return f"""(SELECT json_build_object('url', '/files/' || f.entity || '/' || f.id || '/' ||
  f.filename, 'contentType', f.content_type, 'size', f.size, 'width', f.width,
  'height', f.height) FROM stored_file f WHERE f.id = {reference})"""


def gid(type_name: str, column: str) -> str:
    return f"encode(convert_to('{type_name}:' || {column}::text, 'UTF8'), 'base64')"


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
    workload = request["extensions"]["workload"]
    args = [uuid.UUID(request["extensions"]["id"])] if workload == "Q_small" else []
    payload = await _reads.fetch_text(SQL[workload], args)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": payload.encode()})
