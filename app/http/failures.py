"""The answer to an error nobody expected, on any route: JSON with a code, never a traceback.

Starlette's own last resort is a plain-text 500; clients of this server read JSON everywhere.
The details go to the log (Starlette re-raises to the server, which logs the traceback).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        {
            "errors": [
                {
                    "message": "Internal server error",
                    "extensions": {"code": "INTERNAL_SERVER_ERROR"},
                }
            ]
        },
        status_code=500,
    )
