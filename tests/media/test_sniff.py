from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from stopspread.media import sniff_kind
from stopspread.media.sniff import sniff_format
from tests.media._make import pattern, write_audio_only, write_video


def _image(fmt: str) -> bytes:
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    buf = io.BytesIO()
    Image.fromarray(pattern(64, 48)).save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("fmt", "name"),
    [
        ("JPEG", "jpeg"),
        ("PNG", "png"),
        ("GIF", "gif"),
        ("WEBP", "webp"),
        ("BMP", "bmp"),
        ("TIFF", "tiff"),
        ("HEIF", "heif"),
        ("AVIF", "avif"),
    ],
)
def test_images_by_magic(fmt: str, name: str) -> None:
    data = _image(fmt)
    assert sniff_format(data[:400]) == name
    assert sniff_kind(data) == "image"


@pytest.mark.parametrize(
    ("suffix", "name"),
    [(".mp4", "mp4"), (".mov", "mov"), (".mkv", "matroska"), (".ts", "mpegts"), (".avi", "avi")],
)
def test_videos_by_magic(tmp_path: Path, suffix: str, name: str) -> None:
    path = write_video(tmp_path / f"v{suffix}", seconds=0.4, codec="mpeg4")
    assert sniff_format(path.read_bytes()[:400]) == name
    assert sniff_kind(path) == "video"


def test_shared_videos_are_videos(media_videos: list[Path]) -> None:
    assert media_videos
    assert all(sniff_kind(p) == "video" for p in media_videos)


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "image"),
        (b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1heic", "image"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf", "image"),
        (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2", "video"),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  ", "video"),
        (b"\x00\x00\x00\x18ftyp3gp4\x00\x00\x00\x00isom3gp4", "video"),
        (b"\x00\x00\x00\x18ftypXXXX\x00\x00\x00\x00mp42isom", "video"),
        (b"\x00\x00\x00\x18ftypM4A \x00\x00\x00\x00M4A isom", None),  # audio only
        (b"\x1a\x45\xdf\xa3\x01\x00\x00\x00\x00\x00\x00\x1fB\x86\x81\x01", "video"),
        (b"OggS\x00\x02" + b"\x00" * 20, "video"),
        (b"FLV\x01\x05\x00\x00\x00\x09", "video"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", None),
        (b"hello world, this is text", None),
        (b"BMnot really a bitmap header", None),
        (b"", None),
        (b"\x47" + b"\x00" * 50, None),  # one TS sync byte is not enough
    ],
)
def test_magic_table(head: bytes, kind: str | None) -> None:
    assert sniff_kind(head) == kind


def test_audio_only_mp4_is_not_video(tmp_path: Path) -> None:
    path = write_audio_only(tmp_path / "a.mp4")
    # an audio-only MP4 says "isom" like any video; the decoder reports the missing stream
    assert sniff_kind(path) in ("video", None)
