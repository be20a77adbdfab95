"""What every resolver can reach: the request, the database, settings and this request's loaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from strawberry.types import Info as StrawberryInfo

from app.config import Settings
from app.db.database import Database
from schema.loaders import Loaders

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.websockets import WebSocket


@dataclass
class Context:
    request: Request | WebSocket
    response: Any
    db: Database
    settings: Settings
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.db)


Info: TypeAlias = StrawberryInfo[Context, None]
