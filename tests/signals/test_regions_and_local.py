"""The picture inside a screenshot is found; local features survive crops and reject strangers."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from stopspread.signals import local
from stopspread.signals.regions import _runs, content_box


def _luma(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"), dtype=np.float32)


def chat_screenshot(photo: Image.Image, *, dark: bool, width_share: float) -> tuple[Image.Image, tuple]:
    """A phone chat screen (flat bars, bubbles of text) with ``photo`` in a bubble."""
    screen_w, screen_h = 540, 1170
    background = (18, 18, 18) if dark else (236, 229, 221)
    bubble = (40, 40, 40) if dark else (255, 255, 255)
    screen = Image.new("RGB", (screen_w, screen_h), background)
    draw = ImageDraw.Draw(screen)
    draw.rectangle((0, 0, screen_w, 120), fill=(7, 94, 84))
    draw.ellipse((15, 60, 65, 110), fill=(200, 200, 200))
    draw.text((80, 75), "Alex", fill="white")
    for k in range(4):
        y = 150 + 60 * k
        draw.rounded_rectangle((20, y, 350, y + 45), 10, fill=bubble)
        draw.text((30, y + 15), "see you later ok", fill="white" if dark else "black")
    pw = int(screen_w * width_share)
    ph = int(photo.height * pw / photo.width)
    x, y = (screen_w - pw) // 2, 450
    screen.paste(photo.resize((pw, ph)), (x, y))
    draw.rectangle((0, screen_h - 80, screen_w, screen_h), fill=(240, 240, 240))
    return screen, (x, y, x + pw, y + ph)


@pytest.fixture(scope="module")
def photos(media_images):
    return [Image.open(p).convert("RGB").resize((600, 400)) for p in media_images[:40:4]]


@pytest.mark.parametrize("dark", [False, True])
def test_content_box_finds_the_photo_in_a_chat_screenshot(photos, dark):
    found = 0
    for photo, share in zip(photos, np.linspace(0.6, 0.95, len(photos)), strict=True):
        screen, truth = chat_screenshot(photo, dark=dark, width_share=float(share))
        box = content_box(_luma(screen))
        if (
            box is not None
            and max(abs(a - b) for a, b in zip(box, truth, strict=True)) <= 0.02 * screen.width
        ):
            found += 1
    assert found >= len(photos) - 1


def test_content_box_finds_a_letterboxed_picture(photos):
    frame = Image.new("RGB", (720, 1280), (0, 0, 0))
    frame.paste(photos[0].resize((720, 480)), (0, 400))
    box = content_box(_luma(frame))
    assert box is not None
    assert abs(box[1] - 400) <= 4 and abs(box[3] - 880) <= 4


def test_content_box_leaves_ordinary_photos_alone(media_images):
    boxed = sum(content_box(_luma(Image.open(p))) is not None for p in media_images[:60])
    assert boxed <= 6  # a photo with a flat sky may look framed; then its region is just hashed too


def test_local_features_round_trip_text():
    rng = np.random.default_rng(1)
    features = local.LocalFeatures(
        rng.integers(0, 256, (7, 32), dtype=np.uint8), rng.random((7, 2), dtype=np.float32)
    )
    back = local.LocalFeatures.from_text(features.to_text())
    assert np.array_equal(back.descriptors, features.descriptors)
    assert np.abs(back.points - features.points).max() <= 0.5 / 255 + 1e-6
    with pytest.raises(ValueError, match="whole number"):
        local.LocalFeatures.from_text("AAAA")


def _correspondences(a: local.LocalFeatures, b: local.LocalFeatures) -> int:
    xor = np.bitwise_xor(a.descriptors[:, None, :], b.descriptors[None])
    distance = np.unpackbits(xor, axis=-1).sum(-1)
    qi, ri = np.nonzero(distance <= local.DESCRIPTOR_RADIUS)
    return local.verify(a.points[qi], b.points[ri])


def test_local_features_match_a_crop_and_not_a_stranger(media_images):
    original = _luma(Image.open(media_images[3]))
    h, w = original.shape
    crop = np.ascontiguousarray(original[int(h * 0.15) : int(h * 0.9), int(w * 0.02) : int(w * 0.8)])
    stranger = _luma(Image.open(media_images[50]))
    reference = local.extract(original, features=local.ORIGINAL_FEATURES, detection=local.ORIGINAL_DETECTION)
    assert (
        _correspondences(local.extract(crop, features=local.QUERY_FEATURES), reference) >= local.MIN_INLIERS
    )
    assert (
        _correspondences(local.extract(stranger, features=local.QUERY_FEATURES), reference)
        < local.MIN_INLIERS
    )


def test_local_features_of_a_flat_image_are_empty():
    features = local.extract(np.full((200, 300), 90, np.float32), features=100)
    assert len(features) == 0
    assert local.verify(features.points, features.points) == 0


def test_cheap_detection_falls_back_on_a_low_contrast_picture(media_images):
    """Originals look for corners at FAST 20 first; a dim picture still gets its corners at 10."""
    photo = _luma(Image.open(media_images[3]))
    dim = 100 + (photo - photo.mean()) * 0.15  # contrast cut to 15 %: few corners clear 20
    cheap = local.extract(dim, features=local.ORIGINAL_FEATURES, detection=local.ORIGINAL_DETECTION)
    full = local.extract(dim, features=local.ORIGINAL_FEATURES)
    assert len(cheap) == len(full) == local.ORIGINAL_FEATURES


def test_runs_are_every_long_run_line_by_line():
    rng = np.random.default_rng(3)
    mask = rng.random((40, 70)) < 0.7
    naive = []
    for line, row in enumerate(mask):
        start = None
        for x, on in enumerate([*row, False]):
            if on and start is None:
                start = x
            elif not on and start is not None:
                if x - start >= 3:
                    naive.append((line, start, x))
                start = None
    assert _runs(mask, 3) == naive
