"""The signal types stopspread reads and writes: PDQ, exact digests, local features."""

from __future__ import annotations

import re
from typing import ClassVar

import numpy as np

from stopspread.errors import InvalidSignalError
from stopspread.signals import local
from stopspread.signals.base import SignalType, register


def _hex_validator(name: str, length: int):
    pattern = re.compile(rf"[0-9a-f]{{{length}}}")

    def validate(value: str) -> str:
        if not isinstance(value, str):
            raise InvalidSignalError(
                f"{name}: expected a string of {length} hex digits, got {type(value).__name__}"
            )
        canonical = value.strip().lower()
        if not pattern.fullmatch(canonical):
            raise InvalidSignalError(f"{name}: expected {length} hex digits, got {value[:80]!r}")
        return canonical

    return validate


@register
class PdqSignal(SignalType):
    """Meta's PDQ: 256 bits, written as 64 hex digits exactly as ThreatExchange and HMA do."""

    name = "pdq"
    # 31 of 256 bits is the threshold Meta publishes for a confident PDQ match; the quality
    # benchmark finds the nearest unrelated pair (over every dihedral variant and region) far
    # above it, so stopspread keeps the industry value and its lists stay interchangeable.
    threshold = 31
    reveals: ClassVar[str] = (
        "the signs of the 16x16 lowest spatial frequencies of the greyscale picture: "
        "a blurred 16x16 sketch of light and dark at best; no colour, no detail"
    )
    _validate = staticmethod(_hex_validator("pdq", 64))

    @classmethod
    def validate(cls, value: str) -> str:
        return cls._validate(value)

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        return (int(a, 16) ^ int(b, 16)).bit_count()

    @staticmethod
    def to_array(values: list[str]) -> np.ndarray:
        """(n, 32) uint8 from 64-hex strings (already validated)."""
        if not values:
            return np.zeros((0, 32), np.uint8)
        return np.frombuffer(bytes.fromhex("".join(values)), dtype=np.uint8).reshape(-1, 32)

    @staticmethod
    def to_hex(array: np.ndarray) -> str:
        return bytes(array).hex()


class _DigestSignal(SignalType):
    threshold = 0
    reveals: ClassVar[str] = "nothing but whether a file is byte-for-byte the same"
    hex_length: ClassVar[int]

    @classmethod
    def validate(cls, value: str) -> str:
        return _hex_validator(cls.name, cls.hex_length)(value)

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        return 0 if a == b else 1


@register
class Md5Signal(_DigestSignal):
    """MD5 of the file: what StopNCII exchanges for videos; any re-encode escapes it."""

    name = "md5"
    hex_length = 32


@register
class Sha256Signal(_DigestSignal):
    name = "sha256"
    hex_length = 64


@register
class LocalFeaturesSignal(SignalType):
    """ORB descriptors with coarse positions, base64 (see ``stopspread.signals.local``)."""

    name = "local"
    threshold = 0  # a match is "enough geometric inliers", not a distance; see distance()
    reveals: ClassVar[str] = local.REVEALS

    @classmethod
    def validate(cls, value: str) -> str:
        try:
            local.LocalFeatures.from_text(value)
        except (ValueError, TypeError) as exc:
            raise InvalidSignalError(f"local: not a valid base64 feature set ({exc})") from exc
        return value

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        """0 when the two feature sets show the same picture, else 1."""
        fa, fb = local.LocalFeatures.from_text(a), local.LocalFeatures.from_text(b)
        if not len(fa) or not len(fb):
            return 1
        xor = np.bitwise_xor(fa.descriptors[:, None, :], fb.descriptors[None, :, :])
        dist = np.unpackbits(xor, axis=-1).sum(axis=-1)
        qi, ri = np.nonzero(dist <= local.DESCRIPTOR_RADIUS)
        return 0 if local.verify(fa.points[qi], fb.points[ri]) >= local.MIN_INLIERS else 1
