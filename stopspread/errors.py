"""Typed errors shared by every part of stopspread.

Each carries a message a person can act on; the CLI prints it and goes on with the next file.
"""


class StopspreadError(Exception):
    """Base class for every error stopspread raises on purpose."""


class MediaError(StopspreadError):
    """A file could not be decoded as an image or video (corrupt, hostile, unsupported, too large)."""


class UnsupportedMediaError(MediaError):
    """The file is not an image or video format stopspread reads."""


class MediaLimitError(MediaError):
    """The file exceeds a safety limit (pixels, duration, decode time)."""


class InvalidSignalError(StopspreadError, ValueError):
    """A hash string is not valid for its signal type."""


class IndexFormatError(StopspreadError):
    """A persisted index is missing, corrupt or of an unknown version."""
