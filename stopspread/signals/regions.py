"""Find the picture inside a screenshot, screen recording or letterboxed frame.

Forwarded copies are often a phone screenshot of a chat: the photo sits in a bubble surrounded
by flat interface (status bar, header, bubbles, keyboard) or black bars. The interface is made of
flat colour and sparse text, the photo of dense texture, so the photo is the largest dense,
nearly rectangular blob of texture. Fingerprinting that rectangle instead of the whole screen
is what lets a screenshot match, and it is also why two unrelated pictures shown in the same
chat frame do not match each other: the frame is never fingerprinted.
"""

from __future__ import annotations

import cv2
import numpy as np
from numba import njit

# Working resolution of the detector: enough to place edges within ~1 % of the side.
_WORK_SIDE = 256
# Interface fills are flat to within JPEG noise; a 5x5 neighbourhood whose grey levels span no
# more than this is interface, not photo (even a clear sky varies more once downscaled).
_FLAT_RANGE = 2.0
# The frame must be at least this flat to be a screen at all, the picture must cover this much
# of it (smaller blobs are avatars, emojis, stickers), and above this share of both sides the
# picture *is* the frame: nothing to cut out.
_MIN_FLAT = 0.12
_MIN_AREA = 0.08
_WHOLE = 0.96
# Apps show a picture at least this wide or this tall (chat bubbles take 60-95 % of the width,
# viewers and screen recordings the whole width or height); a narrower blob is not one.
_MIN_SIDE = 0.5
# Share of flat pixels along a side for it to be the edge of a pasted picture.
_EDGE_FLAT = 0.8
_EDGE_REACH = 4
# Outline cue: working size, the grey-level step that makes an edge, the least height of an
# outlined picture (a one-line text bubble is ~3 % of a screen), and the least mean horizontal
# gradient inside it (a text bubble is flat fill with a few glyphs).
_OUTLINE_SIDE = 512
# The outline cue is for phone screens, which are portrait; a landscape photo's window frames
# and horizons make too many rectangles.
_PORTRAIT = 1.3
# Largest corner radius of a picture's bubble, as a share of the screen's width.
_CORNER = 0.05
_EDGE_STEP = 8.0
_MIN_OUTLINE_HEIGHT = 0.08
_MIN_INSIDE_TEXTURE = 1.0
# Interface (fills, wallpaper doodles, text) is much calmer than a photo: outside the outline
# the mean gradient must stay under this share of the inside's, or the "outline" is a line
# inside an ordinary photo (a horizon, a window frame).
_MAX_OUTSIDE_SHARE = 1.0
# Around the picture, a screen is mostly flat fill; a photo with a patch of sky is not.
_MIN_FLAT_OUTSIDE = 0.6


def content_box(luma: np.ndarray) -> tuple[int, int, int, int] | None:
    """The (x0, y0, x1, y1) of the picture inside a screen-like frame, or None.

    Two cues, either of which finds most screens: flat interface all around the picture, or
    (over a patterned chat wallpaper, or a picture with flat patches of its own) the straight
    sharp outline of the picture's rectangle. None means an ordinary photo.
    """
    found = [box for box in (_outlined_box(luma), _flat_framed_box(luma)) if box is not None]
    if not found:
        return None
    # Where a dark picture fades into a dark screen, one cue may stop at a line inside the
    # picture; the other then sees more of it, and the larger box is the picture.
    return _snap_to_edges(luma, max(found, key=lambda b: (b[2] - b[0]) * (b[3] - b[1])))


def _shrunk(luma: np.ndarray, side: int) -> np.ndarray:
    """``luma`` area-averaged so that its longer side is at most ``side``."""
    h, w = luma.shape
    scale = side / max(h, w)
    if scale >= 1:
        return luma
    return cv2.resize(
        luma, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
    )


def _flat_framed_box(luma: np.ndarray) -> tuple[int, int, int, int] | None:
    """The largest rectangle of texture in a frame that is mostly flat fill."""
    h, w = luma.shape
    small = _shrunk(luma, _WORK_SIDE)
    sh, sw = small.shape
    if min(sh, sw) < 16:
        return None
    kernel = np.ones((5, 5), np.uint8)
    spread = cv2.dilate(small, kernel) - cv2.erode(small, kernel)
    flat = (spread <= _FLAT_RANGE).astype(np.uint8)
    # Specks of flatness inside a photo (a blown-out highlight) must not split it.
    flat = cv2.morphologyEx(flat, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    if flat.mean() < _MIN_FLAT:
        return None
    x, y, bw, bh = _largest_clear_rectangle(flat.astype(np.bool_))
    if bw * bh < _MIN_AREA * sh * sw or (bw >= _WHOLE * sw and bh >= _WHOLE * sh):
        return None
    if bw < _MIN_SIDE * sw and bh < _MIN_SIDE * sh:
        return None
    if not _edges_are_picture(flat, x, y, bw, bh):
        return None
    outside = flat.sum() / max(1, sh * sw - bw * bh)
    if outside < _MIN_FLAT_OUTSIDE:
        return None
    # The 5x5 spread reaches two pixels past the picture's edge into the flat frame.
    x0, y0 = x + 2 if x > 0 else 0, y + 2 if y > 0 else 0
    x1 = x + bw - 2 if x + bw < sw else sw
    y1 = y + bh - 2 if y + bh < sh else sh
    return round(x0 / sw * w), round(y0 / sh * h), round(x1 / sw * w), round(y1 / sh * h)


def _runs(mask: np.ndarray, min_length: int) -> list[tuple[int, int, int]]:
    """(line, start, stop) of every run of True at least ``min_length`` long, line by line."""
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), np.int8)
    padded[:, 1:-1] = mask
    change = np.diff(padded, axis=1)
    # Every line is padded with False at both ends, so its changes alternate start, stop, ...
    # and one pass over the flat array finds both, in line order.
    # (Tested as booleans: numpy's nonzero on int8 is ~50x slower than on bool.)
    flips = np.flatnonzero(change != 0)
    line, start = np.divmod(flips[0::2], change.shape[1])
    stop = flips[1::2] % change.shape[1]
    long = stop - start >= min_length
    return [tuple(run) for run in np.column_stack([line[long], start[long], stop[long]]).tolist()]


def _outlined_box(luma: np.ndarray) -> tuple[int, int, int, int] | None:
    """The largest rectangle outlined by long straight edges on all four sides.

    A picture in a chat bubble or a viewer has a crisp rectangular outline, whatever the
    wallpaper behind it; its top and bottom are edges as wide as the picture, its sides edges as
    tall. Text bubbles are outlined too but are short, and hold no texture.
    """
    h, w = luma.shape
    if h < _PORTRAIT * w:
        return None
    small = _shrunk(luma, _OUTLINE_SIDE)
    sh, sw = small.shape
    if min(sh, sw) < 32:
        return None
    across = np.abs(np.diff(small, axis=0)) > _EDGE_STEP  # edges between rows: tops, bottoms
    down = np.abs(np.diff(small, axis=1)) > _EDGE_STEP  # edges between columns: sides
    across = cv2.morphologyEx(across.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((1, 9), np.uint8)) > 0
    down = cv2.morphologyEx(down.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((9, 1), np.uint8)) > 0
    tops = _runs(across, round(_MIN_SIDE * sw))
    # Column, first and last row of every vertical edge run, as arrays: a patterned frame has
    # thousands, and each candidate rectangle looks them all up.
    side_runs = np.array(_runs(down.T, round(_MIN_OUTLINE_HEIGHT * sh)), np.int64).reshape(-1, 3)
    side_runs = side_runs[(side_runs[:, 0] >= 2) & (side_runs[:, 0] <= sw - 3)]
    columns, side_tops, side_bottoms = side_runs.T
    slack = max(2, round(0.02 * sw))
    texture = np.abs(np.diff(small, axis=1))
    total_texture = float(texture.sum())

    # Rounded corners shorten every edge by the corner's radius: a side may stand that far
    # outside the ends of the top and bottom edges and stop that far short of them.
    corner = max(slack, round(_CORNER * sw))

    # Every side must be drawn: a picture spanning the whole width (a viewer, a letterbox) has
    # flat bars instead, which the flat-fill cue finds.
    def side_near(x: int, outward: int, y0: int, y1: int) -> int | None:
        away = (columns - x) * outward
        near = (away >= -2) & (away <= corner) & (side_tops <= y0 + corner) & (side_bottoms >= y1 - corner)
        if not near.any():
            return None
        return int(x + outward * int(away[near].max()))  # the side farthest out

    best: tuple[int, int, int, int] | None = None
    best_area = 0
    top_rows, top_starts, top_stops = np.array(tops, np.int64).reshape(-1, 3).T
    for i, (y0, a0, b0) in enumerate(tops):
        # Pairs of edges of one picture: far enough apart, ends aligned (a patterned frame has
        # thousands of edges, so the pairs are screened as arrays before the per-pair checks).
        pairs = (
            (top_rows[i + 1 :] - y0 >= _MIN_OUTLINE_HEIGHT * sh)
            & (np.abs(top_starts[i + 1 :] - a0) <= slack)
            & (np.abs(top_stops[i + 1 :] - b0) <= slack)
        )
        for j in np.flatnonzero(pairs).tolist():
            y1, a1, b1 = tops[i + 1 + j]
            left = side_near(max(a0, a1), -1, y0, y1)
            right = side_near(min(b0, b1) - 1, 1, y0, y1)
            if left is None or right is None:
                continue
            x0, x1 = left + 1, right + 1
            area = (x1 - x0) * (y1 - y0)
            if area <= best_area or area < _MIN_AREA * sh * sw:
                continue
            if (x1 - x0 >= _WHOLE * sw) and (y1 - y0 >= _WHOLE * sh):
                continue
            inside = texture[y0 + 2 : y1 - 1, x0 + 2 : x1 - 3]
            if inside.size == 0:
                continue
            inside_texture = float(inside.mean())
            outside_texture = (total_texture - float(inside.sum())) / max(1, texture.size - inside.size)
            if inside_texture < _MIN_INSIDE_TEXTURE or outside_texture > _MAX_OUTSIDE_SHARE * inside_texture:
                continue
            best, best_area = (x0, y0 + 1, x1, y1 + 1), area
    if best is None:
        return None
    x0, y0, x1, y1 = best
    return round(x0 / sw * w), round(y0 / sh * h), round(x1 / sw * w), round(y1 / sh * h)


def _edges_are_picture(flat: np.ndarray, x: int, y: int, w: int, h: int) -> bool:
    """Whether flat interface runs along the box's sides, as around a pasted picture.

    An object photographed against a plain wall also leaves a clear rectangle, but the object
    goes on past some of its sides; a picture pasted into a screen has flat fill all along them,
    a few pixels out (a bubble's outline may sit in between). Sides on the frame's border say
    nothing and are skipped.
    """
    sh, sw = flat.shape
    sides = []
    for step in range(1, _EDGE_REACH + 1):
        sides.append(
            [
                flat[y - step, x : x + w].mean() if y - step >= 0 else np.nan,
                flat[y + h - 1 + step, x : x + w].mean() if y + h - 1 + step < sh else np.nan,
                flat[y : y + h, x - step].mean() if x - step >= 0 else np.nan,
                flat[y : y + h, x + w - 1 + step].mean() if x + w - 1 + step < sw else np.nan,
            ]
        )
    outer = np.array(sides)
    present = ~np.isnan(outer[0])
    if present.sum() < 2:
        return False
    framed = (np.nan_to_num(outer, nan=0.0).max(axis=0) >= _EDGE_FLAT)[present].sum()
    return bool(framed >= max(2, present.sum() - 1))


@njit(cache=True)
def _largest_clear_rectangle(blocked: np.ndarray) -> tuple[int, int, int, int]:
    """Largest axis-aligned rectangle with no blocked cell (histogram-stack method), as x, y, w, h."""
    rows, cols = blocked.shape
    heights = np.zeros(cols + 1, np.int64)
    stack = np.zeros(cols + 1, np.int64)
    best = (0, 0, 0, 0)
    best_area = 0
    for r in range(rows):
        for c in range(cols):
            heights[c] = 0 if blocked[r, c] else heights[c] + 1
        top = 0
        for c in range(cols + 1):
            while top > 0 and heights[stack[top - 1]] >= heights[c]:
                height = heights[stack[top - 1]]
                top -= 1
                left = stack[top - 1] + 1 if top > 0 else 0
                area = height * (c - left)
                if area > best_area:
                    best_area = area
                    best = (left, r - height + 1, c - left, height)
            stack[top] = c
            top += 1
    return best


def _snap_to_edges(luma: np.ndarray, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """Move each side of a coarse box to the strongest straight edge within a few pixels."""
    h, w = luma.shape
    x0, y0, x1, y1 = box
    reach = max(2, round(2 * max(h, w) / _WORK_SIDE))
    col_edge = np.abs(np.diff(luma[y0:y1].mean(axis=0)))
    row_edge = np.abs(np.diff(luma[:, x0:x1].mean(axis=1)))

    def snap(pos: int, profile: np.ndarray, limit: int) -> int:
        lo, hi = max(0, pos - reach), min(limit - 1, pos + reach)
        if hi <= lo:
            return pos
        return lo + int(np.argmax(profile[lo:hi])) + 1

    nx0, nx1 = snap(x0, col_edge, w), snap(x1 - 1, col_edge, w)
    ny0, ny1 = snap(y0, row_edge, h), snap(y1 - 1, row_edge, h)
    if nx1 - nx0 < (x1 - x0) // 2 or ny1 - ny0 < (y1 - y0) // 2:
        return box
    return nx0, ny0, nx1, ny1
