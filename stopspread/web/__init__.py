"""The victim's page: served at ``/``, it fingerprints photos and videos in the browser.

Everything the page needs comes from this package (no CDN, no build step): ``static/`` holds the
HTML, CSS and ES modules, ``resources.json`` the default help resources per country. The page
talks only to this server's ``/v1/cases`` routes and sends fingerprints, never media; the
headers below make the browser enforce that (no other origin to connect to, no frames, no
referrer).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).parent / "static"
DEFAULT_RESOURCES = Path(__file__).parent / "resources.json"

# The browser may load scripts, styles and data from this server only; pictures are shown from
# blob: URLs made on the device. connect-src 'self' is what keeps a tampered or injected script
# from posting anything elsewhere.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
        "media-src 'self' blob:; connect-src 'self'; manifest-src 'self'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
    "cache-control": "no-cache",
}


class _Static(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        return response


def load_resources(path: Path | None) -> dict[str, Any]:
    """The help resources per country; a broken file fails at start-up, not in front of a victim."""
    data = json.loads((path or DEFAULT_RESOURCES).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("countries"), list):
        raise ValueError(f"{path}: resources must be an object with a 'countries' list")
    for country in data["countries"]:
        if not isinstance(country.get("code"), str) or not isinstance(country.get("resources"), list):
            raise ValueError(f"{path}: every country needs a 'code' and a 'resources' list")
    return data


def mount(app: FastAPI, resources_file: Path | None = None) -> None:
    """Serve the page at ``/``, its files under ``/web/`` and the help list at ``/web/resources.json``."""
    resources = load_resources(resources_file)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers=SECURITY_HEADERS)

    @app.get("/web/resources.json", include_in_schema=False)
    def help_resources() -> JSONResponse:
        return JSONResponse(resources, headers=SECURITY_HEADERS)

    app.mount("/web", _Static(directory=STATIC), name="web")
