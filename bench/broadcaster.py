"""A bare broadcaster: the floor that contentgraph's subscription fan-out is measured against.

It does only what any fan-out must: one Redis pub/sub subscription, and for each message one
graphql-transport-ws ``next`` frame, serialised once, written to every socket. No GraphQL, no
database, no authentication, no per-subscriber work - so on the same machine, with the same
uvicorn, the same clients and the same Redis, the gap to contentgraph is what contentgraph's
own work costs.

    python -m uvicorn bench.broadcaster:app --loop uvloop --http httptools --ws websockets-sansio

``POST /publish`` publishes its body (a JSON object, the subscription's ``data``) to the channel
and answers 200 once Redis has it: the baseline's "mutation". ``GET /count``: live sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import redis.asyncio as redis

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
CHANNEL = os.environ.get("BROADCAST_CHANNEL", "bench-fanout-broadcast")
PROTOCOL = "graphql-transport-ws"
ACK = json.dumps({"type": "connection_ack"})
PONG = json.dumps({"type": "pong"})


class Broadcaster:
    def __init__(self) -> None:
        self.subscribers: dict[int, Send] = {}  # socket -> its send, once it has subscribed
        self.sockets = 0
        self.client: redis.Redis | None = None
        self.listener: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
        elif scope["type"] == "websocket":
            await self.websocket(receive, send)
        elif scope["type"] == "http":
            await self.http(scope, receive, send)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.client = redis.Redis.from_url(REDIS_URL)
                pubsub = self.client.pubsub(ignore_subscribe_messages=True)
                await pubsub.subscribe(CHANNEL)
                self.listener = asyncio.create_task(self.fan_out(pubsub))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.listener is not None:
                    self.listener.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await self.listener
                if self.client is not None:
                    await self.client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def fan_out(self, pubsub: Any) -> None:
        async for message in pubsub.listen():
            if message["type"] != "message":
                continue
            # One frame per message, whoever receives it: the least a fan-out can do.
            frame = '{"id":"1","type":"next","payload":{"data":' + message["data"].decode() + "}}"
            event = {"type": "websocket.send", "text": frame}
            for send in list(self.subscribers.values()):
                with contextlib.suppress(Exception):  # a socket gone meanwhile
                    await send(event)

    async def websocket(self, receive: Receive, send: Send) -> None:
        key = id(send)
        self.sockets += 1
        try:
            while True:
                message = await receive()
                kind = message["type"]
                if kind == "websocket.connect":
                    await send({"type": "websocket.accept", "subprotocol": PROTOCOL})
                elif kind == "websocket.disconnect":
                    return
                elif kind == "websocket.receive" and message.get("text"):
                    frame = json.loads(message["text"])
                    if frame.get("type") == "connection_init":
                        await send({"type": "websocket.send", "text": ACK})
                    elif frame.get("type") == "subscribe":
                        self.subscribers[key] = send
                    elif frame.get("type") == "ping":
                        await send({"type": "websocket.send", "text": PONG})
        finally:
            self.sockets -= 1
            self.subscribers.pop(key, None)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "POST" and scope["path"] == "/publish":
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            assert self.client is not None
            await self.client.publish(CHANNEL, body)
            answer, status = b"{}", 200
        elif scope["path"] == "/count":
            live = {"sockets": self.sockets, "subscribed": len(self.subscribers)}
            answer, status = json.dumps(live).encode(), 200
        else:
            answer, status = b"{}", 404
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": answer})


app = Broadcaster()
