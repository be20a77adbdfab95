"""``/favicon.ico``: browsers ask for it on their own for every page of an origin (GraphiQL,
``/files/...``, the probes), so a 404 there is noise in every console and every access log.

The icon - three linked nodes, a small graph - is drawn once with Pillow (already a dependency,
for probing uploads) rather than kept as a binary file nobody can review.
"""

from __future__ import annotations

import functools
import io
from typing import Final

from PIL import Image, ImageDraw
from starlette.requests import Request
from starlette.responses import Response

__all__ = ["favicon", "icon_bytes"]

MEDIA_TYPE: Final = "image/x-icon"
_CANVAS: Final = 64
_SIZES: Final = [(16, 16), (32, 32)]
_BACKGROUND: Final = (27, 31, 36, 255)
_EDGE: Final = (255, 255, 255, 255)
_NODE: Final = (225, 0, 152, 255)
_NODES: Final = ((32, 17), (16, 45), (48, 45))


@functools.cache
def icon_bytes() -> bytes:
    image = Image.new("RGBA", (_CANVAS, _CANVAS), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 0, _CANVAS - 1, _CANVAS - 1), radius=12, fill=_BACKGROUND)
    draw.line([*_NODES, _NODES[0]], fill=_EDGE, width=4, joint="curve")
    for x, y in _NODES:
        draw.ellipse((x - 8, y - 8, x + 8, y + 8), fill=_NODE)
    buffer = io.BytesIO()
    image.save(buffer, format="ICO", sizes=_SIZES)
    return buffer.getvalue()


async def favicon(request: Request) -> Response:
    return Response(
        icon_bytes(),
        media_type=MEDIA_TYPE,
        headers={"Cache-Control": "public, max-age=86400"},
    )
