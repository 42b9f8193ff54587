"""Recognise image and video containers by their first bytes, never by file name.

Uploads are routinely misnamed (a PNG saved as .jpg, a video renamed to .jpg to slip past a filter),
so the decoders choose their parser from content. Anything not recognised here is refused before
a full-featured demuxer (Pillow's dozens of plugins, FFmpeg's hundreds) gets to guess at it: that
keeps exotic and network-capable parsers (EPS, HLS playlists, concat lists...) out of reach.
"""

from __future__ import annotations

import struct
from typing import Literal

from stopspread.media.limits import Source, read_head

Kind = Literal["image", "video"]

# How many leading bytes `sniff_format` wants: room for an ftyp box with a dozen brands and
# the second MPEG-TS sync byte.
HEAD_BYTES = 400

_HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"mif2"}
    | {b"msf1", b"avci", b"jpeg"}
)
_AVIF_BRANDS = frozenset({b"avif", b"avis", b"avio"})
_AUDIO_BRANDS = frozenset({b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "})
_VIDEO_BRANDS = frozenset(
    {b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"iso7", b"iso8", b"iso9"}
    | {b"mp41", b"mp42", b"mp71", b"avc1", b"M4V ", b"M4VH", b"M4VP", b"qt  ", b"mqt "}
    | {b"3gp4", b"3gp5", b"3gp6", b"3gp7", b"3gs7", b"3g2a", b"3g2b", b"3g2c", b"3ge6", b"3ge7"}
    | {b"3gg6", b"mmp4", b"dash", b"f4v ", b"f4p ", b"XAVC", b"MSNV", b"NDAS", b"NDSC", b"kddi"}
    | {b"KDDI", b"CAEP", b"caqv", b"ROSS", b"MPPI", b"mj2s", b"mjp2"}
)
# Old QuickTime files may start straight with one of these atoms, without an ftyp box.
_QT_ATOMS = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})
_BMP_HEADER_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})

IMAGE_FORMATS = frozenset({"jpeg", "png", "gif", "webp", "bmp", "tiff", "heif", "avif"})
VIDEO_FORMATS = frozenset({"mp4", "mov", "matroska", "avi", "mpegts", "mpeg", "flv", "asf", "ogg"})


def _isobmff(head: bytes) -> str | None:
    if head[4:8] in _QT_ATOMS:
        return "mov"
    if head[4:8] != b"ftyp" or len(head) < 12:
        return None
    size = struct.unpack(">I", head[:4])[0]
    major = head[8:12]
    end = min(max(size, 16), len(head))
    compatible = {head[i : i + 4] for i in range(16, end - 3, 4)}

    def classify(brand: bytes) -> str | None:
        if brand in _AVIF_BRANDS:
            return "avif"
        if brand in _HEIF_BRANDS:
            return "heif"
        if brand in _AUDIO_BRANDS:
            return "audio"
        if brand == b"qt  ":
            return "mov"
        if brand in _VIDEO_BRANDS:
            return "mp4"
        return None

    kind = classify(major)
    if kind is None:
        # Unknown major brand: fall back on what the file claims compatibility with, preferring
        # video because image brands like mif1 also appear in video files carrying a cover image.
        found = {classify(b) for b in compatible} - {None}
        for candidate in ("mov", "mp4", "avif", "heif", "audio"):
            if candidate in found:
                kind = candidate
                break
    return None if kind == "audio" else kind


def sniff_format(head: bytes) -> str | None:
    """Container name from the leading bytes (see ``IMAGE_FORMATS``/``VIDEO_FORMATS``), or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head.startswith(b"RIFF") and len(head) >= 12:
        return {b"WEBP": "webp", b"AVI ": "avi", b"AVIX": "avi"}.get(head[8:12])
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head.startswith(b"BM") and len(head) >= 18:
        if struct.unpack("<I", head[14:18])[0] in _BMP_HEADER_SIZES:
            return "bmp"
        return None
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    if head.startswith((b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3")):
        return "mpeg"
    if head.startswith(b"FLV\x01"):
        return "flv"
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11\xa6\xd9\x00\xaa\x00\x62\xce\x6c"):
        return "asf"
    if head.startswith(b"OggS"):
        return "ogg"
    # MPEG-TS packets are 188 bytes (192 in Blu-ray M2TS) starting with 0x47; a single 0x47
    # is too weak a signal, so demand the next packet's sync byte too.
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:
        return "mpegts"
    if len(head) > 196 and head[4] == 0x47 and head[196] == 0x47:
        return "mpegts"
    if len(head) >= 12:
        return _isobmff(head)
    return None


def kind_of(fmt: str | None) -> Kind | None:
    if fmt in IMAGE_FORMATS:
        return "image"
    if fmt in VIDEO_FORMATS:
        return "video"
    return None


def sniff_kind(source: Source) -> Kind | None:
    """``"image"``, ``"video"`` or None (unknown, audio-only or text), judged from magic bytes.

    ``source`` is a path (only the first few hundred bytes are read) or the file's bytes.
    """
    return kind_of(sniff_format(read_head(source, HEAD_BYTES)))
