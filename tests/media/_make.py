"""Synthetic test media, made with Pillow and PyAV only (no ffmpeg binary in CI)."""

from __future__ import annotations

import struct
import zlib
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

LUMA = np.array([0.299, 0.587, 0.114])


def pattern(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth colour gradient with a few rectangles: uint8 H x W x 3, no symmetry."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([255 * x / max(width - 1, 1), 255 * y / max(height - 1, 1), 128 + 0 * x], axis=-1)
    for _ in range(4):
        x0, y0 = int(rng.integers(0, max(width - 4, 1))), int(rng.integers(0, max(height - 4, 1)))
        w, h = int(rng.integers(2, max(width // 3, 3))), int(rng.integers(2, max(height // 3, 3)))
        img[y0 : y0 + h, x0 : x0 + w] = rng.integers(0, 256, 3)
    return img.astype(np.uint8)


def marker(width: int, height: int) -> np.ndarray:
    """Black image with a white block in the top-left corner: shows rotation and flips."""
    img = np.zeros((height, width, 3), np.uint8)
    img[: height // 3, : width // 4] = 255
    return img


def luma_of(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float64) @ LUMA


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return struct.pack(">I", len(data)) + kind + data + crc


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height, followed by a token IDAT."""

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


def png_bomb(width: int, height: int) -> bytes:
    """A genuine, valid 1-bit PNG of width x height all-black pixels: a few KB on disk."""

    row = b"\x00" * (1 + (width + 7) // 8)
    comp = zlib.compressobj(9)
    body = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", body)
        + _png_chunk(b"IEND", b"")
    )


def video_codec() -> str:
    for name in ("libx264", "mpeg4"):
        try:
            av.codec.Codec(name, "w")
            return name
        except Exception:
            continue
    raise RuntimeError("no H.264 or MPEG-4 encoder in this PyAV build")


def moving_frame(i: int, rate: int, width: int, height: int) -> np.ndarray:
    """Frame i of a horizontal gradient that scrolls one frame-width every 5 s."""
    shift = i * width / (5 * rate)
    x = (np.arange(width, dtype=np.float32) + shift) % width
    row = 255 * x / width
    img = np.empty((height, width, 3), np.uint8)
    img[...] = np.rint(row)[None, :, None].astype(np.uint8)
    img[: height // 4, : width // 6] = (255, 255, 255)  # fixed marker
    return img


def write_video(
    path: Path,
    *,
    seconds: float = 5.0,
    rate: int = 25,
    width: int = 320,
    height: int = 240,
    gop: int = 12,
    rotation: int = 0,
    codec: str | None = None,
    frames: list[np.ndarray] | None = None,
    options: dict[str, str] | None = None,
    sar: Fraction | None = None,
    audio: bool = False,
) -> Path:
    """Encode a synthetic video (moving gradient unless ``frames`` is given) with PyAV."""
    codec = codec or video_codec()
    count = len(frames) if frames is not None else round(seconds * rate)
    with av.open(str(path), "w", options=options or {}) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = gop
        if codec == "libx264":
            stream.codec_context.options = {"preset": "ultrafast", "bf": "2"}
        if sar is not None:
            stream.codec_context.sample_aspect_ratio = sar
        if rotation:
            stream.set_display_rotation(rotation)
        astream = out.add_stream("aac", rate=16000) if audio else None
        for i in range(count):
            img = frames[i] if frames is not None else moving_frame(i, rate, width, height)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, rate)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
        if astream is not None:
            _write_silence(out, astream, seconds)
    return path


def _write_silence(out: av.container.OutputContainer, astream: Any, seconds: float) -> None:
    samples = astream.codec_context.frame_size or 1024
    total = int(seconds * 16000)
    for start in range(0, total, samples):
        frame = av.AudioFrame.from_ndarray(np.zeros((1, samples), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        frame.pts = start
        for packet in astream.encode(frame):
            out.mux(packet)
    for packet in astream.encode():
        out.mux(packet)


def write_audio_only(path: Path, seconds: float = 1.0) -> Path:
    with av.open(str(path), "w") as out:
        astream = out.add_stream("aac", rate=16000)
        _write_silence(out, astream, seconds)
    return path
