"""Decode still images straight to the small greyscale the fingerprints need.

The hashes look at ~64x64 effective resolution per region, with regions down to ~40 % of the side,
so a short side of about 256 px carries everything they use. Decoding a 12-MP phone photo at full
size only to throw 98 % of the pixels away is the main cost of image hashing, so JPEG (most
uploads) is decoded with libjpeg's DCT scaling at 1/2, 1/4 or 1/8 size and as luminance only. Other
formats have no such shortcut: they are decoded in full, then box-reduced.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from typing import Final

import numpy as np
from PIL import Image, ImageFile

from stopspread.errors import MediaError, MediaLimitError, UnsupportedMediaError
from stopspread.media.limits import DEFAULT_LIMITS, MediaLimits, Source, describe, read_source
from stopspread.media.sniff import HEAD_BYTES, kind_of, sniff_format

# PDQ's luminance weights (ITU-R BT.601), applied in float so nothing is lost to rounding.
LUMA_WEIGHTS: Final = np.array([0.299, 0.587, 0.114], dtype=np.float32)

# Our format name -> the only Pillow plugin allowed to parse it. Naming the plugin keeps Pillow
# from trying every other parser it has on a file whose magic bytes we already checked.
_PIL_FORMATS: Final = {
    "jpeg": "JPEG",
    "png": "PNG",
    "gif": "GIF",
    "webp": "WEBP",
    "bmp": "BMP",
    "tiff": "TIFF",
    "heif": "HEIF",
    "avif": "AVIF",
}

_EXIF_ORIENTATION: Final = 0x0112
_TRANSPOSE: Final = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

_heif_lock = threading.Lock()
_heif_registered = False


@dataclass(frozen=True, eq=False)
class DecodedImage:
    """Luminance ready for hashing.

    ``luma`` is float32 H x W in 0..255, already upright (EXIF orientation applied) and reduced so
    its short side is about ``min_side``..``2*min_side`` (never enlarged). ``original_size`` is the
    upright (width, height) of the full image; ``format`` is the detected container ("jpeg", ...).
    """

    luma: np.ndarray
    original_size: tuple[int, int]
    format: str


def _register_heif() -> None:
    # Importing pillow-heif loads libheif and codecs; only pay for that when a HEIF file shows up.
    global _heif_registered
    with _heif_lock:
        if not _heif_registered:
            try:
                import pillow_heif
            except ImportError as exc:  # pragma: no cover - it is a declared dependency
                raise UnsupportedMediaError("HEIC/HEIF support needs pillow-heif") from exc
            pillow_heif.register_heif_opener()
            _heif_registered = True


def _open(data: bytes, fmt: str, name: str, limits: MediaLimits) -> Image.Image:
    if fmt == "heif":
        _register_heif()
    # Pillow's own guard is a process-wide setting (warning above ~89 MP, error above ~179 MP);
    # ours is checked just below, from the parsed header, before any pixel is decoded. Its
    # warning is left alone: silencing it would need warnings.catch_warnings(), which is not
    # thread-safe, and under "-W error" it arrives here as an exception, reported as a limit.
    try:
        im = Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[fmt]])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaLimitError(f"{name}: {exc}") from None
    except Exception as exc:
        raise MediaError(f"{name}: not a readable {fmt.upper()} file ({_reason(exc)})") from None
    width, height = im.size
    if width <= 0 or height <= 0:
        raise MediaError(f"{name}: image has no pixels ({width}x{height})")
    limits.check_pixels(width, height, name)
    return im


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) < 200 else text[:200] + "..."


def _orientation(im: Image.Image) -> int:
    try:
        value = int(im.getexif().get(_EXIF_ORIENTATION, 1))
    except Exception:
        # Malformed EXIF is common in edited files; showing the image unrotated beats failing.
        return 1
    return value if value in _TRANSPOSE else 1


def _load(im: Image.Image, name: str) -> None:
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # Someone in this process asked Pillow to pad truncated files with grey; that would
        # silently hash half an image. Refuse rather than flip a process-wide setting back.
        raise MediaError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is set; stopspread will not decode with it on")
    try:
        im.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaLimitError(f"{name}: {exc}") from None
    except Exception as exc:
        msg = _reason(exc)
        if "truncated" in msg.lower() or isinstance(exc, EOFError):
            raise MediaError(f"{name}: image file is truncated or incomplete ({msg})") from None
        raise MediaError(f"{name}: corrupt image data ({msg})") from None


def _flatten(im: Image.Image, want: str) -> Image.Image:
    """Convert any Pillow mode to "L" or "RGB"; transparency is composited on white."""
    mode = im.mode
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode == "PA":
        im = im.convert("RGBA")
    elif mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        im = _wide_to_l(im)
    elif mode == "1":
        im = im.convert("L")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        im = im.convert("RGB")
    elif mode in ("RGBa", "La"):
        im = im.convert("RGBA" if mode == "RGBa" else "LA")

    if im.mode in ("RGBA", "LA"):
        # Grey+alpha goes through RGBA too (alpha_composite wants RGBA); grey stays grey since
        # the luma weights sum to 1.
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, im.convert("RGBA")).convert("RGB")
    if im.mode not in ("L", "RGB"):
        im = im.convert("RGB")
    if want == "RGB" and im.mode == "L":
        im = im.convert("RGB")
    return im


def _wide_to_l(im: Image.Image) -> Image.Image:
    # Pillow's I;16 -> L conversion clips everything above 255 to white; rescale the real range:
    # 16-bit integers span 0..65535, float images conventionally 0..1.
    arr = np.nan_to_num(np.asarray(im, dtype=np.float32))
    peak = float(arr.max(initial=0.0))
    if im.mode == "F" and peak <= 1.0:
        arr = arr * 255.0
    elif im.mode != "F" and peak > 255.0:
        arr = arr * (255.0 / 65535.0)
    return Image.fromarray(np.rint(np.clip(arr, 0.0, 255.0)).astype(np.uint8))


def _decode(
    source: Source, min_side: int | None, mode: str, limits: MediaLimits
) -> tuple[Image.Image, tuple[int, int], str]:
    if min_side is not None and min_side < 1:
        raise ValueError("min_side must be a positive number of pixels")
    name = describe(source)
    data = read_source(source, limits)
    fmt = sniff_format(data[:HEAD_BYTES])
    kind = kind_of(fmt)
    if kind == "video":
        raise UnsupportedMediaError(
            f"{name}: this is a video ({fmt}), not an image; use sample_frames() for videos"
        )
    if kind != "image" or fmt is None:
        raise UnsupportedMediaError(f"{name}: not a recognised image format (checked file content)")

    im = _open(data, fmt, name, limits)
    full_w, full_h = im.size
    if fmt == "jpeg" and min_side is not None:
        # DCT-domain downscale: libjpeg picks the largest of 1/8, 1/4, 1/2 that keeps both sides
        # >= the requested box, so asking for min_side x min_side bounds the *short* side.
        # Asking for "L" on a YCbCr JPEG also skips chroma decoding and colour conversion:
        # the JPEG Y channel already is BT.601 luminance.
        im.draft("L" if mode == "L" else "RGB", (min_side, min_side))
    _load(im, name)  # animated GIF/WebP/APNG and multi-page TIFF: only the first frame
    orientation = _orientation(im)
    im = _flatten(im, mode)

    if min_side is not None:
        factor = min(im.size) // min_side
        if factor >= 2:
            im = im.reduce(factor)  # box filter: every source pixel weighs the same
    if orientation != 1:
        im = im.transpose(_TRANSPOSE[orientation])
        if orientation in (5, 6, 7, 8):
            full_w, full_h = full_h, full_w
    return im, (full_w, full_h), fmt


def load_luma(source: Source, *, min_side: int = 256, limits: MediaLimits = DEFAULT_LIMITS) -> DecodedImage:
    """Decode an image (path or bytes) to upright float32 luminance, short side ~min_side.

    Raises ``UnsupportedMediaError`` for non-images (including videos), ``MediaLimitError`` for
    files over ``limits`` (checked from the header, before pixels are decoded) and ``MediaError``
    for empty, truncated or corrupt files.
    """
    im, size, fmt = _decode(source, min_side, "L", limits)
    if im.mode == "L":
        luma = np.asarray(im, dtype=np.float32)
    else:
        luma = np.asarray(im, dtype=np.float32) @ LUMA_WEIGHTS
    return DecodedImage(luma=np.ascontiguousarray(luma), original_size=size, format=fmt)


def load_rgb(
    source: Source, *, min_side: int | None = None, limits: MediaLimits = DEFAULT_LIMITS
) -> np.ndarray:
    """Decode an image to upright uint8 H x W x 3 RGB (transparency on white).

    Full size when ``min_side`` is None, otherwise reduced like ``load_luma`` (short side
    ~min_side..2*min_side, never enlarged).
    """
    im, _size, _fmt = _decode(source, min_side, "RGB", limits)
    return np.asarray(im, dtype=np.uint8).copy()
