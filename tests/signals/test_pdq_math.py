"""stopspread's PDQ against Meta's: same bits on the same pixels, conformance on reference hashes."""

import json

import numpy as np
import pdqhash
import pytest
from PIL import Image

from stopspread.signals import pdq_math
from stopspread.signals.types import PdqSignal


def _luma(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.float32)
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


@pytest.fixture(scope="module")
def photos(media_images):
    return [np.asarray(Image.open(p).convert("RGB")) for p in media_images[:12]]


def test_full_resolution_hash_is_bit_identical_to_pdqhash(photos):
    for rgb in photos:
        bits, quality = pdqhash.compute(rgb)
        expected = np.packbits(bits.astype(bool))
        mine, my_quality = pdq_math.hash_image(_luma(rgb))
        assert pdq_math.hamming(mine, expected) <= 2  # float summation order only
        assert my_quality == quality


def test_regions_hash_like_cropped_pixels(photos):
    luma = _luma(photos[1])
    h, w = luma.shape
    box = (w // 5, h // 7, w - w // 9, h - h // 6)
    region_hash = pdq_math.hash_regions(luma, np.array([box]))[0][0]
    crop_hash = pdq_math.hash_image(np.ascontiguousarray(luma[box[1] : box[3], box[0] : box[2]]))[0]
    assert pdq_math.hamming(region_hash, crop_hash) == 0


def test_blank_image_has_quality_zero():
    _, quality = pdq_math.hash_image(np.full((300, 400), 128, np.float32))
    assert quality == 0


def test_conformance_with_reference_hashes(shared_dir):
    """Meta's reference hashes: every image of quality >= 50 within the decoders' tolerance."""
    folder = shared_dir / "data" / "pdq-conformance"
    checked = 0
    for line in (folder / "reference.jsonl").read_text().splitlines():
        record = json.loads(line)
        rgb = np.asarray(Image.open(folder / "images" / record["id"]).convert("RGB"))
        mine, quality = pdq_math.hash_image(_luma(rgb))
        if quality < pdq_math.QUALITY_GATE:
            continue
        reference = PdqSignal.to_array([record["pdq"]])[0]
        assert pdq_math.hamming(mine, reference) <= 16, record["id"]
        checked += 1
    assert checked >= 25


def test_dihedral_buffers_hash_exactly_like_transformed_pixels(photos):
    luma = _luma(photos[2])
    h, w = luma.shape
    box = (w // 10, h // 8, w - w // 7, h - 3)
    hashes = pdq_math.dct_to_hash(pdq_math.dct16(pdq_math.dihedral_buffers(luma, box)))
    region = luma[box[1] : box[3], box[0] : box[2]]
    for pixels in (
        region,
        region[::-1],
        region[:, ::-1],
        np.rot90(region, 1),
        np.rot90(region, -1),
        region.T,
    ):
        direct = pdq_math.hash_image(np.ascontiguousarray(pixels))[0]
        assert pdq_math.hamming(hashes, direct).min() <= 2
    # the variants are really needed: the diagonal mirror image is far from the original
    assert pdq_math.hamming(hashes[0], hashes[4]) > 64
