"""The conformance kit every signal type passes: validation, canonical form, self-match."""

import numpy as np
import pytest

from stopspread.errors import InvalidSignalError
from stopspread.signals import local
from stopspread.signals.base import SIGNAL_TYPES
from stopspread.signals.types import LocalFeaturesSignal, Md5Signal, PdqSignal, Sha256Signal

PDQ = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"


def test_registry_names_every_signal_type():
    assert set(SIGNAL_TYPES) == {"pdq", "md5", "sha256", "local"}
    for signal_type in SIGNAL_TYPES.values():
        assert signal_type.reveals, f"{signal_type.name} must say what it reveals"


@pytest.mark.parametrize(
    ("signal_type", "value"),
    [(PdqSignal, PDQ), (Md5Signal, "0" * 31 + "a"), (Sha256Signal, "f" * 64)],
)
def test_hex_signals_validate_and_self_match(signal_type, value):
    assert signal_type.validate(value.upper()) == value
    assert signal_type.matches(value, value)
    with pytest.raises(InvalidSignalError, match=signal_type.name):
        signal_type.validate(value[:-1])
    with pytest.raises(InvalidSignalError, match="hex"):
        signal_type.validate("z" * len(value))
    with pytest.raises(InvalidSignalError, match="string"):
        signal_type.validate(12)  # type: ignore[arg-type]


def test_pdq_distance_and_threshold():
    flipped = list(PDQ)
    for i in range(8):  # flip 4 bits in each of 8 hex digits = 32 bits
        flipped[i] = format(int(flipped[i], 16) ^ 0xF, "x")
    far = "".join(flipped)
    assert PdqSignal.distance(PDQ, far) == 32
    assert not PdqSignal.matches(PDQ, far)
    near = format(int(PDQ, 16) ^ ((1 << 31) - 1), "064x")
    assert PdqSignal.distance(PDQ, near) == 31 and PdqSignal.matches(PDQ, near)
    assert PdqSignal.to_hex(PdqSignal.to_array([PDQ])[0]) == PDQ


def test_local_signal_validates_and_matches_itself(media_images):
    from PIL import Image

    luma = np.asarray(Image.open(media_images[5]).convert("L"), dtype=np.float32)
    text = local.extract(luma, features=200).to_text()
    assert LocalFeaturesSignal.validate(text) == text
    assert LocalFeaturesSignal.matches(text, text)
    with pytest.raises(InvalidSignalError, match="local"):
        LocalFeaturesSignal.validate("not base64!")
