"""The browser pages (static ES modules in townhall/web, no build step) and their URLs."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from townhall.api.errors import error_response

WEB = Path(__file__).resolve().parent.parent / "web"


def page(name: str):  # type: ignore[no-untyped-def]
    async def handler(request: Request) -> Response:
        path = WEB / name
        if not path.is_file():
            return error_response(404, "page_missing", f"the page {name} is not installed")
        return FileResponse(path, headers={"Cache-Control": "no-cache"})

    return handler


def routes() -> list[BaseRoute]:
    return [
        Route("/", page("index.html")),
        Route("/s/{space_id}", page("listen.html")),
        Route("/embed/{space_id}", page("listen.html")),  # the space page inside another site: views apart
        Route("/studio", page("studio.html")),
        Route("/r/{space_id}", page("replay.html")),
        Route("/c/{clip_id}", page("clip.html")),
        Mount("/static", StaticFiles(directory=WEB, check_dir=False), name="static"),
    ]
