"""Which exceptions mean "a dependency is unavailable" rather than "our code is wrong".

A pool with no free connection, a database or Redis that refuses or drops connections: the
client gets SERVICE_UNAVAILABLE (try again) and the log one WARNING line, where a bug gets
INTERNAL_SERVER_ERROR and a traceback.
"""

from __future__ import annotations

import asyncpg
import redis.exceptions
import sqlalchemy.exc

_UNAVAILABLE: tuple[type[BaseException], ...] = (
    sqlalchemy.exc.TimeoutError,  # the pool had no connection to give in time
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    ConnectionError,
    TimeoutError,
)


#: PostgreSQL's SQLSTATE classes and codes for "not now": connection exceptions (08),
#: insufficient resources (53, too many connections), operator intervention (57: shutting
#: down, starting up), and a database closed to connections (55000).
_UNAVAILABLE_STATES = ("08", "53", "57", "55000")


def is_unavailable(error: BaseException) -> bool:
    """True when ``error`` (or what it wraps) says a dependency could not be reached."""
    seen = 0
    current: BaseException | None = error
    while current is not None and seen < 5:
        if isinstance(current, _UNAVAILABLE):
            return True
        state = getattr(current, "sqlstate", None)
        if isinstance(state, str) and state.startswith(_UNAVAILABLE_STATES):
            return True
        if isinstance(current, sqlalchemy.exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
            return True  # could not connect, or the connection broke
        current = current.__cause__ or current.__context__
        seen += 1
    return False
