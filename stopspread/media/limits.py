"""Safety limits applied before and while decoding untrusted media, and reading of the input."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from stopspread.errors import MediaError, MediaLimitError

Source = Path | str | bytes | bytearray | memoryview


@dataclass(frozen=True)
class MediaLimits:
    """Upper bounds a single file may reach before decoding is refused or stopped.

    Every limit fails with ``MediaLimitError`` so a caller can tell "hostile or huge" apart from
    "broken" (``MediaError``) and keep going with the next file.
    """

    max_pixels: int = 100_000_000
    # Bounds what is read into memory: every image, and videos passed as bytes. Videos given as
    # paths are streamed from disk, so their bounds are duration and decode time instead.
    max_bytes: int = 200 * 1024 * 1024
    max_video_seconds: float = 3 * 3600.0
    max_decode_seconds: float = 120.0

    def __post_init__(self) -> None:
        for name in ("max_pixels", "max_bytes", "max_video_seconds", "max_decode_seconds"):
            if getattr(self, name) <= 0:
                raise ValueError(f"MediaLimits.{name} must be positive")

    def check_pixels(self, width: int, height: int, what: str) -> None:
        pixels = int(width) * int(height)
        if pixels > self.max_pixels:
            raise MediaLimitError(
                f"{what}: {width}x{height} = {pixels / 1e6:.1f} MP exceeds the limit of "
                f"{self.max_pixels / 1e6:.1f} MP (possible decompression bomb)"
            )


DEFAULT_LIMITS = MediaLimits()


def describe(source: Source) -> str:
    """A short name for messages: the path, or the size of an in-memory buffer."""
    if isinstance(source, str | Path):
        return str(source)
    return f"<{len(source)} bytes in memory>"


def source_size(source: Source, max_bytes: int | None) -> int:
    """Size in bytes, refusing empty inputs and any over ``max_bytes`` without reading them."""
    name = describe(source)
    if isinstance(source, str | Path):
        try:
            size = os.stat(source).st_size
        except FileNotFoundError:
            raise MediaError(f"{name}: file not found") from None
        except OSError as exc:
            raise MediaError(f"{name}: cannot read file ({exc.strerror or exc})") from None
        if not Path(source).is_file():
            raise MediaError(f"{name}: not a regular file")
    else:
        size = len(source)
    if size == 0:
        raise MediaError(f"{name}: file is empty (0 bytes)")
    if max_bytes is not None and size > max_bytes:
        raise MediaLimitError(
            f"{name}: {size / 2**20:.1f} MiB exceeds the limit of {max_bytes / 2**20:.1f} MiB"
        )
    return size


def _unreadable(source: Source, exc: OSError) -> MediaError:
    return MediaError(f"{describe(source)}: cannot read file ({exc.strerror or exc})")


def read_source(source: Source, limits: MediaLimits) -> bytes:
    """All bytes of the input, after the size checks."""
    source_size(source, limits.max_bytes)
    if isinstance(source, str | Path):
        try:
            return Path(source).read_bytes()
        except OSError as exc:
            raise _unreadable(source, exc) from None
    return bytes(source)


def read_head(source: Source, n: int = 64) -> bytes:
    """The first ``n`` bytes, enough for magic-number sniffing."""
    if isinstance(source, str | Path):
        try:
            with open(source, "rb") as fh:
                return fh.read(n)
        except OSError as exc:
            raise _unreadable(source, exc) from None
    return bytes(source[:n])
