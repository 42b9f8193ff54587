from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps

from stopspread.errors import MediaError, MediaLimitError, UnsupportedMediaError
from stopspread.media import MediaLimits, load_luma, load_rgb
from tests.media._make import luma_of, marker, pattern, png_bomb, png_header_only, write_video


def _save(img: Image.Image | np.ndarray, fmt: str, **kw: object) -> bytes:
    if isinstance(img, np.ndarray):
        img = Image.fromarray(img)
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.fixture(scope="module")
def big_jpeg(tmp_path_factory: pytest.TempPathFactory, media_images: list[Path]) -> Path:
    """A 12-MP phone-sized JPEG made by upscaling a shared photo."""
    src = Image.open(media_images[0]).convert("RGB")
    path = tmp_path_factory.mktemp("jpeg") / "big.jpg"
    src.resize((4032, 3024), Image.Resampling.BILINEAR).save(path, quality=90)
    return path


def test_jpeg_draft_decodes_at_one_eighth(big_jpeg: Path) -> None:
    img = load_luma(big_jpeg)
    assert img.format == "jpeg"
    assert img.original_size == (4032, 3024)
    assert img.luma.shape == (378, 504)  # 1/8 keeps the short side >= 256
    assert img.luma.dtype == np.float32
    assert img.luma.min() >= 0 and img.luma.max() <= 255


def test_jpeg_draft_matches_full_decode_then_area_downscale(big_jpeg: Path) -> None:
    draft = load_luma(big_jpeg).luma
    full = Image.open(big_jpeg).convert("RGB").reduce(8)
    expected = np.asarray(full, dtype=np.float64) @ np.array([0.299, 0.587, 0.114])
    diff = np.abs(draft - expected)
    assert diff.mean() < 1.0
    assert np.percentile(diff, 99) < 4.0


def test_large_reduction_continues_after_dct_scaling(big_jpeg: Path) -> None:
    img = load_luma(big_jpeg, min_side=32)
    # 1/8 gives 378 px, then a box reduce by 11 brings the short side to 34
    assert 32 <= min(img.luma.shape) < 64


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    width=st.integers(8, 700),
    height=st.integers(8, 700),
    min_side=st.integers(8, 300),
    fmt=st.sampled_from(["JPEG", "PNG"]),
)
def test_short_side_lands_between_min_side_and_twice(
    width: int, height: int, min_side: int, fmt: str
) -> None:
    data = _save(pattern(width, height), fmt)
    luma = load_luma(data, min_side=min_side).luma
    short = min(width, height)
    if short < min_side:
        assert luma.shape == (height, width)  # never enlarged
    else:
        assert min_side <= min(luma.shape) < 2 * min_side
    assert luma.shape[1] / luma.shape[0] == pytest.approx(width / height, rel=0.2)


@pytest.mark.parametrize("orientation", [3, 6, 8, 2, 5, 7])
def test_exif_orientation_is_applied(orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = _save(marker(600, 400), "JPEG", exif=exif.tobytes(), quality=95)
    img = load_luma(data)
    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("L")
    swapped = orientation in (5, 6, 7, 8)
    assert img.original_size == ((400, 600) if swapped else (600, 400))
    assert img.luma.shape == ((600, 400) if swapped else (400, 600))
    small = np.asarray(expected.resize(img.luma.shape[::-1], Image.Resampling.BOX), np.float32)
    assert np.abs(img.luma - small).mean() < 3


def test_png_alpha_is_composited_on_white() -> None:
    rgba = np.zeros((100, 120, 4), np.uint8)  # transparent black everywhere...
    rgba[:50, :, 3] = 255  # ...except the top half, opaque black
    rgba[50:, :60, 3] = 128  # bottom-left: half-transparent black
    img = load_luma(_save(rgba, "PNG"))
    assert img.format == "png"
    assert np.all(img.luma[:50] == 0)
    assert np.allclose(img.luma[50:, :60], 127, atol=1.5)
    assert np.all(img.luma[50:, 60:] == 255)


def test_grey_with_alpha() -> None:
    la = np.zeros((40, 40, 2), np.uint8)
    la[..., 0] = 100
    la[:20, :, 1] = 255  # top half opaque grey 100, bottom half transparent
    img = load_luma(_save(Image.fromarray(la, mode="LA"), "PNG"))
    assert np.allclose(img.luma[:20], 100, atol=0.5)
    assert np.allclose(img.luma[20:], 255, atol=0.5)


def test_palette_gif_first_frame_and_transparency() -> None:
    first = Image.new("P", (64, 48), 0)
    first.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)  # index 0 red, index 1 blue
    first.paste(1, (0, 0, 32, 48))  # left half blue
    second = Image.new("P", (64, 48), 1)
    second.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    buf = io.BytesIO()
    first.save(buf, format="GIF", save_all=True, append_images=[second], duration=100)
    img = load_luma(buf.getvalue())
    assert img.format == "gif"
    assert np.allclose(img.luma[:, :32], 0.114 * 255, atol=0.6)
    assert np.allclose(img.luma[:, 32:], 0.299 * 255, atol=0.6)

    buf = io.BytesIO()
    first.save(buf, format="GIF", transparency=0)  # red becomes see-through
    assert np.allclose(load_luma(buf.getvalue()).luma[:, 32:], 255, atol=0.6)


@pytest.mark.parametrize(
    ("fmt", "kw", "name"),
    [
        ("PNG", {}, "png"),
        ("WEBP", {"lossless": True}, "webp"),
        ("BMP", {}, "bmp"),
        ("TIFF", {}, "tiff"),
    ],
)
def test_lossless_formats_give_exact_pdq_luma(fmt: str, kw: dict[str, object], name: str) -> None:
    rgb = pattern(200, 150)
    img = load_luma(_save(rgb, fmt, **kw))
    assert img.format == name
    assert img.original_size == (200, 150)
    assert np.allclose(img.luma, luma_of(rgb), atol=1e-3)


@pytest.mark.parametrize(("fmt", "name"), [("HEIF", "heif"), ("AVIF", "avif")])
def test_heic_and_avif_round_trip(fmt: str, name: str) -> None:
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    rgb = pattern(320, 240)
    img = load_luma(_save(rgb, fmt, quality=90))
    assert img.format == name
    assert img.luma.shape == (240, 320)
    assert np.abs(img.luma - luma_of(rgb)).mean() < 4


def test_sixteen_bit_png_is_rescaled_not_clipped() -> None:
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (16, 1))
    img = load_luma(_save(Image.fromarray(ramp), "PNG"))
    assert img.luma.max() == pytest.approx(255, abs=0.5)
    assert img.luma[0, 128] == pytest.approx(128, abs=1.5)


def test_cmyk_jpeg_decodes() -> None:
    cmyk = Image.fromarray(pattern(300, 300)).convert("CMYK")
    img = load_luma(_save(cmyk, "JPEG"))
    assert img.luma.shape == (300, 300)


def test_png_named_jpg_is_detected_by_content(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(_save(pattern(64, 64), "PNG"))
    assert load_luma(path).format == "png"


def test_bytes_and_path_agree(tmp_path: Path) -> None:
    data = _save(pattern(500, 300), "JPEG")
    path = tmp_path / "x.jpeg"
    path.write_bytes(data)
    assert np.array_equal(load_luma(path).luma, load_luma(data).luma)


def test_load_rgb_full_and_reduced() -> None:
    rgb = pattern(640, 480)
    data = _save(rgb, "PNG")
    assert np.array_equal(load_rgb(data), rgb)
    small = load_rgb(data, min_side=100)
    assert small.dtype == np.uint8 and small.shape == (120, 160, 3)


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(MediaError, match="empty"):
        load_luma(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="not found"):
        load_luma(tmp_path / "nope.jpg")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_file_raises_instead_of_half_grey(fmt: str) -> None:
    data = _save(pattern(400, 300), fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    with pytest.raises(MediaError, match=r"truncated|corrupt"):
        load_luma(data[: len(data) * 6 // 10])


def test_corrupt_png_crc_raises() -> None:
    data = bytearray(_save(pattern(100, 100), "PNG"))
    data[40] ^= 0xFF  # inside the IDAT payload, so its CRC no longer matches
    with pytest.raises(MediaError):
        load_luma(bytes(data))


def test_text_named_jpg_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("these are not the pixels you are looking for\n" * 10)
    with pytest.raises(UnsupportedMediaError, match="not a recognised image"):
        load_luma(path)


def test_header_claiming_ten_gigapixels_fails_fast() -> None:
    with pytest.raises(MediaLimitError, match="decompression bomb"):
        load_luma(png_header_only(100_000, 100_000))


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_highly_compressible_png_bomb_fails_before_decoding() -> None:
    bomb = png_bomb(12_000, 10_000)  # 120 MP, a few KB
    assert len(bomb) < 200_000
    with pytest.raises(MediaLimitError, match="decompression bomb"):
        load_luma(bomb)


def test_custom_limits() -> None:
    data = _save(pattern(100, 100), "PNG")
    with pytest.raises(MediaLimitError, match="limit"):
        load_luma(data, limits=MediaLimits(max_pixels=5_000))
    with pytest.raises(MediaLimitError, match="MiB"):
        load_luma(data, limits=MediaLimits(max_bytes=100))


def test_video_given_to_load_luma(tmp_path: Path, media_videos: list[Path]) -> None:
    with pytest.raises(UnsupportedMediaError, match="video"):
        load_luma(media_videos[0])
    renamed = tmp_path / "clip.jpg"
    write_video(renamed.with_suffix(".mp4"), seconds=0.5)
    renamed.write_bytes(renamed.with_suffix(".mp4").read_bytes())
    with pytest.raises(UnsupportedMediaError, match="video"):
        load_luma(renamed)


def test_every_shared_photo_decodes(media_images: list[Path]) -> None:
    assert media_images, "no shared photos found"
    for path in media_images:
        img = load_luma(path)
        short = min(img.original_size)
        assert min(img.luma.shape) == short or 256 <= min(img.luma.shape) < 512, path
