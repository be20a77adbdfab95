"""Who may see and change what, checked once per root field or node - never per column.

Anonymous callers get UNAUTHENTICATED, signed-in callers lacking a scope get FORBIDDEN, and a
presented token that is not (or no longer) valid is UNAUTHENTICATED too.
"""

from __future__ import annotations

from app.auth.viewer import Viewer
from schema.context import Context
from schema.errors import Forbidden, Unauthenticated


async def require_viewer(context: Context) -> Viewer:
    """The signed-in viewer; anonymous callers are refused."""
    viewer = await context.viewer()
    if not viewer.is_authenticated:
        raise Unauthenticated("sign in first: send Authorization: Bearer <token>")
    return viewer


async def require_scope(context: Context, scope: str) -> Viewer:
    viewer = await context.viewer()
    if viewer.can(scope):
        return viewer
    if not viewer.is_authenticated:
        raise Unauthenticated(f"sign in with a user holding {scope}", scope=scope)
    raise Forbidden(f"this needs the {scope} permission", scope=scope)
