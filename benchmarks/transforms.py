"""Realistic "forwarded copies" of photos and videos, for stopspread's benchmark.

A photo or video that spreads is rarely the same file twice: messaging apps downscale and
re-encode it, people crop it, mirror it, put a caption or a sticker on it, take a screenshot of
the chat it arrived in, or cut a clip of it into a compilation. This module makes such copies
from benign media so that the benchmark can measure recall (every copy must still match its
original) and false matches (unrelated media must never match).

Every random choice comes from the ``random.Random`` passed in, so a seed reproduces the same
bytes with the same Pillow / libjpeg / libpng / libwebp / FFmpeg / libx264 builds. Text is drawn
with Pillow's embedded font, never a system font, for that reason; videos are encoded by one
libx264 thread without macroblock-tree rate control (which reads uninitialised memory when a
side is not a multiple of 16, and then writes different bytes from run to run). Audio is
dropped: the copies are silent.

Images
    ``FAMILIES[name](img, rng) -> PIL.Image.Image`` (RGB) — the plain functions.
    ``forward_image(name, img, rng) -> ForwardedImage`` — the same result plus the encoded file
    (what was "sent"), its format, the parameters that were drawn and, for screenshots, where
    the photo lies in the output (``box``).
    Every family ends with a realistic encode (JPEG q 50-90 or PNG) unless its last step already
    chose one (``recompress``, ``screenshot``). The returned image is the decoded file.

Videos
    ``VIDEO_FAMILIES[name](src, dst, rng) -> None`` — plain functions, PyAV in and out.
    ``forward_video(name, src, dst, rng, fillers=...) -> dict`` — the same, returning the drawn
    parameters; ``fillers`` are the unrelated clips (videos, or photos to pan over) that
    ``compilation`` puts around the original.
    ``make_pan_video(photo, dst, rng)`` makes a slow pan/zoom video over a photo.
"""

from __future__ import annotations

import colorsys
import functools
import io
import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal, NamedTuple, overload

import av
import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont

Box = tuple[int, int, int, int]
"""(left, top, right, bottom) in output pixels, right/bottom exclusive."""

Params = dict[str, Any]

_EXT = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
_PNG_LEVEL = 4  # zlib effort only: the pixels are the same at any level

__all__ = [
    "FAMILIES",
    "IMAGE_FAMILY_NAMES",
    "VIDEO_FAMILIES",
    "VIDEO_FAMILY_NAMES",
    "ChatFrame",
    "ForwardedImage",
    "blur_noise",
    "chat_screen",
    "colour",
    "combo",
    "crop",
    "forward_image",
    "forward_video",
    "inner_rect",
    "make_pan_video",
    "mirror_rotate",
    "overlay",
    "recompress",
    "render_chat_screen",
    "screenshot",
    "slight_rotate",
    "video_info",
]


# --------------------------------------------------------------------------------------------
# Results and bookkeeping
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ForwardedImage:
    """A forwarded copy: the file as sent, its decoded pixels and how it was made."""

    image: Image.Image
    data: bytes
    format: str
    family: str
    steps: tuple[Params, ...]
    box: Box | None = None

    @property
    def ext(self) -> str:
        return _EXT[self.format]

    def params(self) -> Params:
        """JSON-ready description (for the dataset manifest)."""
        return {
            "family": self.family,
            "steps": list(self.steps),
            "format": self.format,
            "size": list(self.image.size),
            "box": list(self.box) if self.box is not None else None,
        }


@dataclass
class _Trace:
    """What the steps of one family did, threaded through them."""

    steps: list[Params] = field(default_factory=list)
    encoded: tuple[bytes, str] | None = None  # set by a step that chose the file format
    box: Box | None = None  # where the photo lies, once a screenshot has been taken
    chat_frame: ChatFrame | None = None  # forced frame for the next screenshot step

    def log(self, op: str, **params: Any) -> None:
        self.steps.append({"op": op, **params})


def _as_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return img.convert("RGB")


def _encode(img: Image.Image, fmt: str, quality: int | None = None) -> tuple[bytes, Image.Image]:
    """Encode through an in-memory file; return the bytes and what a receiver decodes."""
    buf = io.BytesIO()
    if fmt == "JPEG":
        img.save(buf, "JPEG", quality=quality)
    elif fmt == "WEBP":
        img.save(buf, "WEBP", quality=quality, method=4)
    elif fmt == "PNG":
        img.save(buf, "PNG", compress_level=_PNG_LEVEL)
    else:
        raise ValueError(f"unknown format {fmt!r}")
    data = buf.getvalue()
    decoded = Image.open(io.BytesIO(data))
    decoded.load()
    return data, _as_rgb(decoded)


def _final_encode(img: Image.Image, rng: random.Random, tr: _Trace) -> Image.Image:
    """The re-encode every forwarded copy goes through: JPEG q 50-90 (85 %) or PNG (15 %)."""
    if rng.random() < 0.15:
        fmt, quality = "PNG", None
    else:
        fmt, quality = "JPEG", rng.randint(50, 90)
    data, out = _encode(img, fmt, quality)
    tr.encoded = (data, fmt)
    tr.log("encode", format=fmt, quality=quality)
    return out


def _shift_box(box: Box, dx: int, dy: int) -> Box:
    return (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy)


def _scale_box(box: Box, sx: float, sy: float) -> Box:
    return (round(box[0] * sx), round(box[1] * sy), round(box[2] * sx), round(box[3] * sy))


# --------------------------------------------------------------------------------------------
# Image steps: (img, rng, trace) -> img. Families are one step or a recipe of steps.
# --------------------------------------------------------------------------------------------

Step = Callable[[Image.Image, random.Random, _Trace], Image.Image]


def _step_recompress(img: Image.Image, rng: random.Random, tr: _Trace) -> Image.Image:
    """What a messaging app does: long side down to 800-1600 px, then JPEG q 30-80 (70 %),
    WebP q 40-85 (15 %) or PNG (15 %)."""
    target = rng.randint(800, 1600)
    resample = rng.choice([Image.Resampling.BILINEAR, Image.Resampling.BICUBIC, Image.Resampling.LANCZOS])
    w, h = img.size
    if max(w, h) > target:
        k = target / max(w, h)
        size = (max(1, round(w * k)), max(1, round(h * k)))
        img = img.resize(size, resample, reducing_gap=3.0)
        if tr.box is not None:
            tr.box = _scale_box(tr.box, size[0] / w, size[1] / h)
    u = rng.random()
    if u < 0.70:
        fmt, quality = "JPEG", rng.randint(30, 80)
    elif u < 0.85:
        fmt, quality = "WEBP", rng.randint(40, 85)
    else:
        fmt, quality = "PNG", None
    data, out = _encode(img, fmt, quality)
    tr.encoded = (data, fmt)
    tr.log(
        "recompress",
        long_side=max(out.size),
        resample=resample.name.lower(),
        format=fmt,
        quality=quality,
    )
    return out


def _sepia(img: Image.Image, strength: float) -> Image.Image:
    a = np.asarray(img, dtype=np.float32)
    m = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]], np.float32)
    tone = a @ m.T
    out = (1.0 - strength) * a + strength * tone
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))


def _vignette(img: Image.Image, strength: float) -> Image.Image:
    w, h = img.size
    y = np.linspace(-1.0, 1.0, h, dtype=np.float32)[:, None]
    x = np.linspace(-1.0, 1.0, w, dtype=np.float32)[None, :]
    r2 = (x * x + y * y) / 2.0  # 0 at the centre, 1 in the corners
    gain = 1.0 - strength * r2**1.5
    out = np.asarray(img, dtype=np.float32) * gain[..., None]
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))


def _signed_factor(rng: random.Random) -> float:
    return 1.0 + rng.choice([-1.0, 1.0]) * rng.uniform(0.15, 0.40)


def _step_colour(img: Image.Image, rng: random.Random, tr: _Trace) -> Image.Image:
    """One or two of: brightness, contrast, saturation (each x(1 +- 0.15..0.40)), greyscale,
    vintage (sepia 60-100 % + vignette 30-60 %)."""
    ops = rng.sample(["brightness", "contrast", "saturation", "greyscale", "vintage"], rng.choice([1, 2]))
    done: list[Params] = []
    for op in ops:
        if op == "greyscale":
            img = img.convert("L").convert("RGB")
            done.append({"op": op})
        elif op == "vintage":
            sepia, vignette = rng.uniform(0.6, 1.0), rng.uniform(0.3, 0.6)
            img = _vignette(_sepia(img, sepia), vignette)
            done.append({"op": op, "sepia": round(sepia, 3), "vignette": round(vignette, 3)})
        else:
            enhancer = {
                "brightness": ImageEnhance.Brightness,
                "contrast": ImageEnhance.Contrast,
                "saturation": ImageEnhance.Color,
            }[op]
            factor = _signed_factor(rng)
            img = enhancer(img).enhance(factor)
            done.append({"op": op, "factor": round(factor, 3)})
    tr.log("colour", changes=done)
    return img


_DIHEDRAL = {
    90: Image.Transpose.ROTATE_90,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_270,
}


def _step_mirror_rotate(img: Image.Image, rng: random.Random, tr: _Trace) -> Image.Image:
    """Horizontal mirror, or rotation by 90/180/270 (counter-clockwise), or both."""
    kind = rng.choice(["mirror", "rotate", "mirror+rotate"])
    mirror = kind != "rotate"
    degrees = rng.choice([90, 180, 270]) if kind != "mirror" else 0
    if mirror:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if degrees:
        img = img.transpose(_DIHEDRAL[degrees])
    tr.box = None
    tr.log("mirror_rotate", mirror=mirror, rotate=degrees)
    return img


def _step_mirror(img: Image.Image, rng: random.Random, tr: _Trace) -> Image.Image:
    tr.box = None
    tr.log("mirror")
    return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)


def inner_rect(w: float, h: float, angle: float) -> tuple[float, float]:
    """Largest axis-aligned rectangle (width, height) centred inside a w x h rectangle rotated
    by ``angle`` radians.

    A centred W x H rectangle fits iff its corners lie inside the rotated one, i.e. (with
    c = |cos|, s = |sin|) W c + H s <= w and W s + H c <= h. The area W H is largest either
    where both bounds hold with equality (a 2x2 linear system), or, for a thin rectangle, where
    only the bound of its short side binds: then W s = H c = short / 2.
    """
    if w <= 0 or h <= 0:
        return 0.0, 0.0
    c, s = abs(math.cos(angle)), abs(math.sin(angle))
    long_side, short_side = max(w, h), min(w, h)
    if s < 1e-12:
        return w, h
    if short_side <= 2.0 * s * c * long_side or abs(c - s) < 1e-10:
        half = short_side / 2.0
        if w >= h:
            return half / s, half / c
        return half / c, half / s
    cos2 = c * c - s * s
    return (w * c - h * s) / cos2, (h * c - w * s) / cos2


def _step_slight_rotate(img: Image.Image, rng: random.Random, tr: _Trace) -> Image.Image:
    """Rotate by 3-9 degrees either way, then trim to the largest inner rectangle."""
    angle = rng.uniform(3.0, 9.0) * rng.choice([-1.0, 1.0])
    w, h = img.size
    rotated = img.rotate(angle, Image.Resampling.BICUBIC, expand=True)
    iw, ih = inner_rect(w, h, math.radians(angle))
    iw, ih = math.floor(iw) - 2, math.floor(ih) - 2  # 1 px margin: no blended edge pixel left
    rw, rh = rotated.size
    left, top = (rw - iw) // 2, (rh - ih) // 2
    tr.box = None
    tr.log("slight_rotate", degrees=round(angle, 3), size=[iw, ih])
    return rotated.crop((left, top, left + iw, top + ih))


def _step_crop(img: Image.Image, rng: random.Random, tr: _Trace) -> Image.Image:
    """Remove 0-20 % from each side independently, at least one side 8 % or more."""
    fr = [rng.uniform(0.0, 0.20) for _ in range(4)]  # left, top, right, bottom
    if max(fr) < 0.08:
        fr[rng.randrange(4)] = rng.uniform(0.08, 0.20)
    w, h = img.size
    box = (round(fr[0] * w), round(fr[1] * h), w - round(fr[2] * w), h - round(fr[3] * h))
    tr.box = None
    tr.log(
        "crop",
        left=round(fr[0], 4),
        top=round(fr[1], 4),
        right=round(fr[2], 4),
        bottom=round(fr[3], 4),
    )
    return img.crop(box)


def _step_blur_noise(img: Image.Image, rng: random.Random, tr: _Trace) -> Image.Image:
    """Gaussian blur radius 1-3, or Gaussian noise sigma 5-15, or both."""
    mode = rng.choice(["blur", "noise", "both"])
    radius = sigma = None
    if mode in ("blur", "both"):
        radius = rng.uniform(1.0, 3.0)
        img = img.filter(ImageFilter.GaussianBlur(radius))
    if mode in ("noise", "both"):
        sigma = rng.uniform(5.0, 15.0)
        gen = np.random.default_rng(rng.getrandbits(64))
        a = np.asarray(img, dtype=np.float32)
        a = a + gen.standard_normal(a.shape, dtype=np.float32) * sigma
        img = Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8))
    tr.log(
        "blur_noise",
        blur_radius=None if radius is None else round(radius, 3),
        noise_sigma=None if sigma is None else round(sigma, 3),
    )
    return img


# ---- overlays: captions and stickers -------------------------------------------------------

_CAPTIONS = [
    "when you see it",
    "no way",
    "mood",
    "best day ever",
    "look who it is",
    "cuando te das cuenta",
    "jajaja",
    "ni de broma",
    "monday again",
    "throwback",
    "this is fine",
    "me every weekend",
    "guess where",
    "aqui estamos",
    "LOL",
    "send this to someone",
]
_LABELS = ["LOL", "OMG", "WOW", "jaja", "#tbt", "2019", "XD", "fav", "hoy", "nope", "100", "ok"]


@functools.lru_cache(maxsize=128)
def _font(px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's embedded font (the same on every machine), ``px`` pixels high."""
    return ImageFont.load_default(size=max(1, px))


def _bright_colour(rng: random.Random) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.55, 1.0), rng.uniform(0.75, 1.0))
    return round(r * 255), round(g * 255), round(b * 255)


def _any_colour(rng: random.Random) -> tuple[int, int, int]:
    return rng.randrange(256), rng.randrange(256), rng.randrange(256)


def _star(cx: float, cy: float, r: float, points: int = 5) -> list[tuple[float, float]]:
    pts = []
    for i in range(points * 2):
        rad = r if i % 2 == 0 else r * 0.45
        a = -math.pi / 2 + i * math.pi / points
        pts.append((cx + rad * math.cos(a), cy + rad * math.sin(a)))
    return pts


# Fraction of its bounding box that each sticker kind covers (for sizing; the real coverage is
# measured on the drawn mask).
_STICKER_FILL = {
    "smiley": 0.785,
    "heart": 0.62,
    "star": 0.35,
    "label": 0.9,
    "blob": 0.785,
    "box": 1.0,
}


def _draw_sticker(
    d: ImageDraw.ImageDraw, kind: str, x: float, y: float, side: float, rng: random.Random
) -> Params:
    """Draw one opaque sticker with its top-left corner at (x, y); side = bounding box height."""
    colour = _bright_colour(rng)
    desc: Params = {
        "kind": kind,
        "x": round(x),
        "y": round(y),
        "side": round(side),
        "rgb": list(colour),
    }
    if kind == "smiley":
        d.ellipse(
            (x, y, x + side, y + side),
            fill=(*colour, 255),
            outline=(40, 30, 0, 255),
            width=max(1, round(side / 40)),
        )
        eye = side * 0.09
        for ex in (0.34, 0.66):
            d.ellipse(
                (
                    x + side * ex - eye,
                    y + side * 0.36 - eye * 1.4,
                    x + side * ex + eye,
                    y + side * 0.36 + eye * 1.4,
                ),
                fill=(30, 20, 10, 255),
            )
        d.arc(
            (x + side * 0.25, y + side * 0.3, x + side * 0.75, y + side * 0.78),
            20,
            160,
            fill=(30, 20, 10, 255),
            width=max(2, round(side * 0.06)),
        )
    elif kind == "heart":
        r = side * 0.27
        d.ellipse(
            (x + side * 0.5 - 2 * r, y + side * 0.05, x + side * 0.5, y + side * 0.05 + 2 * r),
            fill=(*colour, 255),
        )
        d.ellipse(
            (x + side * 0.5, y + side * 0.05, x + side * 0.5 + 2 * r, y + side * 0.05 + 2 * r),
            fill=(*colour, 255),
        )
        d.polygon(
            [
                (x + side * 0.5 - 2 * r + side * 0.02, y + side * 0.05 + r * 1.3),
                (x + side * 0.5 + 2 * r - side * 0.02, y + side * 0.05 + r * 1.3),
                (x + side * 0.5, y + side * 0.97),
            ],
            fill=(*colour, 255),
        )
    elif kind == "star":
        d.polygon(_star(x + side / 2, y + side / 2, side / 2), fill=(*colour, 255))
    elif kind == "label":
        w = side * 2.4
        text = rng.choice(_LABELS)
        ink = (255, 255, 255, 255) if sum(colour) < 450 else (20, 20, 20, 255)
        d.rounded_rectangle((x, y, x + w, y + side), radius=side * 0.25, fill=(*colour, 255))
        font = _font(round(side * 0.55))
        d.text((x + w / 2, y + side / 2), text, font=font, fill=ink, anchor="mm")
        desc["text"] = text
    elif kind == "blob":
        d.ellipse(
            (x, y, x + side * rng.uniform(0.8, 1.2), y + side),
            fill=(*colour, 255),
            outline=(255, 255, 255, 255),
            width=max(2, round(side / 25)),
        )
    elif kind == "box":
        d.rectangle((x, y, x + side * rng.uniform(0.7, 1.6), y + side), fill=(*_any_colour(rng), 255))
    else:
        raise ValueError(kind)
    return desc


def _sticker_width(kind: str, side: float) -> float:
    return side * {"label": 2.4, "blob": 1.2, "box": 1.6}.get(kind, 1.0)


def _coverage(layer: Image.Image) -> float:
    alpha = np.asarray(layer.getchannel("A"))
    return float(np.count_nonzero(alpha >= 128)) / alpha.size


def _caption_layer(layer: Image.Image, rng: random.Random, hi: float) -> tuple[Image.Image, Params]:
    """Add a caption: outlined "meme" text, or text on a translucent band; top or bottom."""
    w, h = layer.size
    text = rng.choice(_CAPTIONS)
    style = rng.choice(["outline", "band"])
    where = rng.choice(["top", "bottom"])
    upper = rng.random() < 0.5
    if upper:
        text = text.upper()
    px = round(min(w, h) * rng.uniform(0.07, 0.12))
    while px > 8 and _font(px).getlength(text) > 0.92 * w:
        px = round(px * 0.9)
    font = _font(px)
    for _ in range(12):
        cand = layer.copy()
        d = ImageDraw.Draw(cand)
        band_h = round(px * 1.7)
        y0 = round(h * 0.03) if where == "top" else h - band_h - round(h * 0.03)
        fill = (255, 255, 255, 255) if rng.random() < 0.8 else (*_bright_colour(rng), 255)
        if style == "band":
            dark = rng.random() < 0.7
            band = (0, 0, 0, 160) if dark else (255, 255, 255, 170)
            d.rectangle((0, y0, w, y0 + band_h), fill=band)
            fill = (255, 255, 255, 255) if dark else (15, 15, 15, 255)
            d.text((w / 2, y0 + band_h / 2), text, font=font, fill=fill, anchor="mm")
        else:
            d.text(
                (w / 2, y0 + band_h / 2),
                text,
                font=font,
                fill=fill,
                anchor="mm",
                stroke_width=max(2, px // 12),
                stroke_fill=(0, 0, 0, 255),
            )
        if _coverage(cand) <= hi * 0.8:
            break
        px = round(px * 0.8)
        font = _font(px)
    return cand, {"text": text, "style": style, "where": where, "px": px}


def _overlay_layer(
    size: tuple[int, int],
    rng: random.Random,
    *,
    lo: float,
    hi: float,
    caption: bool,
    stickers: bool,
    kinds: Sequence[str] = ("smiley", "heart", "star", "label", "blob"),
) -> tuple[Image.Image, Params]:
    """An RGBA layer of captions/stickers covering between ``lo`` and ``hi`` of the area
    (measured on the drawn alpha, aiming at a target drawn uniformly in [lo, hi])."""
    w, h = size
    area = w * h
    target = rng.uniform(lo, hi)
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    desc: Params = {"target": round(target, 4), "caption": None, "stickers": []}
    if caption:
        layer, desc["caption"] = _caption_layer(layer, rng, hi)
    cov = _coverage(layer)
    if cov < lo and not stickers:  # outlined text too thin: put it on a band covering `target`
        layer = Image.new("RGBA", size, (0, 0, 0, 0))
        d = ImageDraw.Draw(layer)
        band_h = round(target * h)
        top = desc["caption"]["where"] == "top"
        y0 = 0 if top else h - band_h
        d.rectangle((0, y0, w, y0 + band_h), fill=(0, 0, 0, 170))
        text = desc["caption"]["text"]
        px = round(band_h * 0.6)
        while px > 8 and _font(px).getlength(text) > 0.92 * w:
            px = round(px * 0.9)
        d.text((w / 2, y0 + band_h / 2), text, font=_font(px), fill=(255, 255, 255, 255), anchor="mm")
        desc["caption"].update(style="band", px=px)
        cov = _coverage(layer)
    short = min(w, h)
    attempts = 0
    while stickers and cov < target and attempts < 40:
        attempts += 1
        kind = rng.choice(list(kinds))
        remaining = (target - cov) * area
        side = math.sqrt(
            remaining * rng.uniform(0.5, 1.0) / (_STICKER_FILL[kind] * _sticker_width(kind, 1.0))
        )
        side = min(max(side, short * 0.06), short * 0.6, w / _sticker_width(kind, 1.0) * 0.9)
        x = rng.uniform(0, max(0.0, w - _sticker_width(kind, side)))
        y = rng.uniform(0, max(0.0, h - side))
        cand = layer.copy()
        sdesc = _draw_sticker(ImageDraw.Draw(cand), kind, x, y, side, rng)
        new = _coverage(cand)
        if new > hi:
            continue
        layer, cov = cand, new
        desc["stickers"].append(sdesc)
    if cov < lo:  # rare: fill the gap with a plain label box in a free corner
        d = ImageDraw.Draw(layer)
        need = (lo - cov + 0.005) * area
        bw = min(w, round(math.sqrt(need * 2.0)))
        bh = min(h, math.ceil(need / bw) + 1)
        x0 = rng.choice([0, w - bw])
        y0 = rng.choice([0, h - bh])
        colour = _bright_colour(rng)
        d.rectangle((x0, y0, x0 + bw, y0 + bh), fill=(*colour, 255))
        desc["stickers"].append({"kind": "fill", "x": x0, "y": y0, "w": bw, "h": bh, "rgb": list(colour)})
        cov = _coverage(layer)
    desc["coverage"] = round(cov, 4)
    return layer, desc


def _apply_layer(img: Image.Image, layer: Image.Image) -> Image.Image:
    return Image.alpha_composite(img.convert("RGBA"), layer).convert("RGB")


def _step_overlay(img: Image.Image, rng: random.Random, tr: _Trace) -> Image.Image:
    """A caption (70 %) and stickers, covering 5-20 % of the photo in total."""
    layer, desc = _overlay_layer(img.size, rng, lo=0.05, hi=0.20, caption=rng.random() < 0.7, stickers=True)
    tr.log("overlay", **desc)
    return _apply_layer(img, layer)


def _step_caption(img: Image.Image, rng: random.Random, tr: _Trace) -> Image.Image:
    """A caption only (outlined text or a band), 5-20 % of the area."""
    layer, desc = _overlay_layer(img.size, rng, lo=0.05, hi=0.20, caption=True, stickers=False)
    tr.log("caption", **desc)
    return _apply_layer(img, layer)


# --------------------------------------------------------------------------------------------
# Chat screenshots
# --------------------------------------------------------------------------------------------

_IOS_SIZES = [(1170, 2532), (1284, 2778), (1080, 2340), (1179, 2556)]
_ANDROID_SIZES = [(1080, 2340), (1080, 2400), (1080, 1920), (720, 1600)]
_NAMES = [
    "Alex",
    "Sam",
    "Dani",
    "Noa",
    "Chris",
    "Vale",
    "Jordan",
    "Mar",
    "Kim",
    "Robin",
    "Toni",
    "Ari",
    "Fran",
    "Family",
    "Group chat",
    "Lu",
]
_CHAT_LINES = [
    "hey",
    "did you see this?",
    "lol",
    "omg",
    "who sent you this",
    "look",
    "haha no way",
    "where was this taken?",
    "send me the other one",
    "this is so old",
    "wait what",
    "ok",
    "see you at 8",
    "call me later",
    "it was in the group",
    "can you forward it to Sam?",
    "i cant believe it",
    "nice",
    "hahaha",
    "where did you get it",
    "mira esto",
    "jajaja",
    "que es esto?",
    "quien te lo paso?",
    "te lo reenvio",
    "ya lo vi",
    "donde fue?",
    "llamame luego",
    "vale",
    "me lo pasaron en el grupo",
    "en serio?",
    "ahora te lo mando",
    "ok see you tomorrow then, dont forget the keys",
    "no se que decirte, lo vi ayer en el grupo del trabajo",
]
_LAYOUT_WEIGHTS = {"whatsapp": 0.35, "imessage": 0.2, "telegram": 0.2, "viewer": 0.25}


class Message(NamedTuple):
    text: str
    sent: bool
    time: str


def _clock(rng: random.Random, h24: bool = True) -> str:
    hour = rng.randrange(24) if h24 else rng.randint(1, 12)
    return f"{hour}:{rng.randrange(60):02d}"


@dataclass(frozen=True)
class ChatFrame:
    """Everything about a chat screenshot except the photo inside it.

    ``ChatFrame.from_seed(seed)`` always gives the same frame, so the same frame can wrap any
    picture (the photo's size and aspect move only what sits below it in the chat).
    """

    seed: int
    size: tuple[int, int]
    layout: str  # whatsapp | imessage | telegram | viewer
    theme: str  # light | dark
    platform: str  # ios | android
    anchor: str  # top | bottom: where the conversation sits when it is short
    clock: str
    battery: int
    contact: str
    avatar_rgb: tuple[int, int, int]
    subtitle: str
    date_chip: str | None
    above: tuple[Message, ...]
    below: tuple[Message, ...]
    photo_sent: bool
    photo_frac: float  # photo bubble width / screen width (0.60-0.95)
    photo_time: str
    viewer_bg: tuple[int, int, int]
    save_format: str  # PNG | JPEG
    quality: int | None

    @classmethod
    def from_seed(cls, seed: int, *, layout: str | None = None, theme: str | None = None) -> ChatFrame:
        rng = random.Random(seed)
        drawn_layout = rng.choices(list(_LAYOUT_WEIGHTS), weights=list(_LAYOUT_WEIGHTS.values()))[0]
        drawn_theme = rng.choice(["light", "dark"])
        drawn_platform = rng.choice(["ios", "android"])
        layout = layout or drawn_layout
        theme = theme or drawn_theme
        platform = "ios" if layout == "imessage" else drawn_platform
        size = rng.choice(_IOS_SIZES if platform == "ios" else _ANDROID_SIZES)
        h24 = rng.random() < 0.6

        def msgs(n: int) -> tuple[Message, ...]:
            return tuple(
                Message(rng.choice(_CHAT_LINES), rng.random() < 0.5, _clock(rng, h24)) for _ in range(n)
            )

        above, below = msgs(rng.randint(0, 3)), msgs(rng.randint(0, 2))
        if rng.random() < 0.35:
            viewer_bg = (255, 255, 255) if theme == "light" else (18, 18, 18)
        else:
            viewer_bg = (0, 0, 0)
        fmt = "PNG" if rng.random() < 0.6 else "JPEG"
        quality = rng.randint(70, 95)
        return cls(
            seed=seed,
            size=size,
            layout=layout,
            theme=theme,
            platform=platform,
            anchor=rng.choice(["top", "bottom"]),
            clock=_clock(rng, h24),
            battery=rng.randint(5, 100),
            contact=rng.choice(_NAMES),
            avatar_rgb=_bright_colour(rng),
            subtitle=rng.choice(["online", "last seen today at " + _clock(rng, h24), "typing...", ""]),
            date_chip=rng.choice([None, "Today", "Hoy", "Yesterday"]),
            above=above,
            below=below,
            photo_sent=rng.random() < 0.5,
            photo_frac=round(rng.uniform(0.60, 0.95), 4),
            photo_time=_clock(rng, h24),
            viewer_bg=viewer_bg,
            save_format=fmt,
            quality=quality if fmt == "JPEG" else None,
        )

    @classmethod
    def random(cls, rng: random.Random, *, layout: str | None = None, theme: str | None = None) -> ChatFrame:
        return cls.from_seed(rng.getrandbits(32), layout=layout, theme=theme)

    def describe(self) -> Params:
        """The frame as JSON-ready data (messages reduced to their count)."""
        d = asdict(self)
        d["above"], d["below"] = len(self.above), len(self.below)
        return d


@dataclass(frozen=True)
class _Palette:
    bg: tuple[int, int, int]
    bar: tuple[int, int, int]  # header
    status_bg: tuple[int, int, int]
    status_ink: tuple[int, int, int]
    bar_ink: tuple[int, int, int]
    bar_sub: tuple[int, int, int]
    sent: tuple[int, int, int]
    recv: tuple[int, int, int]
    sent_ink: tuple[int, int, int]
    recv_ink: tuple[int, int, int]
    meta: tuple[int, int, int]
    field: tuple[int, int, int]
    input_bg: tuple[int, int, int] | None
    accent: tuple[int, int, int]


def _hex(s: str) -> tuple[int, int, int]:
    return int(s[1:3], 16), int(s[3:5], 16), int(s[5:7], 16)


def _palette(f: ChatFrame) -> _Palette:
    light = f.theme == "light"
    if f.layout == "imessage":
        bg = _hex("#FFFFFF") if light else _hex("#000000")
        bar = _hex("#F2F2F7") if light else _hex("#1C1C1E")
        ink = _hex("#000000") if light else _hex("#FFFFFF")
        return _Palette(
            bg,
            bar,
            bar,
            ink,
            ink,
            _hex("#8E8E93"),
            _hex("#0B84FE"),
            _hex("#E9E9EB") if light else _hex("#262628"),
            _hex("#FFFFFF"),
            ink,
            _hex("#8E8E93"),
            bg,
            bar,
            _hex("#0B84FE"),
        )
    if f.layout == "telegram":
        if light:
            bar = _hex("#517DA2") if f.platform == "android" else _hex("#F7F7F7")
            ink = _hex("#FFFFFF") if f.platform == "android" else _hex("#000000")
            return _Palette(
                _hex("#C6D7A9"),
                bar,
                bar,
                ink,
                ink,
                _hex("#D2E3F1") if f.platform == "android" else _hex("#8E8E93"),
                _hex("#EFFDDE"),
                _hex("#FFFFFF"),
                _hex("#000000"),
                _hex("#000000"),
                _hex("#6FA567"),
                _hex("#FFFFFF"),
                _hex("#FFFFFF"),
                _hex("#3A8DDA"),
            )
        return _Palette(
            _hex("#0E1621"),
            _hex("#17212B"),
            _hex("#17212B"),
            _hex("#FFFFFF"),
            _hex("#FFFFFF"),
            _hex("#6D7F8F"),
            _hex("#2B5278"),
            _hex("#182533"),
            _hex("#FFFFFF"),
            _hex("#FFFFFF"),
            _hex("#7DA8D3"),
            _hex("#17212B"),
            _hex("#17212B"),
            _hex("#5EB5F7"),
        )
    if f.layout == "viewer":
        ink = _hex("#000000") if f.viewer_bg == (255, 255, 255) else _hex("#FFFFFF")
        return _Palette(
            f.viewer_bg,
            f.viewer_bg,
            f.viewer_bg,
            ink,
            ink,
            _hex("#9A9A9A"),
            f.viewer_bg,
            f.viewer_bg,
            ink,
            ink,
            _hex("#9A9A9A"),
            f.viewer_bg,
            None,
            ink,
        )
    # whatsapp
    if light:
        if f.platform == "android":
            return _Palette(
                _hex("#EFEAE2"),
                _hex("#008069"),
                _hex("#017561"),
                _hex("#FFFFFF"),
                _hex("#FFFFFF"),
                _hex("#D9F1EC"),
                _hex("#D9FDD3"),
                _hex("#FFFFFF"),
                _hex("#111B21"),
                _hex("#111B21"),
                _hex("#667781"),
                _hex("#FFFFFF"),
                None,
                _hex("#00A884"),
            )
        return _Palette(
            _hex("#EFEAE2"),
            _hex("#F6F6F6"),
            _hex("#F6F6F6"),
            _hex("#000000"),
            _hex("#000000"),
            _hex("#8E8E93"),
            _hex("#D9FDD3"),
            _hex("#FFFFFF"),
            _hex("#111B21"),
            _hex("#111B21"),
            _hex("#667781"),
            _hex("#FFFFFF"),
            _hex("#F6F6F6"),
            _hex("#007AFF"),
        )
    return _Palette(
        _hex("#0B141A"),
        _hex("#1F2C34"),
        _hex("#1F2C34"),
        _hex("#E9EDEF"),
        _hex("#E9EDEF"),
        _hex("#8696A0"),
        _hex("#005C4B"),
        _hex("#202C33"),
        _hex("#E9EDEF"),
        _hex("#E9EDEF"),
        _hex("#8696A0"),
        _hex("#2A3942"),
        None if f.platform == "android" else _hex("#1F2C34"),
        _hex("#00A884"),
    )


_K = 2  # supersampling factor for the drawn interface (anti-aliased shapes after reduce)


class _Painter:
    """ImageDraw with screen-pixel coordinates on a canvas _K times larger, whose top edge is
    at screen row ``oy`` (to draw a strip of the screen)."""

    def __init__(self, img: Image.Image, oy: float = 0.0) -> None:
        self.d = ImageDraw.Draw(img)
        self.oy = oy

    def _c(self, v: Sequence[float]) -> list[float]:
        return [(x - self.oy * (i % 2)) * _K for i, x in enumerate(v)]

    def _pts(self, pts: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
        return [(x * _K, (y - self.oy) * _K) for x, y in pts]

    def rect(
        self, box: Sequence[float], fill: Any, r: float = 0.0, outline: Any = None, width: float = 0
    ) -> None:
        if r > 0:
            self.d.rounded_rectangle(
                self._c(box), radius=r * _K, fill=fill, outline=outline, width=round(width * _K)
            )
        else:
            self.d.rectangle(self._c(box), fill=fill, outline=outline, width=round(width * _K))

    def ellipse(self, box: Sequence[float], fill: Any = None, outline: Any = None, width: float = 0) -> None:
        self.d.ellipse(self._c(box), fill=fill, outline=outline, width=round(width * _K))

    def circle(
        self,
        cx: float,
        cy: float,
        r: float,
        fill: Any = None,
        outline: Any = None,
        width: float = 0,
    ) -> None:
        self.ellipse((cx - r, cy - r, cx + r, cy + r), fill, outline, width)

    def polygon(self, pts: Sequence[tuple[float, float]], fill: Any) -> None:
        self.d.polygon(self._pts(pts), fill=fill)

    def line(self, pts: Sequence[tuple[float, float]], fill: Any, width: float) -> None:
        self.d.line(
            self._pts(pts),
            fill=fill,
            width=max(1, round(width * _K)),
            joint="curve",
        )

    def arc(self, box: Sequence[float], start: float, end: float, fill: Any, width: float) -> None:
        self.d.arc(self._c(box), start, end, fill=fill, width=max(1, round(width * _K)))

    def pieslice(self, box: Sequence[float], start: float, end: float, fill: Any) -> None:
        self.d.pieslice(self._c(box), start, end, fill=fill)

    def text(
        self,
        xy: tuple[float, float],
        text: str,
        size: float,
        fill: Any,
        anchor: str = "la",
        stroke: float = 0,
        stroke_fill: Any = None,
    ) -> None:
        self.d.text(
            (xy[0] * _K, (xy[1] - self.oy) * _K),
            text,
            font=_font(round(size * _K)),
            fill=fill,
            anchor=anchor,
            stroke_width=round(stroke * _K),
            stroke_fill=stroke_fill,
        )

    @staticmethod
    def length(text: str, size: float) -> float:
        return _font(round(size * _K)).getlength(text) / _K


def _wrap(text: str, size: float, max_w: float) -> list[str]:
    lines: list[str] = []
    cur = ""
    for word in text.split():
        trial = f"{cur} {word}".strip()
        if cur and _Painter.length(trial, size) > max_w:
            lines.append(cur)
            cur = word
        else:
            cur = trial
    return [*lines, cur] if cur else lines or [""]


def _draw_status_bar(
    p: _Painter, f: ChatFrame, pal: _Palette, W: float, s: float, h: float, *, fill_bg: bool = True
) -> None:
    if fill_bg:
        p.rect((0, 0, W, h), fill=pal.status_bg)
    ink = pal.status_ink
    if f.platform == "ios":
        cy = h * 0.55
        p.text((54 * s, cy), f.clock, 16 * s, ink, anchor="mm", stroke=0.35 * s, stroke_fill=ink)
        x = W - 24 * s
        bw, bh = 25 * s, 12 * s  # battery
        p.rect((x - bw, cy - bh / 2, x, cy + bh / 2), fill=None, r=3.5 * s, outline=ink, width=1.1 * s)
        level = max(0.08, f.battery / 100)
        p.rect(
            (
                x - bw + 2 * s,
                cy - bh / 2 + 2 * s,
                x - bw + 2 * s + (bw - 4 * s) * level,
                cy + bh / 2 - 2 * s,
            ),
            fill=ink if f.battery > 20 else (255, 59, 48),
            r=1.5 * s,
        )
        p.rect((x + 1 * s, cy - 2 * s, x + 2.5 * s, cy + 2 * s), fill=ink, r=0.8 * s)
        x -= bw + 8 * s  # wifi
        p.pieslice((x - 17 * s, cy - 9 * s, x, cy + 8 * s), 225, 315, fill=ink)
        x -= 24 * s  # signal bars
        for i in range(4):
            bar_h = (4 + 2.6 * i) * s
            p.rect(
                (x + i * 4.5 * s, cy + 5 * s - bar_h, x + i * 4.5 * s + 3 * s, cy + 5 * s),
                fill=ink,
                r=0.8 * s,
            )
    else:
        cy = h * 0.5
        p.text((16 * s, cy), f.clock, 13 * s, ink, anchor="lm")
        x = W - 14 * s
        if f.battery % 3 == 0:
            p.text((x, cy), f"{f.battery}%", 12 * s, ink, anchor="rm")
            x -= _Painter.length(f"{f.battery}%", 12 * s) + 4 * s
        p.rect((x - 7 * s, cy - 7 * s, x, cy + 7 * s), fill=None, r=1.5 * s, outline=ink, width=1.2 * s)
        level = max(0.1, f.battery / 100)
        p.rect((x - 7 * s, cy + 7 * s - 14 * s * level, x, cy + 7 * s), fill=ink, r=1.5 * s)
        x -= 12 * s
        p.polygon([(x, cy - 6 * s), (x, cy + 7 * s), (x - 13 * s, cy + 7 * s)], fill=ink)  # signal
        x -= 18 * s
        p.pieslice((x - 16 * s, cy - 7 * s, x, cy + 9 * s), 225, 315, fill=ink)  # wifi


def _avatar(p: _Painter, f: ChatFrame, cx: float, cy: float, r: float) -> None:
    p.circle(cx, cy, r, fill=f.avatar_rgb)
    p.text((cx, cy), f.contact[0].upper(), r * 1.0, (255, 255, 255), anchor="mm")


def _draw_header(p: _Painter, f: ChatFrame, pal: _Palette, W: float, s: float, y0: float, h: float) -> None:
    p.rect((0, y0, W, y0 + h), fill=pal.bar)
    ink, sub = pal.bar_ink, pal.bar_sub
    cy = y0 + h / 2
    icon = pal.accent if (f.platform == "ios" and f.layout != "telegram") or f.layout == "imessage" else ink
    if f.layout == "imessage":
        p.line(
            [(22 * s, cy - 20 * s), (13 * s, cy - 11 * s), (22 * s, cy - 2 * s)],
            fill=pal.accent,
            width=2.6 * s,
        )
        p.circle(40 * s, cy - 11 * s, 10 * s, fill=pal.accent)
        p.text((40 * s, cy - 11 * s), str(f.battery % 40 + 1), 11 * s, (255, 255, 255), anchor="mm")
        _avatar(p, f, W / 2, cy - 12 * s, 24 * s)
        p.text((W / 2, cy + 24 * s), f.contact + " >", 11 * s, ink, anchor="mm")
        p.rect(
            (W - 42 * s, cy - 18 * s, W - 22 * s, cy - 5 * s),
            fill=None,
            r=3 * s,
            outline=pal.accent,
            width=1.6 * s,
        )
        p.polygon(
            [(W - 22 * s, cy - 11.5 * s), (W - 14 * s, cy - 17 * s), (W - 14 * s, cy - 6 * s)],
            fill=pal.accent,
        )
        p.rect((0, y0 + h - 1, W, y0 + h), fill=(200, 200, 204) if f.theme == "light" else (50, 50, 52))
        return
    # back arrow
    if f.platform == "ios":
        p.line([(20 * s, cy - 9 * s), (11 * s, cy), (20 * s, cy + 9 * s)], fill=icon, width=2.6 * s)
        x = 30 * s
    else:
        p.line([(12 * s, cy), (28 * s, cy)], fill=icon, width=2.2 * s)
        p.line([(19 * s, cy - 7 * s), (12 * s, cy), (19 * s, cy + 7 * s)], fill=icon, width=2.2 * s)
        x = 36 * s
    _avatar(p, f, x + 18 * s, cy, 18 * s)
    x += 44 * s
    if f.subtitle:
        p.text((x, cy - 2 * s), f.contact, 17 * s, ink, anchor="ls", stroke=0.3 * s, stroke_fill=ink)
        p.text((x, cy + 3 * s), f.subtitle, 12.5 * s, sub, anchor="lt")
    else:
        p.text((x, cy), f.contact, 17 * s, ink, anchor="lm", stroke=0.3 * s, stroke_fill=ink)
    # right icons: video camera, phone, menu dots
    rx = W - 16 * s
    if f.platform == "android" or f.layout == "telegram":
        for i in range(3):
            p.circle(rx, cy - 6 * s + i * 6 * s, 1.9 * s, fill=icon)
        rx -= 30 * s
    p.arc((rx - 20 * s, cy - 11 * s, rx + 2 * s, cy + 11 * s), 100, 190, fill=icon, width=4 * s)
    p.circle(rx - 19.3 * s, cy - 2.5 * s, 2.8 * s, fill=icon)
    p.circle(rx - 11.5 * s, cy + 10.3 * s, 2.8 * s, fill=icon)
    rx -= 36 * s
    if f.layout == "whatsapp":
        p.rect(
            (rx - 18 * s, cy - 7 * s, rx - 4 * s, cy + 7 * s),
            fill=None,
            r=2.5 * s,
            outline=icon,
            width=2 * s,
        )
        p.polygon(
            [
                (rx - 4 * s, cy - 1 * s),
                (rx + 4 * s, cy - 6 * s),
                (rx + 4 * s, cy + 6 * s),
                (rx - 4 * s, cy + 1 * s),
            ],
            fill=icon,
        )


def _draw_input_bar(
    p: _Painter, f: ChatFrame, pal: _Palette, W: float, s: float, y0: float, h: float
) -> None:
    if pal.input_bg is not None:
        p.rect((0, y0, W, y0 + h), fill=pal.input_bg)
    cy = y0 + h / 2
    meta = pal.meta
    if f.layout == "imessage":
        p.circle(24 * s, cy, 15 * s, fill=(229, 229, 234) if f.theme == "light" else (44, 44, 46))
        p.line([(24 * s, cy - 7 * s), (24 * s, cy + 7 * s)], fill=meta, width=2 * s)
        p.line([(17 * s, cy), (31 * s, cy)], fill=meta, width=2 * s)
        p.rect(
            (48 * s, cy - 17 * s, W - 12 * s, cy + 17 * s),
            fill=None,
            r=17 * s,
            outline=(200, 200, 204) if f.theme == "light" else (58, 58, 60),
            width=1 * s,
        )
        p.text((62 * s, cy), "iMessage", 16 * s, meta, anchor="lm")
        p.rect((W - 34 * s, cy - 8 * s, W - 27 * s, cy + 3 * s), fill=meta, r=3.5 * s)
        return
    field_x1 = W - 60 * s if f.layout == "whatsapp" else W - 12 * s
    p.rect((8 * s, cy - 22 * s, field_x1, cy + 22 * s), fill=pal.field, r=22 * s)
    p.circle(30 * s, cy, 10 * s, outline=meta, width=1.8 * s)
    p.circle(26.5 * s, cy - 3 * s, 1.3 * s, fill=meta)
    p.circle(33.5 * s, cy - 3 * s, 1.3 * s, fill=meta)
    p.arc((24 * s, cy - 4 * s, 36 * s, cy + 6 * s), 20, 160, fill=meta, width=1.5 * s)
    p.text((50 * s, cy), "Message" if f.contact[0] < "M" else "Mensaje", 17 * s, meta, anchor="lm")
    p.arc(
        (field_x1 - 52 * s, cy - 9 * s, field_x1 - 40 * s, cy + 9 * s),
        300,
        160,
        fill=meta,
        width=1.8 * s,
    )
    if f.layout == "whatsapp":
        p.rect(
            (field_x1 - 30 * s, cy - 7 * s, field_x1 - 12 * s, cy + 8 * s),
            fill=None,
            r=3 * s,
            outline=meta,
            width=1.8 * s,
        )
        p.circle(field_x1 - 21 * s, cy + 0.5 * s, 3.5 * s, outline=meta, width=1.6 * s)
        p.circle(W - 30 * s, cy, 23 * s, fill=pal.accent)
        ink = (255, 255, 255) if f.theme == "light" or f.platform == "android" else (17, 27, 33)
        p.rect((W - 34 * s, cy - 10 * s, W - 26 * s, cy + 3 * s), fill=ink, r=4 * s)
        p.arc((W - 38 * s, cy - 6 * s, W - 22 * s, cy + 7 * s), 0, 180, fill=ink, width=1.8 * s)
    else:
        p.rect((field_x1 - 28 * s, cy - 9 * s, field_x1 - 20 * s, cy + 3 * s), fill=meta, r=4 * s)


def _draw_nav(p: _Painter, f: ChatFrame, pal: _Palette, W: float, s: float, y0: float, h: float) -> None:
    bg = pal.input_bg if pal.input_bg is not None else pal.bg
    if f.layout == "viewer":
        bg = pal.bg
    p.rect((0, y0, W, y0 + h), fill=bg)
    ink = (0, 0, 0) if sum(bg) > 380 else (255, 255, 255)
    if f.platform == "ios" or f.battery % 2 == 0:  # home indicator / gesture pill
        pw = 134 * s if f.platform == "ios" else 108 * s
        p.rect((W / 2 - pw / 2, y0 + h - 13 * s, W / 2 + pw / 2, y0 + h - 8 * s), fill=ink, r=2.5 * s)
        return
    cy = y0 + h / 2
    grey = (110, 110, 110) if sum(bg) > 380 else (200, 200, 200)
    p.polygon(
        [(W * 0.25 + 6 * s, cy - 7 * s), (W * 0.25 + 6 * s, cy + 7 * s), (W * 0.25 - 6 * s, cy)],
        fill=grey,
    )
    p.circle(W / 2, cy, 7 * s, outline=grey, width=2 * s)
    p.rect(
        (W * 0.75 - 6 * s, cy - 6 * s, W * 0.75 + 6 * s, cy + 6 * s),
        fill=None,
        r=1.5 * s,
        outline=grey,
        width=2 * s,
    )


def _draw_background(img: Image.Image, f: ChatFrame, pal: _Palette, deco: random.Random) -> None:
    W, H = img.size
    if f.layout == "telegram" and f.theme == "light":
        small = np.zeros((24, 12, 3), np.float32)
        c0 = np.array(_hex(deco.choice(["#B7CC8E", "#9DC1E3", "#E3C9A1", "#C7B5E0"])), np.float32)
        c1 = np.array(_hex(deco.choice(["#D5E3B8", "#CDE3F2", "#F0E2C6", "#E6DDF2"])), np.float32)
        t = (
            np.linspace(0, 1, 24, dtype=np.float32)[:, None, None] * 0.7
            + np.linspace(0, 1, 12, dtype=np.float32)[None, :, None] * 0.3
        )
        small[:] = c0 * (1 - t) + c1 * t
        img.paste(Image.fromarray(small.astype(np.uint8)).resize((W, H), Image.Resampling.BILINEAR))
    if f.layout in ("whatsapp", "telegram"):
        d = ImageDraw.Draw(img)
        base = np.array(img.getpixel((W // 2, H // 2)), dtype=int)
        delta = -9 if f.theme == "light" else 9
        ink = tuple(int(v) for v in np.clip(base + delta, 0, 255))
        sk = W / 390  # one point, in canvas pixels
        width = max(1, round(1.2 * sk))
        for _ in range(int(W * H / (90 * 90 * _K * _K))):
            x, y = deco.uniform(0, W), deco.uniform(0, H)
            r = deco.uniform(4, 11) * sk
            kind = deco.randrange(4)
            if kind == 0:
                d.ellipse((x - r, y - r, x + r, y + r), outline=ink, width=width)
            elif kind == 1:
                d.line((x - r, y, x + r, y + deco.uniform(-r, r)), fill=ink, width=width)
            elif kind == 2:
                d.polygon(_star(x, y, r), outline=ink, width=width)
            else:
                d.rounded_rectangle(
                    (x - r, y - r * 0.7, x + r, y + r * 0.7),
                    radius=r * 0.3,
                    outline=ink,
                    width=width,
                )


class _Item(NamedTuple):
    kind: str  # date | msg | photo
    y: float
    h: float
    msg: Message | None = None
    lines: tuple[str, ...] = ()
    w: float = 0.0


def _message_item(m: Message, f: ChatFrame, s: float, W: float) -> _Item:
    size = 17 * s if f.layout == "imessage" else 16 * s
    pad_x, pad_y = (13 * s, 8 * s) if f.layout == "imessage" else (9 * s, 6 * s)
    meta_w = (
        0.0 if f.layout == "imessage" else _Painter.length(m.time, 11 * s) + (22 * s if m.sent else 6 * s)
    )
    lines = _wrap(m.text, size, 0.72 * W - 2 * pad_x - meta_w)
    lh = size * 1.3
    text_w = max(_Painter.length(ln, size) for ln in lines)
    w = text_w + 2 * pad_x + meta_w
    h = lh * len(lines) + 2 * pad_y
    if f.layout != "imessage" and len(lines) > 1:
        h += 8 * s
    return _Item("msg", 0.0, h, m, tuple(lines), w)


def _photo_size(content: tuple[int, int], f: ChatFrame, s: float, W: float, max_h: float) -> tuple[int, int]:
    pad = {"whatsapp": 3 * s, "telegram": 2 * s, "imessage": 0.0}[f.layout]
    max_w = min(f.photo_frac * W, W - 16 * s) - 2 * pad
    cw, ch = content
    k = min(max_w / cw, (max_h - 2 * pad) / ch)
    return max(8, round(cw * k)), max(8, round(ch * k))


def _chat_layout(content: tuple[int, int], f: ChatFrame, W: int, H: int) -> tuple[list[_Item], Box, float]:
    s = W / 390
    status_h, header_h = _bars(f, s)
    nav_h, input_h = _bottom_bars(f, s)
    top = status_h + header_h
    bottom = H - nav_h - input_h
    gap = 6 * s
    pad = {"whatsapp": 3 * s, "telegram": 2 * s, "imessage": 0.0}[f.layout]
    pw, ph = _photo_size(content, f, s, W, (bottom - top) * 0.8)
    before: list[_Item] = []
    if f.date_chip:
        before.append(_Item("date", 0.0, 26 * s))
    before += [_message_item(m, f, s, W) for m in f.above]
    after = [_message_item(m, f, s, W) for m in f.below]
    photo_h = ph + 2 * pad
    stack_before = sum(i.h + gap for i in before)
    stack_after = sum(i.h + gap for i in after)
    if f.anchor == "top":
        y = top + 10 * s
        if y + stack_before + photo_h > bottom - 8 * s:  # scrolled: the photo stays fully visible
            y = bottom - 8 * s - photo_h - stack_before
    else:
        y = bottom - 8 * s - stack_after - photo_h - stack_before
        y = max(y, top + 8 * s - stack_before)
    items: list[_Item] = []
    for it in before:
        items.append(it._replace(y=y))
        y += it.h + gap
    photo_y = y
    items.append(_Item("photo", photo_y, photo_h, w=pw + 2 * pad))
    y += photo_h + gap
    for it in after:
        items.append(it._replace(y=y))
        y += it.h + gap
    margin = 10 * s
    bubble_w = pw + 2 * pad
    x0 = W - margin - bubble_w if f.photo_sent else margin
    box = (round(x0 + pad), round(photo_y + pad), round(x0 + pad) + pw, round(photo_y + pad) + ph)
    return items, box, x0


def _bars(f: ChatFrame, s: float) -> tuple[float, float]:
    status_h = 47 * s if f.platform == "ios" else 28 * s
    header_h = {"imessage": 92 * s, "viewer": 56 * s}.get(f.layout, 56 * s)
    return status_h, header_h


def _bottom_bars(f: ChatFrame, s: float) -> tuple[float, float]:
    nav_h = 34 * s if f.platform == "ios" else (44 * s if f.battery % 2 else 20 * s)
    return nav_h, 58 * s


def _draw_ticks(p: _Painter, x: float, y: float, s: float, colour: Any) -> None:
    for dx in (0.0, 4.5 * s):
        p.line(
            [(x + dx, y), (x + dx + 3 * s, y + 3 * s), (x + dx + 9 * s, y - 4 * s)],
            fill=colour,
            width=1.4 * s,
        )


def _draw_items(
    p: _Painter,
    items: list[_Item],
    f: ChatFrame,
    pal: _Palette,
    W: float,
    s: float,
    photo_x0: float,
) -> None:
    margin = 10 * s
    for it in items:
        if it.kind == "date" and f.date_chip:
            tw = _Painter.length(f.date_chip, 12.5 * s) + 20 * s
            chip = (255, 255, 255) if f.theme == "light" else (24, 34, 41)
            if f.layout == "imessage":
                p.text(
                    (W / 2, it.y + it.h / 2),
                    f"{f.date_chip} {f.clock}",
                    11 * s,
                    pal.meta,
                    anchor="mm",
                )
            else:
                p.rect(
                    (W / 2 - tw / 2, it.y + 2 * s, W / 2 + tw / 2, it.y + it.h - 2 * s),
                    fill=chip,
                    r=7 * s,
                )
                p.text((W / 2, it.y + it.h / 2), f.date_chip, 12.5 * s, pal.meta, anchor="mm")
        elif it.kind == "msg" and it.msg is not None:
            m = it.msg
            x0 = W - margin - it.w if m.sent else margin
            fill = pal.sent if m.sent else pal.recv
            ink = pal.sent_ink if m.sent else pal.recv_ink
            radius = 18 * s if f.layout == "imessage" else 8 * s
            p.rect((x0, it.y, x0 + it.w, it.y + it.h), fill=fill, r=radius)
            size = 17 * s if f.layout == "imessage" else 16 * s
            pad_x, pad_y = (13 * s, 8 * s) if f.layout == "imessage" else (9 * s, 6 * s)
            for i, ln in enumerate(it.lines):
                p.text((x0 + pad_x, it.y + pad_y + i * size * 1.3), ln, size, ink, anchor="lt")
            if f.layout != "imessage":
                mx = x0 + it.w - pad_x
                my = it.y + it.h - 5 * s
                if m.sent:
                    tick = (83, 189, 235) if f.layout == "whatsapp" else pal.meta
                    _draw_ticks(p, mx - 13 * s, my - 4 * s, s, tick)
                    mx -= 17 * s
                p.text(
                    (mx, my),
                    m.time,
                    11 * s,
                    pal.meta if not m.sent or f.theme == "light" else (180, 200, 200),
                    anchor="rb",
                )
        elif it.kind == "photo" and f.layout != "imessage":
            fill = pal.sent if f.photo_sent else pal.recv
            p.rect((photo_x0, it.y, photo_x0 + it.w, it.y + it.h), fill=fill, r=8 * s)


def _draw_viewer_bars(p: _Painter, f: ChatFrame, pal: _Palette, W: float, H: float, s: float) -> None:
    status_h, header_h = _bars(f, s)
    nav_h, _ = _bottom_bars(f, s)
    ink = pal.bar_ink
    band = (*pal.bg, 150)
    p.rect((0, 0, W, status_h + header_h), fill=band)
    _draw_status_bar(p, f, pal, W, s, status_h, fill_bg=False)
    cy = status_h + header_h / 2
    p.line([(12 * s, cy), (28 * s, cy)], fill=ink, width=2.2 * s)
    p.line([(19 * s, cy - 7 * s), (12 * s, cy), (19 * s, cy + 7 * s)], fill=ink, width=2.2 * s)
    p.text((44 * s, cy - 2 * s), "You" if f.photo_sent else f.contact, 17 * s, ink, anchor="ls")
    p.text(
        (44 * s, cy + 3 * s),
        f"{f.date_chip or 'Today'}, {f.photo_time}",
        12.5 * s,
        pal.bar_sub,
        anchor="lt",
    )
    rx = W - 18 * s
    for i in range(3):
        p.circle(rx, cy - 6 * s + i * 6 * s, 1.9 * s, fill=ink)
    p.polygon(_star(rx - 36 * s, cy, 10 * s), fill=ink)
    p.polygon(_star(rx - 36 * s, cy, 7 * s), fill=pal.bg)
    p.line([(rx - 80 * s, cy + 6 * s), (rx - 66 * s, cy - 6 * s)], fill=ink, width=2 * s)
    p.line(
        [(rx - 72 * s, cy - 7 * s), (rx - 66 * s, cy - 6 * s), (rx - 67 * s, cy)],
        fill=ink,
        width=2 * s,
    )
    by = H - nav_h - 56 * s
    p.rect((0, by, W, H), fill=band)
    p.rect(
        (12 * s, by + 8 * s, W - 60 * s, by + 48 * s),
        fill=None,
        r=20 * s,
        outline=pal.bar_sub,
        width=1.2 * s,
    )
    p.text((28 * s, by + 28 * s), "Reply", 16 * s, pal.bar_sub, anchor="lm")
    p.circle(W - 30 * s, by + 28 * s, 20 * s, fill=pal.accent)
    p.polygon(
        [(W - 38 * s, by + 20 * s), (W - 20 * s, by + 28 * s), (W - 38 * s, by + 36 * s)],
        fill=pal.bg,
    )
    pw = 134 * s
    p.rect((W / 2 - pw / 2, H - 13 * s, W / 2 + pw / 2, H - 8 * s), fill=ink, r=2.5 * s)


def _rounded_mask(size: tuple[int, int], radius: float) -> Image.Image | None:
    if radius <= 0:
        return None
    w, h = size
    big = Image.new("L", (w * _K, h * _K), 0)
    ImageDraw.Draw(big).rounded_rectangle((0, 0, w * _K - 1, h * _K - 1), radius=radius * _K, fill=255)
    return big.reduce(_K)


def render_chat_screen(content: Image.Image, frame: ChatFrame) -> tuple[Image.Image, Box]:
    """Draw ``content`` inside the chat screen ``frame``; return the screen (RGB) and the box
    where the content (aspect preserved) lies."""
    content = _as_rgb(content)
    f = frame
    W, H = f.size
    s = W / 390
    pal = _palette(f)
    deco = random.Random(f.seed ^ 0x5EED5EED)  # decoration details follow the frame, not the photo
    base = Image.new("RGB", (W * _K, H * _K), pal.bg)
    _draw_background(base, f, pal, deco)
    if f.layout == "viewer":
        cw, ch = content.size
        k = min(W / cw, H / ch)
        pw, ph = max(8, round(cw * k)), max(8, round(ch * k))
        x0, y0 = (W - pw) // 2, (H - ph) // 2
        box: Box = (x0, y0, x0 + pw, y0 + ph)
        radius = 0.0
    else:
        items, box, photo_x0 = _chat_layout(content.size, f, W, H)
        _draw_items(_Painter(base), items, f, pal, W, s, photo_x0)
        radius = {"whatsapp": 6 * s, "telegram": 12 * s, "imessage": 18 * s}[f.layout]
    canvas = base.reduce(_K)
    pw, ph = box[2] - box[0], box[3] - box[1]
    photo = content.resize((pw, ph), Image.Resampling.BICUBIC, reducing_gap=2.0)
    canvas.paste(photo, box[:2], _rounded_mask((pw, ph), radius))
    if f.layout in ("whatsapp", "telegram"):
        d = ImageDraw.Draw(canvas)
        d.text(
            (box[2] - 8 * s, box[3] - 6 * s),
            f.photo_time,
            font=_font(round(11 * s)),
            fill=(255, 255, 255),
            anchor="rb",
            stroke_width=max(1, round(0.6 * s)),
            stroke_fill=(40, 40, 40),
        )
    status_h, header_h = _bars(f, s)
    nav_h, input_h = _bottom_bars(f, s)
    top_h = math.ceil(status_h + header_h)
    bottom_y = math.floor(H - nav_h - (56 * s if f.layout == "viewer" else input_h))
    for y0, y1 in ((0, top_h), (bottom_y, H)):  # the bars: two strips drawn over the content
        strip = Image.new("RGBA", (W * _K, (y1 - y0) * _K), (0, 0, 0, 0))
        p = _Painter(strip, oy=y0)
        if f.layout == "viewer":
            _draw_viewer_bars(p, f, pal, W, H, s)
        else:
            _draw_status_bar(p, f, pal, W, s, status_h)
            _draw_header(p, f, pal, W, s, status_h, header_h)
            _draw_input_bar(p, f, pal, W, s, H - nav_h - input_h, input_h)
            _draw_nav(p, f, pal, W, s, H - nav_h, nav_h)
        small = strip.reduce(_K)
        canvas.paste(small, (0, y0), small)
    out = canvas
    return out, box


@overload
def chat_screen(
    content: Image.Image,
    rng: random.Random,
    theme: str | None = None,
    *,
    return_box: Literal[False] = False,
) -> Image.Image: ...
@overload
def chat_screen(
    content: Image.Image, rng: random.Random, theme: str | None = None, *, return_box: Literal[True]
) -> tuple[Image.Image, Box]: ...
def chat_screen(
    content: Image.Image, rng: random.Random, theme: str | None = None, *, return_box: bool = False
) -> Image.Image | tuple[Image.Image, Box]:
    """``content`` shown in a random chat screen (``theme`` "light"/"dark" or random), not
    encoded. Use ``ChatFrame`` + ``render_chat_screen`` to wrap several pictures in one frame."""
    img, box = render_chat_screen(content, ChatFrame.random(rng, theme=theme))
    return (img, box) if return_box else img


def _step_screenshot(img: Image.Image, rng: random.Random, tr: _Trace) -> Image.Image:
    """The photo inside a phone chat screen, saved as PNG or JPEG q 70-95."""
    frame = tr.chat_frame if tr.chat_frame is not None else ChatFrame.random(rng)
    tr.chat_frame = None
    shot, box = render_chat_screen(img, frame)
    if tr.box is not None:  # a screenshot of a screenshot: follow the first photo inside
        w, h = img.size
        inner = _scale_box(tr.box, (box[2] - box[0]) / w, (box[3] - box[1]) / h)
        box = _shift_box(inner, box[0], box[1])
    data, out = _encode(shot, frame.save_format, frame.quality)
    tr.encoded = (data, frame.save_format)
    tr.box = box
    tr.log("screenshot", frame=frame.describe(), box=list(box))
    return out


# ---- families ------------------------------------------------------------------------------

_COMBOS: dict[str, tuple[Step, ...]] = {
    "crop>mirror>caption>screenshot": (_step_crop, _step_mirror, _step_caption, _step_screenshot),
    "crop>colour>recompress": (_step_crop, _step_colour, _step_recompress),
    "slight_rotate>overlay>recompress": (_step_slight_rotate, _step_overlay, _step_recompress),
    "colour>blur_noise>screenshot": (_step_colour, _step_blur_noise, _step_screenshot),
    "recompress>screenshot>recompress": (_step_recompress, _step_screenshot, _step_recompress),
    "mirror>crop>overlay>recompress": (_step_mirror, _step_crop, _step_overlay, _step_recompress),
    "crop>overlay>screenshot": (_step_crop, _step_overlay, _step_screenshot),
}

_SINGLE: dict[str, Step] = {
    "recompress": _step_recompress,
    "colour": _step_colour,
    "mirror_rotate": _step_mirror_rotate,
    "slight_rotate": _step_slight_rotate,
    "crop": _step_crop,
    "screenshot": _step_screenshot,
    "overlay": _step_overlay,
    "blur_noise": _step_blur_noise,
}
IMAGE_FAMILY_NAMES: tuple[str, ...] = (*_SINGLE, "combo")


def forward_image(
    family: str, img: Image.Image, rng: random.Random, *, chat_frame: ChatFrame | None = None
) -> ForwardedImage:
    """Make one forwarded copy of ``img`` with ``family``; ``chat_frame`` forces the frame of
    the (first) screenshot step, so that several pictures can share one frame."""
    if family == "combo":
        recipe = rng.choice(sorted(_COMBOS))
        steps = _COMBOS[recipe]
    elif family in _SINGLE:
        recipe, steps = family, (_SINGLE[family],)
    else:
        raise ValueError(f"unknown image family {family!r}; expected one of {IMAGE_FAMILY_NAMES}")
    tr = _Trace(chat_frame=chat_frame)
    if family == "combo":
        tr.log("combo", recipe=recipe)
    out = _as_rgb(img)
    for step in steps:
        tr.encoded = None  # any later change of pixels voids an earlier choice of format
        out = step(out, rng, tr)
    if tr.encoded is None:
        out = _final_encode(out, rng, tr)
    assert tr.encoded is not None
    data, fmt = tr.encoded
    return ForwardedImage(out, data, fmt, family, tuple(tr.steps), tr.box)


def _family(name: str) -> Callable[[Image.Image, random.Random], Image.Image]:
    def apply(img: Image.Image, rng: random.Random) -> Image.Image:
        return forward_image(name, img, rng).image

    apply.__name__ = name
    apply.__doc__ = f"Forwarded copy by family {name!r} (see forward_image)."
    return apply


recompress = _family("recompress")
colour = _family("colour")
mirror_rotate = _family("mirror_rotate")
slight_rotate = _family("slight_rotate")
crop = _family("crop")
overlay = _family("overlay")
blur_noise = _family("blur_noise")
combo = _family("combo")


@overload
def screenshot(
    img: Image.Image, rng: random.Random, *, return_box: Literal[False] = False
) -> Image.Image: ...
@overload
def screenshot(
    img: Image.Image, rng: random.Random, *, return_box: Literal[True]
) -> tuple[Image.Image, Box]: ...
def screenshot(
    img: Image.Image, rng: random.Random, *, return_box: bool = False
) -> Image.Image | tuple[Image.Image, Box]:
    """``img`` in a random chat screen, encoded as PNG or JPEG; optionally with the photo box."""
    fwd = forward_image("screenshot", img, rng)
    assert fwd.box is not None
    return (fwd.image, fwd.box) if return_box else fwd.image


FAMILIES: dict[str, Callable[[Image.Image, random.Random], Image.Image]] = {
    "recompress": recompress,
    "colour": colour,
    "mirror_rotate": mirror_rotate,
    "slight_rotate": slight_rotate,
    "crop": crop,
    "screenshot": screenshot,
    "overlay": overlay,
    "blur_noise": blur_noise,
    "combo": combo,
}


# --------------------------------------------------------------------------------------------
# Videos
# --------------------------------------------------------------------------------------------

_PRESET = "veryfast"
_OUT_LONG = 640  # forwarded videos are at most 360p-class unless a family says otherwise


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float
    duration: float
    frames: int


def video_info(path: Path) -> VideoInfo:
    """Size, frame rate, duration (s) and frame count of the first video stream."""
    with av.open(str(path)) as c:
        st = c.streams.video[0]
        fps = float(st.average_rate or st.guessed_rate or 25)
        if st.duration is not None and st.time_base is not None:
            duration = float(st.duration * st.time_base)
        elif c.duration is not None:
            duration = c.duration / 1_000_000
        else:
            duration = 0.0
        frames = st.frames or round(duration * fps)
        return VideoInfo(st.codec_context.width, st.codec_context.height, fps, duration, frames)


def _even(x: float) -> int:
    return max(2, round(x) // 2 * 2)


def _fit_long(w: int, h: int, long_max: int) -> tuple[int, int]:
    k = min(1.0, long_max / max(w, h))
    return _even(w * k), _even(h * k)


class _Encoder:
    """H.264 (libx264, yuv420p) writer for RGB numpy frames at a constant rate."""

    def __init__(
        self,
        dst: Path,
        size: tuple[int, int],
        fps: float,
        *,
        crf: int | None = None,
        kbps: int | None = None,
    ) -> None:
        dst.parent.mkdir(parents=True, exist_ok=True)
        self.size = size
        self.container = av.open(str(dst), "w")
        rate = Fraction(fps).limit_denominator(1001)
        self.stream = self.container.add_stream("libx264", rate=rate)
        self.stream.width, self.stream.height = size
        self.stream.pix_fmt = "yuv420p"
        # The same bytes on every run: one thread, and no macroblock-tree rate control (libx264
        # 0.165's mbtree reads uninitialised padding when a side is not a multiple of 16).
        opts: dict[str, object] = {"preset": _PRESET, "threads": "1", "x264-params": "mbtree=0"}
        if kbps is not None:
            self.stream.bit_rate = kbps * 1000
            opts.update(maxrate=f"{kbps * 3 // 2}k", bufsize=f"{kbps * 2}k")
        else:
            opts["crf"] = str(crf if crf is not None else 23)
        self.stream.options = opts
        self.stream.codec_context.thread_count = 1
        self.count = 0

    def write(self, rgb: np.ndarray) -> None:
        h, w = rgb.shape[:2]
        if (w, h) != self.size:
            raise ValueError(f"frame {w}x{h} does not match the stream {self.size}")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame = frame.reformat(format="yuv420p", threads=1)
        frame.pts = self.count
        self.count += 1
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()

    def __enter__(self) -> _Encoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


Convert = Callable[[av.VideoFrame], np.ndarray]


def _rgb(size: tuple[int, int] | None = None) -> Convert:
    if size is None:
        return lambda fr: fr.to_ndarray(format="rgb24", threads=1)
    w, h = size
    return lambda fr: fr.to_ndarray(format="rgb24", width=w, height=h, interpolation="AREA", threads=1)


def _frames_at(
    src: Path, fps: float, convert: Convert, start: float = 0.0, end: float | None = None
) -> Iterator[np.ndarray]:
    """Frames of ``src`` shown between ``start`` and ``end`` seconds, resampled to ``fps``
    (frames repeated or dropped), each decoded frame converted at most once."""
    step = 1.0 / fps
    k = 0
    held: av.VideoFrame | None = None
    held_arr: np.ndarray | None = None
    t0: float | None = None
    last_t = 0.0
    with av.open(str(src)) as c:
        st = c.streams.video[0]
        # One decoding thread: the workers of make_dataset already keep every core busy.
        st.thread_type = "NONE"
        st.codec_context.thread_count = 1
        frame_dur = 1.0 / float(st.average_rate or 25)
        for i, fr in enumerate(c.decode(st)):
            t_abs = fr.time if fr.time is not None else i * frame_dur
            if t0 is None:
                t0 = t_abs
            t = t_abs - t0
            if end is not None and t >= end:
                break
            while held is not None and start + k * step < t and (end is None or start + k * step < end):
                if held_arr is None:
                    held_arr = convert(held)
                yield held_arr
                k += 1
            held, held_arr, last_t = fr, None, t
        if held is not None:
            stop = last_t + frame_dur if end is None else min(end, last_t + frame_dur)
            while start + k * step < stop - 1e-9:
                if held_arr is None:
                    held_arr = convert(held)
                yield held_arr
                k += 1


def _letterbox_size(w: int, h: int, box_w: int, box_h: int) -> tuple[int, int]:
    k = min(box_w / w, box_h / h)
    return _even(w * k), _even(h * k)


def _place(canvas: np.ndarray, arr: np.ndarray, x: int, y: int) -> np.ndarray:
    h, w = arr.shape[:2]
    canvas[y : y + h, x : x + w] = arr
    return canvas


def _crf(rng: random.Random) -> int:
    return rng.randint(28, 35)


def _v_reencode(src: Path, dst: Path, rng: random.Random, **_: Any) -> Params:
    """360p or 480p, 15 fps, low bit rate (250-700 / 400-1000 kbit/s)."""
    info = video_info(src)
    short = rng.choice([360, 480])
    kbps = rng.randint(250, 700) if short == 360 else rng.randint(400, 1000)
    k = min(1.0, short / min(info.width, info.height))
    size = (_even(info.width * k), _even(info.height * k))
    with _Encoder(dst, size, 15, kbps=kbps) as enc:
        for arr in _frames_at(src, 15, _rgb(size)):
            enc.write(arr)
    return {"size": list(size), "fps": 15, "kbps": kbps}


def _v_trim(src: Path, dst: Path, rng: random.Random, **_: Any) -> Params:
    """A contiguous 35-60 % of the duration, re-encoded (long side <= 640, CRF 28-35)."""
    info = video_info(src)
    frac = rng.uniform(0.35, 0.60)
    length = frac * info.duration
    start = rng.uniform(0.0, info.duration - length)
    size = _fit_long(info.width, info.height, _OUT_LONG)
    fps = min(30.0, round(info.fps, 3))
    crf = _crf(rng)
    with _Encoder(dst, size, fps, crf=crf) as enc:
        for arr in _frames_at(src, fps, _rgb(size), start, start + length):
            enc.write(arr)
    return {
        "start": round(start, 3),
        "end": round(start + length, 3),
        "fraction": round(frac, 4),
        "size": list(size),
        "fps": fps,
        "crf": crf,
    }


def _v_crop(src: Path, dst: Path, rng: random.Random, **_: Any) -> Params:
    """5-20 % off each side (independently)."""
    info = video_info(src)
    fr = [rng.uniform(0.05, 0.20) for _ in range(4)]
    w, h = info.width, info.height
    x0, y0 = round(fr[0] * w), round(fr[1] * h)
    x1, y1 = w - round(fr[2] * w), h - round(fr[3] * h)
    size = _fit_long(x1 - x0, y1 - y0, _OUT_LONG)
    fps = min(30.0, round(info.fps, 3))
    crf = _crf(rng)

    def convert(frame: av.VideoFrame) -> np.ndarray:
        a = frame.to_ndarray(format="rgb24", threads=1)[y0:y1, x0:x1]
        return cv2.resize(a, size, interpolation=cv2.INTER_AREA)

    with _Encoder(dst, size, fps, crf=crf) as enc:
        for arr in _frames_at(src, fps, convert):
            enc.write(arr)
    return {
        "left": round(fr[0], 4),
        "top": round(fr[1], 4),
        "right": round(fr[2], 4),
        "bottom": round(fr[3], 4),
        "size": list(size),
        "crf": crf,
    }


def _v_mirror(src: Path, dst: Path, rng: random.Random, **_: Any) -> Params:
    """Horizontal flip (long side <= 640, CRF 28-35)."""
    info = video_info(src)
    size = _fit_long(info.width, info.height, _OUT_LONG)
    fps = min(30.0, round(info.fps, 3))
    crf = _crf(rng)
    conv = _rgb(size)
    with _Encoder(dst, size, fps, crf=crf) as enc:
        for arr in _frames_at(src, fps, conv):
            enc.write(arr[:, ::-1])
    return {"size": list(size), "crf": crf}


def _screen_chrome(
    rng: random.Random, size: tuple[int, int], video: tuple[int, int]
) -> tuple[np.ndarray, Box, tuple[int, int, int], Params]:
    """A phone screen recording of a video player: status bar, app bar, player controls;
    returns the background, the video box, the progress-bar row (y, x0, x1) and a description."""
    W, H = size
    s = W / 390
    frame = ChatFrame.random(rng, layout="viewer")
    themed = rng.random() < 0.5
    bg = frame.viewer_bg if themed else (0, 0, 0)
    if themed and bg == (0, 0, 0):
        bg = rng.choice([(18, 18, 18), (31, 44, 52), (240, 240, 240)])
    f = replace(frame, viewer_bg=bg, size=size)
    pal = _palette(f)
    img = Image.new("RGB", (W * _K, H * _K), bg)
    p = _Painter(img)
    status_h, header_h = _bars(f, s)
    _draw_status_bar(p, f, pal, W, s, status_h)
    cy = status_h + header_h / 2
    ink = pal.bar_ink
    p.line([(12 * s, cy), (28 * s, cy)], fill=ink, width=2.2 * s)
    p.line([(19 * s, cy - 7 * s), (12 * s, cy), (19 * s, cy + 7 * s)], fill=ink, width=2.2 * s)
    p.text((44 * s, cy), f.contact if rng.random() < 0.5 else "Video", 17 * s, ink, anchor="lm")
    for i in range(3):
        p.circle(W - 18 * s, cy - 6 * s + i * 6 * s, 1.9 * s, fill=ink)
    controls_h = 90 * s
    top, bottom = status_h + header_h, H - controls_h
    vw, vh = _letterbox_size(video[0], video[1], W, round(bottom - top))
    x0 = (W - vw) // 2 // 2 * 2
    y0 = round(top + (bottom - top - vh) / 2) // 2 * 2
    py = bottom + 24 * s
    p.rect((16 * s, py, W - 16 * s, py + 3 * s), fill=(120, 120, 120))
    pcy = bottom + 58 * s
    p.polygon(
        [(W / 2 - 8 * s, pcy - 11 * s), (W / 2 - 8 * s, pcy + 11 * s), (W / 2 + 11 * s, pcy)],
        fill=ink,
    )
    p.polygon(
        [(W * 0.25 + 8 * s, pcy - 8 * s), (W * 0.25 + 8 * s, pcy + 8 * s), (W * 0.25 - 6 * s, pcy)],
        fill=ink,
    )
    p.polygon(
        [(W * 0.75 - 8 * s, pcy - 8 * s), (W * 0.75 - 8 * s, pcy + 8 * s), (W * 0.75 + 6 * s, pcy)],
        fill=ink,
    )
    chrome = np.array(img.reduce(_K))
    desc = {"bars": list(bg), "theme": f.theme, "platform": f.platform, "clock": f.clock}
    return chrome, (x0, y0, x0 + vw, y0 + vh), (round(py), round(16 * s), round(W - 16 * s)), desc


def _v_screen_record(src: Path, dst: Path, rng: random.Random, **_: Any) -> Params:
    """Portrait phone recording (720x1280, or a 1080x1920 recording scaled to 540x960) with the
    video letterboxed between black or themed bars, status/app bar and a moving progress bar."""
    info = video_info(src)
    size = (720, 1280) if rng.random() < 0.3 else (540, 960)
    chrome, box, (py, px0, px1), desc = _screen_chrome(rng, size, (info.width, info.height))
    fps = min(30.0, round(info.fps, 3))
    crf = _crf(rng)
    vw, vh = box[2] - box[0], box[3] - box[1]
    n = max(1, round(info.duration * fps))
    bar_h = max(2, round(size[0] / 130))
    accent = np.array([37, 211, 102] if rng.random() < 0.5 else [10, 132, 255], np.uint8)
    with _Encoder(dst, size, fps, crf=crf) as enc:
        for i, arr in enumerate(_frames_at(src, fps, _rgb((vw, vh)))):
            out = chrome.copy()
            _place(out, arr, box[0], box[1])
            x = px0 + round((px1 - px0) * min(1.0, i / n))
            out[py : py + bar_h, px0:x] = accent
            enc.write(out)
    return {"size": list(size), "box": list(box), "crf": crf, **desc}


def _v_boxes(src: Path, dst: Path, rng: random.Random, **_: Any) -> Params:
    """Opaque coloured boxes / stickers over 5-15 % of every frame, at fixed positions."""
    info = video_info(src)
    size = _fit_long(info.width, info.height, _OUT_LONG)
    layer, desc = _overlay_layer(
        size,
        rng,
        lo=0.05,
        hi=0.15,
        caption=False,
        stickers=True,
        kinds=("box", "label", "smiley", "star", "box"),
    )
    la = np.asarray(layer)
    mask = la[..., 3] >= 128
    colours = la[..., :3][mask]
    fps = min(30.0, round(info.fps, 3))
    crf = _crf(rng)
    with _Encoder(dst, size, fps, crf=crf) as enc:
        for arr in _frames_at(src, fps, _rgb(size)):
            out = arr.copy()
            out[mask] = colours
            enc.write(out)
    return {
        "size": list(size),
        "crf": crf,
        "coverage": desc["coverage"],
        "stickers": desc["stickers"],
    }


def _pan_plan(img_size: tuple[int, int], out: tuple[int, int], rng: random.Random) -> Params:
    w, h = img_size
    W, H = out
    bw0 = min(w, h * W / H)  # largest box of the output's aspect inside the photo
    z0, z1 = rng.uniform(0.6, 1.0), rng.uniform(0.6, 1.0)
    if abs(z0 - z1) < 0.1 and rng.random() < 0.5:
        z1 = max(0.6, z0 - 0.25) if z0 > 0.8 else z0 + 0.25

    def centre(z: float) -> tuple[float, float]:
        bw, bh = bw0 * z, bw0 * z * H / W
        return rng.uniform(bw / 2, w - bw / 2), rng.uniform(bh / 2, h - bh / 2)

    c0, c1 = centre(z0), centre(z1)
    return {
        "zoom": [round(z0, 4), round(z1, 4)],
        "start": [round(c0[0], 2), round(c0[1], 2)],
        "end": [round(c1[0], 2), round(c1[1], 2)],
        "base_w": bw0,
    }


def _pan_frames(
    img: Image.Image, size: tuple[int, int], fps: float, seconds: float, plan: Params
) -> Iterator[np.ndarray]:
    """A slow pan/zoom ("Ken Burns") over ``img`` following ``plan``, eased in and out."""
    src = np.asarray(_as_rgb(img))
    W, H = size
    n = max(1, round(seconds * fps))
    (z0, z1), (cx0, cy0), (cx1, cy1), bw0 = plan["zoom"], plan["start"], plan["end"], plan["base_w"]
    # Shrink the photo once (area-averaged) so that each frame is a mild resample: no aliasing.
    f = min(1.0, W / (bw0 * min(z0, z1)))
    if f < 0.95:
        src = cv2.resize(src, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        bw0, cx0, cy0, cx1, cy1 = bw0 * f, cx0 * f, cy0 * f, cx1 * f, cy1 * f
    for i in range(n):
        u = i / max(1, n - 1)
        e = u * u * (3 - 2 * u)
        z = z0 + (z1 - z0) * e
        cx, cy = cx0 + (cx1 - cx0) * e, cy0 + (cy1 - cy0) * e
        bw = bw0 * z
        k = W / bw
        m = np.array([[k, 0.0, W / 2 - k * cx], [0.0, k, H / 2 - k * cy]], np.float64)
        yield cv2.warpAffine(src, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def make_pan_video(
    photo: Path,
    dst: Path,
    rng: random.Random,
    seconds: float | None = None,
    size: tuple[int, int] = (1280, 720),
    fps: float = 25,
    crf: int = 23,
) -> Params:
    """A slow pan/zoom over ``photo`` (``seconds`` drawn in 10-20 when not given), H.264."""
    if seconds is None:
        seconds = rng.uniform(10.0, 20.0)
    size = (_even(size[0]), _even(size[1]))
    with Image.open(photo) as im:
        img = _as_rgb(im)
        img.load()
    plan = _pan_plan(img.size, size, rng)
    with _Encoder(dst, size, fps, crf=crf) as enc:
        for arr in _pan_frames(img, size, fps, seconds, plan):
            enc.write(arr)
    return {
        "photo": Path(photo).name,
        "seconds": round(seconds, 3),
        "size": list(size),
        "fps": fps,
        "crf": crf,
        "pan": {k: v for k, v in plan.items() if k != "base_w"},
    }


_VIDEO_EXT = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"}


def _synthetic_picture(rng: random.Random, size: tuple[int, int] = (1280, 960)) -> Image.Image:
    """An unrelated generated picture (gradient, shapes): filler when no pool is given."""
    w, h = size
    small = np.zeros((4, 4, 3), np.float32)
    for c in range(3):
        small[..., c] = np.array([[rng.uniform(0, 255) for _ in range(4)] for _ in range(4)])
    img = Image.fromarray(small.astype(np.uint8)).resize(size, Image.Resampling.BICUBIC)
    d = ImageDraw.Draw(img)
    for _ in range(rng.randint(8, 20)):
        x, y, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.03, 0.2) * w
        shape = rng.choice(["ellipse", "rect", "star"])
        fill = _any_colour(rng)
        if shape == "ellipse":
            d.ellipse((x - r, y - r, x + r, y + r * rng.uniform(0.5, 1.5)), fill=fill)
        elif shape == "rect":
            d.rectangle((x - r, y - r / 2, x + r, y + r / 2), fill=fill)
        else:
            d.polygon(_star(x, y, r), fill=fill)
    return img.filter(ImageFilter.GaussianBlur(1.5))


def _filler_frames(
    filler: Path | None, size: tuple[int, int], fps: float, rng: random.Random, part: float
) -> tuple[Iterator[np.ndarray], Params]:
    """A clip of unrelated footage at ``size`` (letterboxed): a segment of a video, a pan over a
    photo, or (``filler`` None) a pan over a generated picture. It lasts 40-100 % of ``part``
    (the original's part in the compilation), within 2.5-7 s."""
    seconds = min(7.0, max(2.5, part * rng.uniform(0.4, 1.0)))
    W, H = size
    if filler is not None and filler.suffix.lower() in _VIDEO_EXT:
        info = video_info(filler)
        seconds = min(seconds, info.duration)
        start = rng.uniform(0.0, max(0.0, info.duration - seconds))
        vw, vh = _letterbox_size(info.width, info.height, W, H)
        x0, y0 = (W - vw) // 2, (H - vh) // 2

        def gen() -> Iterator[np.ndarray]:
            for arr in _frames_at(filler, fps, _rgb((vw, vh)), start, start + seconds):
                yield _place(np.zeros((H, W, 3), np.uint8), arr, x0, y0)

        return gen(), {
            "kind": "video",
            "source": filler.name,
            "start": round(start, 3),
            "seconds": round(seconds, 3),
        }
    if filler is not None:
        with Image.open(filler) as im:
            img = _as_rgb(im)
            img.load()
        desc: Params = {"kind": "pan", "source": filler.name, "seconds": round(seconds, 3)}
    else:
        img = _synthetic_picture(rng)
        desc = {"kind": "pan", "source": "generated", "seconds": round(seconds, 3)}
    plan = _pan_plan(img.size, size, rng)
    return _pan_frames(img, size, fps, seconds, plan), desc


def _v_compilation(
    src: Path, dst: Path, rng: random.Random, *, fillers: Sequence[Path] = (), **_: Any
) -> Params:
    """The original (40 %) or a 35-60 % segment of it, between unrelated clips (2.5-7 s each,
    at least one before and one after) that last together 1-2x the original part, so the
    original is at most half of the result. 640x360 (or 360x640 for portrait), 25 fps."""
    info = video_info(src)
    size = (640, 360) if info.width >= info.height else (360, 640)
    fps = 25.0
    crf = _crf(rng)
    if rng.random() < 0.4:
        start, end = 0.0, info.duration
    else:
        length = rng.uniform(0.35, 0.60) * info.duration
        start = rng.uniform(0.0, info.duration - length)
        end = start + length
    pool = list(fillers)
    segments: list[Params] = []
    W, H = size
    vw, vh = _letterbox_size(info.width, info.height, W, H)
    ox, oy = (W - vw) // 2, (H - vh) // 2

    def original() -> Iterator[np.ndarray]:
        for arr in _frames_at(src, fps, _rgb((vw, vh)), start, end):
            yield _place(np.zeros((H, W, 3), np.uint8), arr, ox, oy)

    t = 0.0
    with _Encoder(dst, size, fps, crf=crf) as enc:

        def emit(frames: Iterator[np.ndarray], desc: Params) -> float:
            nonlocal t
            count = 0
            for arr in frames:
                enc.write(arr)
                count += 1
            seconds = count / fps
            segments.append({**desc, "out_start": round(t, 3), "out_end": round(t + seconds, 3)})
            t += seconds
            return seconds

        def filler() -> float:
            return emit(*_filler_frames(rng.choice(pool) if pool else None, size, fps, rng, end - start))

        total_fill = sum(filler() for _ in range(rng.randint(1, 2)))
        shown = emit(original(), {"kind": "original", "start": round(start, 3), "end": round(end, 3)})
        need = shown * rng.uniform(1.0, 2.0)
        total_fill += filler()
        while total_fill < need:
            total_fill += filler()
    return {
        "size": list(size),
        "fps": fps,
        "crf": crf,
        "original_part": [round(start, 3), round(end, 3)],
        "filler_seconds": round(total_fill, 3),
        "segments": segments,
    }


_VIDEO_IMPL: dict[str, Callable[..., Params]] = {
    "reencode": _v_reencode,
    "trim": _v_trim,
    "crop": _v_crop,
    "mirror": _v_mirror,
    "screen_record": _v_screen_record,
    "boxes": _v_boxes,
    "compilation": _v_compilation,
}
VIDEO_FAMILY_NAMES: tuple[str, ...] = tuple(_VIDEO_IMPL)


def forward_video(
    family: str, src: Path, dst: Path, rng: random.Random, *, fillers: Sequence[Path] = ()
) -> Params:
    """Write a forwarded copy of ``src`` to ``dst`` (H.264 MP4); return the drawn parameters.
    ``fillers`` (videos, or photos to pan over) are the unrelated clips of ``compilation``;
    without them it pans over generated pictures."""
    if family not in _VIDEO_IMPL:
        raise ValueError(f"unknown video family {family!r}; expected one of {VIDEO_FAMILY_NAMES}")
    params = _VIDEO_IMPL[family](Path(src), Path(dst), rng, fillers=fillers)
    return {"family": family, **params}


def _video_family(name: str) -> Callable[[Path, Path, random.Random], None]:
    def apply(src: Path, dst: Path, rng: random.Random) -> None:
        forward_video(name, src, dst, rng)

    apply.__name__ = f"video_{name}"
    apply.__doc__ = f"Forwarded copy of a video by family {name!r} (see forward_video)."
    return apply


VIDEO_FAMILIES: dict[str, Callable[[Path, Path, random.Random], None]] = {
    name: _video_family(name) for name in _VIDEO_IMPL
}
