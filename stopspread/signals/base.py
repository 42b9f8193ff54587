"""One small interface for every kind of fingerprint, and the registry of the kinds there are.

A signal type knows how its hash is written (and refuses a malformed one with
``InvalidSignalError``), how far apart two hashes are, where "the same content" ends, and what
the hash reveals about the picture — the last because everything a victim sends is sensitive.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar


class SignalType(ABC):
    name: ClassVar[str]
    #: Distance at or below which two hashes are the same content.
    threshold: ClassVar[int]
    #: What someone holding only this hash can learn about the picture.
    reveals: ClassVar[str]

    @classmethod
    @abstractmethod
    def validate(cls, value: str) -> str:
        """The canonical form of ``value``; ``InvalidSignalError`` when it is not one."""

    @classmethod
    @abstractmethod
    def distance(cls, a: str, b: str) -> int:
        """How far apart two valid hashes are (0 = identical)."""

    @classmethod
    def matches(cls, a: str, b: str) -> bool:
        return cls.distance(cls.validate(a), cls.validate(b)) <= cls.threshold


SIGNAL_TYPES: dict[str, type[SignalType]] = {}


def register(signal_type: type[SignalType]) -> type[SignalType]:
    """Class decorator: make a signal type known by its name."""
    if signal_type.name in SIGNAL_TYPES:
        raise ValueError(f"signal type {signal_type.name!r} is registered twice")
    SIGNAL_TYPES[signal_type.name] = signal_type
    return signal_type
