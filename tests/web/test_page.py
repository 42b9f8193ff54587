"""The victim's page end to end in headless Chromium at phone size: nothing but fingerprints leaves it.

The whole flow runs against a live server (pick photos and videos, fingerprint them, open a case,
read its number and secret, reopen it, add, withdraw) while every request the page makes is
recorded; the test fails if any request could carry picture or video bytes. Each step leaves a
phone-size screenshot in the screenshots folder ($STOPSPREAD_SCREENSHOTS or pytest's tmp).
"""

from __future__ import annotations

import io
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pillow_heif
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from playwright.sync_api import Browser, Page, Request

from stopspread.service.app import create_app
from stopspread.service.settings import Settings
from tests.web.conftest import LiveServer, open_page

HEX64 = re.compile(r"^[0-9a-f]{64}$")
# Signatures of media files: JPEG, PNG, GIF, WebP/RIFF, ISO BMFF (MP4, MOV, HEIC: "ftyp" at 4),
# Matroska/WebM.
MAGIC = [b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"RIFF", b"\x1a\x45\xdf\xa3"]
# A fingerprint record is ~200 bytes, a minute of video ~6 kB: a request body far larger than
# the fingerprints it declares is suspect.
MAX_BODY = 64 * 1024


@dataclass
class Sent:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None


def _record(requests: list[Sent]) -> Any:
    def on_request(request: Request) -> None:
        requests.append(Sent(request.method, request.url, request.headers, request.post_data_buffer))

    return on_request


def _check_image(record: dict) -> None:
    assert set(record) <= {"kind", "pdq", "quality", "region"}, record
    assert record["kind"] == "image" and HEX64.match(record["pdq"]) and isinstance(record["quality"], int)
    if "region" in record:
        region = record["region"]
        assert set(region) == {"box", "pdq", "quality"} and HEX64.match(region["pdq"])
        assert len(region["box"]) == 4 and all(0 <= v <= 1 for v in region["box"])


def _check_video(record: dict) -> None:
    assert set(record) == {"kind", "duration", "frames"}, record
    assert isinstance(record["duration"], int | float)
    for frame in record["frames"]:
        assert set(frame) == {"t", "pdq", "quality"} and HEX64.match(frame["pdq"]), frame


def assert_only_fingerprints(requests: list[Sent], origin: str) -> dict[str, int]:
    """Every request stays on the server, and every body is JSON of fingerprints or ids only."""
    seen = {"posts": 0, "fingerprints": 0}
    for sent in requests:
        assert sent.url.startswith(origin + "/") or sent.url.startswith(("blob:", "data:")), sent.url
        kind = sent.headers.get("content-type", "")
        assert not kind.startswith(("image/", "video/", "audio/", "multipart/", "application/octet")), sent
        body = sent.body
        if sent.method == "GET":
            assert not body
            continue
        seen["posts"] += 1
        assert body is not None and len(body) < MAX_BODY, (sent.url, len(body or b""))
        assert not any(body.startswith(m) for m in MAGIC) and body[4:8] != b"ftyp", sent.url
        assert b"ftyp" not in body and b"\xff\xd8\xff" not in body and b"base64" not in body
        assert kind.startswith("application/json"), (sent.url, kind)
        data = json.loads(body)
        assert set(data) <= {"fingerprints", "fingerprint_ids"}, data.keys()
        for record in data.get("fingerprints", []):
            seen["fingerprints"] += 1
            (_check_video if record.get("kind") == "video" else _check_image)(record)
        assert all(isinstance(i, int) for i in data.get("fingerprint_ids") or [])
    return seen


def _wait_for_files(page: Page, count: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    done = page.locator("#file-list li[data-status=ready], #file-list li[data-status=failed]")
    while done.count() < count:
        assert time.monotonic() < deadline, page.inner_text("#file-list")
        time.sleep(0.1)


@pytest.fixture
def odd_files(tmp_path: Path, media_images: list[Path]) -> list[Path]:
    """A HEIC photo (Chromium cannot decode HEIC: it must say so) and a file that is no picture."""
    heic = tmp_path / "from-iphone.heic"
    pillow_heif.from_pillow(Image.open(media_images[3])).save(heic, quality=80)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(media_images[4].read_bytes()[:300])
    return [heic, broken]


def test_whole_flow_sends_only_fingerprints(
    chromium: Browser,
    live_server: LiveServer,
    media_images: list[Path],
    media_videos: list[Path],
    odd_files: list[Path],
    screenshots: Path,
) -> None:
    errors: list[str] = []
    page = open_page(chromium, live_server, errors, locale="en-GB")
    requests: list[Sent] = []
    page.on("request", _record(requests))
    shot = lambda name: page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)  # noqa: E731
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scrolling
    shot("1-explanation")

    page.click("#start")
    photos, videos = media_images[:4], [media_videos[0], media_videos[-1]]
    page.set_input_files("#files", [str(p) for p in photos + videos + odd_files])
    _wait_for_files(page, 8)
    assert page.locator("#file-list li[data-status=ready]").count() == 6
    failed = page.locator("#file-list li[data-status=failed]")
    assert failed.count() == 2 and "could not read" in failed.first.inner_text()
    assert "6 of 8 ready" in page.inner_text("#pick-status")
    shot("2-fingerprinted")

    page.click("#send")
    page.wait_for_selector("#created:not([hidden])")
    number, secret = page.inner_text("#case-number"), page.inner_text("#case-secret")
    assert re.match(r"^SS-[A-Z0-9-]+$", number) and len(secret) >= 20
    assert "cannot be recovered" in page.inner_text("#created")
    with page.expect_download() as download:
        page.click("#download")
    saved = Path(download.value.path()).read_text()
    assert number in saved and secret in saved
    assert page.is_disabled("#continue")
    shot("3-case-number-and-secret")

    # Later, from a fresh page: number and secret open the case.
    page.context.close()
    page = open_page(chromium, live_server, errors, locale="en-GB")
    page.on("request", _record(requests))
    page.click("#have-case")
    page.fill("#number", number)
    page.fill("#secret", secret)
    page.click("#login button[type=submit]")
    page.wait_for_selector("#case-view:not([hidden])")
    assert page.inner_text("#count-active") == "6" and page.inner_text("#count-blocked") == "0"
    shot("4-case")

    page.click("#add-more")
    page.set_input_files("#files", [str(p) for p in media_images[10:12]])
    _wait_for_files(page, 2)
    shot("5-adding")
    page.click("#send")
    page.wait_for_selector("#case-view:not([hidden])")
    _wait_text(page, "#count-active", "8")
    assert "Added: 2" in page.inner_text("#manage-status")

    page.on("dialog", lambda dialog: dialog.accept())
    page.locator("#fingerprints input").nth(0).check()
    page.locator("#fingerprints input").nth(1).check()
    page.click("#withdraw-some")
    _wait_text(page, "#count-withdrawn", "2")
    assert page.inner_text("#count-active") == "6"
    shot("6-withdrew-some")
    page.click("#withdraw-all")
    _wait_text(page, "#count-active", "0")
    assert page.inner_text("#count-withdrawn") == "8"
    shot("7-withdrew-all")
    page.click("#help-link")
    shot("8-help")
    page.context.close()

    seen = assert_only_fingerprints(requests, live_server.url)
    assert seen["fingerprints"] == 8 and seen["posts"] == 4  # open, add, withdraw some, withdraw all
    assert not errors


def _wait_text(page: Page, selector: str, text: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while page.inner_text(selector) != text:
        assert time.monotonic() < deadline, (selector, page.inner_text(selector), text)
        time.sleep(0.05)


def test_media_body_would_be_caught() -> None:
    """The request check itself: a JPEG, an MP4 or pixels smuggled into JSON all fail it."""
    jpeg = io.BytesIO()
    Image.new("RGB", (8, 8)).save(jpeg, "JPEG")
    bad = [
        Sent("POST", "http://x/v1/cases", {"content-type": "image/jpeg"}, jpeg.getvalue()),
        Sent("POST", "http://x/v1/cases", {"content-type": "application/json"}, b"\0\0\0\x18ftypmp42"),
        Sent(
            "POST",
            "http://x/v1/cases",
            {"content-type": "application/json"},
            json.dumps(
                {"fingerprints": [{"kind": "image", "pdq": "0" * 64, "quality": 9, "pixels": [1]}]}
            ).encode(),
        ),
        Sent("GET", "http://elsewhere/x", {}, None),
    ]
    for sent in bad:
        with pytest.raises(AssertionError):
            assert_only_fingerprints([sent], "http://x")


def test_keyboard_only_labels_and_language(
    chromium: Browser, live_server: LiveServer, screenshots: Path
) -> None:
    errors: list[str] = []
    page = open_page(chromium, live_server, errors, locale="es-ES")
    # The browser's language chooses Spanish; the switch turns it to English and back.
    assert page.evaluate("document.documentElement.lang") == "es"
    assert "No estás en ningún lío" in page.inner_text("#intro")
    page.focus("#lang")
    page.keyboard.press("Enter")
    assert page.evaluate("document.documentElement.lang") == "en"
    assert "You are not in trouble" in page.inner_text("#intro")
    page.keyboard.press("Enter")
    assert page.evaluate("document.documentElement.lang") == "es"
    shot = lambda name: page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)  # noqa: E731
    shot("es-1-explicacion")

    # Keyboard only: Tab from the top reaches "I already have a case", Enter opens the form,
    # typing and Enter submits it, and the error is announced.
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "have-case":
            break
    assert page.evaluate("document.activeElement.id") == "have-case"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "number"
    page.keyboard.type("SS-NOPE0-NOPE0")
    page.keyboard.press("Tab")
    page.keyboard.type("not-the-secret")
    page.keyboard.press("Enter")
    page.wait_for_selector("#manage-error:has-text('no son correctos')")
    assert page.get_attribute("#manage-error", "role") == "alert"
    shot("es-2-caso-clave-mal")

    # Every form control in every step has an accessible name from a <label> (or aria-label).
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea, button, progress')]
              .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                              && !el.textContent.trim())
              .map((el) => el.outerHTML)"""
    )
    assert unlabelled == []
    assert page.get_attribute("#pick-status", "aria-live") == "polite"
    page.context.close()
    assert not errors


def test_page_headers_and_resources(tmp_path: Path) -> None:
    resources = {"countries": [{"code": "PT", "name": {"en": "Portugal"}, "resources": [{"name": "Linha"}]}]}
    custom = tmp_path / "help.json"
    custom.write_text(json.dumps(resources))
    with TestClient(create_app(Settings(data=tmp_path / "data", resources_file=custom))) as client:
        page = client.get("/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        policy = page.headers["content-security-policy"]
        assert "connect-src 'self'" in policy and "default-src 'none'" in policy
        assert client.get("/web/resources.json").json() == resources
        assert (
            client.get("/web/pdq.js")
            .headers["content-type"]
            .startswith(("text/javascript", "application/javascript"))
        )
        # The page is served; media still are refused.
        assert (
            client.post(
                "/v1/cases", content=b"\xff\xd8\xff", headers={"content-type": "image/jpeg"}
            ).status_code
            == 415
        )
    broken = tmp_path / "broken.json"
    broken.write_text("[]")
    with pytest.raises(ValueError, match="countries"):
        create_app(Settings(data=tmp_path / "data2", resources_file=broken))


def test_every_text_exists_in_both_languages() -> None:
    source = (Path(__file__).parents[2] / "stopspread" / "web" / "static" / "i18n.js").read_text()
    spanish, english = source.split("\n  en: {")
    keys = lambda text: set(re.findall(r'^\s+"([\w.]+)":', text, re.M))  # noqa: E731
    assert keys(spanish) == keys(english) and len(keys(english)) > 50
    html = (Path(__file__).parents[2] / "stopspread" / "web" / "static" / "index.html").read_text()
    assert set(re.findall(r'data-i18n(?:-label)?="([\w.]+)"', html)) <= keys(english)
