"""The investigator's page, served by the service at ``/investigate``: one static HTML file with
its script (no CDN, no build step). The page holds no data; it asks the investigator for the key
and the case number and reads ``/v1/investigations/cases/{number}/trace`` with them."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["investigators"])

# The page may talk only to the service it came from: nothing else can load or receive data.
_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'"
    ),
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def page_html() -> str:
    return resources.files("stopspread.trace").joinpath("static/investigate.html").read_text("utf-8")


@router.get("/investigate", response_class=HTMLResponse, include_in_schema=False)
def investigate_page() -> HTMLResponse:
    return HTMLResponse(page_html(), headers=_HEADERS)
