"""Decoding at the edge: untrusted images and videos in, small luminance arrays out.

Everything downstream (PDQ and friends) works on greyscale luminance at about 256 px on the short
side, so decoding stops there: JPEGs are decoded at reduced DCT scale, videos are sampled at about
one frame per second without decoding the frames in between that nothing needs.
"""

from stopspread.media.images import DecodedImage, load_luma, load_rgb
from stopspread.media.limits import DEFAULT_LIMITS, MediaLimits
from stopspread.media.sniff import sniff_kind
from stopspread.media.video import VideoFrame, VideoInfo, probe_video, sample_frames

__all__ = [
    "DEFAULT_LIMITS",
    "DecodedImage",
    "MediaLimits",
    "VideoFrame",
    "VideoInfo",
    "load_luma",
    "load_rgb",
    "probe_video",
    "sample_frames",
    "sniff_kind",
]
