// The picture inside a screenshot, screen recording or letterboxed frame: a port of
// stopspread/signals/regions.py (content_box), constant for constant, so that a screenshot
// fingerprinted in the browser lists the same inner picture the engine would. Images are
// {data: Float32Array, width, height} luma; boxes are [x0, y0, x1, y1] in pixels.

const WORK_SIDE = 256;
const FLAT_RANGE = 2.0;
const MIN_FLAT = 0.12;
const MIN_AREA = 0.08;
const WHOLE = 0.96;
const MIN_SIDE = 0.5;
const EDGE_FLAT = 0.8;
const EDGE_REACH = 4;
const OUTLINE_SIDE = 512;
const PORTRAIT = 1.3;
const CORNER = 0.05;
const EDGE_STEP = 8.0;
const MIN_OUTLINE_HEIGHT = 0.08;
const MIN_INSIDE_TEXTURE = 1.0;
const MAX_OUTSIDE_SHARE = 1.0;
const MIN_FLAT_OUTSIDE = 0.6;

/** Python's round(): halves go to the even neighbour (the engine's sizes and boxes use it). */
export function pyRound(v) {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The picture's box inside a screen-like frame, or null for an ordinary photo. */
export function contentBox(img) {
  const found = [outlinedBox(img), flatFramedBox(img)].filter((b) => b !== null);
  if (!found.length) return null;
  // Where a dark picture fades into a dark screen one cue may stop short; the larger box wins
  // (the first one on a tie, as Python's max does).
  let best = found[0];
  for (const b of found.slice(1)) if (area(b) > area(best)) best = b;
  return snapToEdges(img, best);
}

const area = (b) => (b[2] - b[0]) * (b[3] - b[1]);

/** Area-average resampling weights along one axis (what cv2.INTER_AREA does when shrinking). */
function areaTable(src, dst) {
  const scale = src / dst;
  const table = [];
  for (let d = 0; d < dst; d++) {
    const f1 = d * scale;
    const f2 = f1 + scale;
    const cell = Math.min(scale, src - f1);
    let s2 = Math.min(Math.floor(f2), src - 1);
    const s1 = Math.min(Math.ceil(f1), s2);
    const taps = [];
    if (s1 - f1 > 1e-3) taps.push([s1 - 1, (s1 - f1) / cell]);
    for (let s = s1; s < s2; s++) taps.push([s, 1 / cell]);
    if (f2 - s2 > 1e-3) taps.push([s2, Math.min(Math.min(f2 - s2, 1), cell) / cell]);
    table.push(taps);
  }
  return table;
}

/** Resize by area averaging to outW x outH (never used to enlarge). */
export function areaResize(img, outW, outH) {
  const { data, width, height } = img;
  if (outW === width && outH === height) return img;
  const flatten = (table) => {
    const start = new Int32Array(table.length + 1);
    table.forEach((taps, i) => (start[i + 1] = start[i] + taps.length));
    const at = new Int32Array(start[table.length]);
    const weight = new Float64Array(start[table.length]);
    table.forEach((taps, i) => taps.forEach(([s, w], k) => ((at[start[i] + k] = s), (weight[start[i] + k] = w))));
    return { start, at, weight };
  };
  const tx = flatten(areaTable(width, outW));
  const ty = flatten(areaTable(height, outH));
  const rows = new Float64Array(outW * height);
  for (let y = 0; y < height; y++) {
    const line = y * width;
    for (let x = 0; x < outW; x++) {
      let acc = 0;
      for (let k = tx.start[x]; k < tx.start[x + 1]; k++) acc += data[line + tx.at[k]] * tx.weight[k];
      rows[y * outW + x] = acc;
    }
  }
  const out = new Float64Array(outW * outH);
  for (let y = 0; y < outH; y++) {
    for (let k = ty.start[y]; k < ty.start[y + 1]; k++) {
      const src = ty.at[k] * outW;
      const w = ty.weight[k];
      for (let x = 0; x < outW; x++) out[y * outW + x] += rows[src + x] * w;
    }
  }
  return { data: Float32Array.from(out), width: outW, height: outH };
}

function shrunk(img, side) {
  const scale = side / Math.max(img.width, img.height);
  if (scale >= 1) return img;
  return areaResize(img, Math.max(1, pyRound(img.width * scale)), Math.max(1, pyRound(img.height * scale)));
}

/** Max (or min) over a kx x ky window clipped to the image, as cv2.dilate/erode with default borders. */
function morph(data, width, height, kx, ky, useMax, Out = Float32Array) {
  const pass = (src, length, count, stride, step, k) => {
    // One axis: lines of `length` cells, `count` lines; cell i of line l is at l*stride + i*step.
    const out = new Out(src.length);
    const before = Math.floor(k / 2);
    const after = k - 1 - before;
    for (let l = 0; l < count; l++) {
      const base = l * stride;
      for (let i = 0; i < length; i++) {
        const from = Math.max(0, i - before);
        const to = Math.min(length - 1, i + after);
        let v = src[base + from * step];
        for (let j = from + 1; j <= to; j++) {
          const u = src[base + j * step];
          if (useMax ? u > v : u < v) v = u;
        }
        out[base + i * step] = v;
      }
    }
    return out;
  };
  const horizontal = kx > 1 ? pass(data, width, height, width, 1, kx) : data;
  return ky > 1 ? pass(horizontal, height, width, 1, width, ky) : Out.from(horizontal);
}

function flatFramedBox(img) {
  const { width: w, height: h } = img;
  const small = shrunk(img, WORK_SIDE);
  const { data, width: sw, height: sh } = small;
  if (Math.min(sh, sw) < 16) return null;
  const high = morph(data, sw, sh, 5, 5, true);
  const low = morph(data, sw, sh, 5, 5, false);
  let flat = new Uint8Array(sw * sh);
  for (let i = 0; i < flat.length; i++) flat[i] = Math.fround(high[i] - low[i]) <= FLAT_RANGE ? 1 : 0;
  // Specks of flatness inside a photo (a blown-out highlight) must not split it: an opening.
  flat = morph(morph(flat, sw, sh, 3, 3, false, Uint8Array), sw, sh, 3, 3, true, Uint8Array);
  let flatCount = 0;
  for (const v of flat) flatCount += v;
  if (flatCount / flat.length < MIN_FLAT) return null;
  const [x, y, bw, bh] = largestClearRectangle(flat, sw, sh);
  if (bw * bh < MIN_AREA * sh * sw || (bw >= WHOLE * sw && bh >= WHOLE * sh)) return null;
  if (bw < MIN_SIDE * sw && bh < MIN_SIDE * sh) return null;
  if (!edgesArePicture(flat, sw, sh, x, y, bw, bh)) return null;
  if (flatCount / Math.max(1, sh * sw - bw * bh) < MIN_FLAT_OUTSIDE) return null;
  // The 5x5 spread reaches two pixels past the picture's edge into the flat frame.
  const x0 = x > 0 ? x + 2 : 0;
  const y0 = y > 0 ? y + 2 : 0;
  const x1 = x + bw < sw ? x + bw - 2 : sw;
  const y1 = y + bh < sh ? y + bh - 2 : sh;
  return [pyRound((x0 / sw) * w), pyRound((y0 / sh) * h), pyRound((x1 / sw) * w), pyRound((y1 / sh) * h)];
}

function edgesArePicture(flat, sw, sh, x, y, w, h) {
  const rowMean = (r, from, to) => {
    let s = 0;
    for (let c = from; c < to; c++) s += flat[r * sw + c];
    return s / (to - from);
  };
  const colMean = (c, from, to) => {
    let s = 0;
    for (let r = from; r < to; r++) s += flat[r * sw + c];
    return s / (to - from);
  };
  const outer = [];
  for (let step = 1; step <= EDGE_REACH; step++) {
    outer.push([
      y - step >= 0 ? rowMean(y - step, x, x + w) : NaN,
      y + h - 1 + step < sh ? rowMean(y + h - 1 + step, x, x + w) : NaN,
      x - step >= 0 ? colMean(x - step, y, y + h) : NaN,
      x + w - 1 + step < sw ? colMean(x + w - 1 + step, y, y + h) : NaN,
    ]);
  }
  const present = outer[0].map((v) => !Number.isNaN(v));
  const presentCount = present.filter(Boolean).length;
  if (presentCount < 2) return false;
  let framed = 0;
  for (let side = 0; side < 4; side++) {
    if (!present[side]) continue;
    const best = Math.max(...outer.map((row) => (Number.isNaN(row[side]) ? 0 : row[side])));
    if (best >= EDGE_FLAT) framed++;
  }
  return framed >= Math.max(2, presentCount - 1);
}

/** Largest rectangle with no blocked cell (histogram-stack method), as [x, y, w, h]. */
export function largestClearRectangle(blocked, cols, rows) {
  const heights = new Int32Array(cols + 1);
  const stack = new Int32Array(cols + 1);
  let best = [0, 0, 0, 0];
  let bestArea = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) heights[c] = blocked[r * cols + c] ? 0 : heights[c] + 1;
    let top = 0;
    for (let c = 0; c <= cols; c++) {
      while (top > 0 && heights[stack[top - 1]] >= heights[c]) {
        const height = heights[stack[top - 1]];
        top -= 1;
        const left = top > 0 ? stack[top - 1] + 1 : 0;
        const a = height * (c - left);
        if (a > bestArea) {
          bestArea = a;
          best = [left, r - height + 1, c - left, height];
        }
      }
      stack[top] = c;
      top += 1;
    }
  }
  return best;
}

/** [line, start, stop] of every run of 1s at least minLength long in each line of a mask. */
function runs(mask, lineLength, lines, minLength, at) {
  const out = [];
  for (let line = 0; line < lines; line++) {
    let start = -1;
    for (let i = 0; i <= lineLength; i++) {
      const on = i < lineLength && at(mask, line, i);
      if (on && start < 0) start = i;
      else if (!on && start >= 0) {
        if (i - start >= minLength) out.push([line, start, i]);
        start = -1;
      }
    }
  }
  return out;
}

/** numpy's slice bounds: negative ends count from the end, then clamp. */
function sliceBounds(start, stop, length) {
  const fix = (v) => Math.min(Math.max(v < 0 ? v + length : v, 0), length);
  return [fix(start), fix(stop)];
}

function outlinedBox(img) {
  const { width: w, height: h } = img;
  if (h < PORTRAIT * w) return null;
  const small = shrunk(img, OUTLINE_SIDE);
  const { data, width: sw, height: sh } = small;
  if (Math.min(sh, sw) < 32) return null;
  // Edges between rows (tops and bottoms): (sh-1) x sw; between columns (sides): sh x (sw-1).
  let across = new Uint8Array((sh - 1) * sw);
  for (let y = 0; y < sh - 1; y++) {
    for (let x = 0; x < sw; x++) {
      across[y * sw + x] = Math.abs(Math.fround(data[y * sw + x] - data[(y + 1) * sw + x])) > EDGE_STEP ? 1 : 0;
    }
  }
  let down = new Uint8Array(sh * (sw - 1));
  const texture = new Float32Array(sh * (sw - 1));
  let totalTexture = 0;
  for (let y = 0; y < sh; y++) {
    for (let x = 0; x < sw - 1; x++) {
      const t = Math.abs(Math.fround(data[y * sw + x] - data[y * sw + x + 1]));
      texture[y * (sw - 1) + x] = t;
      totalTexture += t;
      down[y * (sw - 1) + x] = t > EDGE_STEP ? 1 : 0;
    }
  }
  // Closings bridge small gaps in long edges (1x9 along rows, 9x1 along columns).
  across = morph(morph(across, sw, sh - 1, 9, 1, true, Uint8Array), sw, sh - 1, 9, 1, false, Uint8Array);
  down = morph(morph(down, sw - 1, sh, 1, 9, true, Uint8Array), sw - 1, sh, 1, 9, false, Uint8Array);
  const tops = runs(across, sw, sh - 1, pyRound(MIN_SIDE * sw), (m, line, i) => m[line * sw + i]);
  const sides = runs(down, sh, sw - 1, pyRound(MIN_OUTLINE_HEIGHT * sh), (m, line, i) => m[i * (sw - 1) + line]).filter(
    ([c]) => c >= 2 && c <= sw - 3,
  );
  const slack = Math.max(2, pyRound(0.02 * sw));
  const corner = Math.max(slack, pyRound(CORNER * sw));

  const sideNear = (x, outward, y0, y1) => {
    let far = null;
    for (const [c, top, bottom] of sides) {
      const away = (c - x) * outward;
      if (away >= -2 && away <= corner && top <= y0 + corner && bottom >= y1 - corner) {
        if (far === null || away > far) far = away;
      }
    }
    return far === null ? null : x + outward * far;
  };

  let best = null;
  let bestArea = 0;
  const tw = sw - 1;
  for (let i = 0; i < tops.length; i++) {
    const [y0, a0, b0] = tops[i];
    for (let j = i + 1; j < tops.length; j++) {
      const [y1, a1, b1] = tops[j];
      if (y1 - y0 < MIN_OUTLINE_HEIGHT * sh || Math.abs(a1 - a0) > slack || Math.abs(b1 - b0) > slack) continue;
      const left = sideNear(Math.max(a0, a1), -1, y0, y1);
      const right = sideNear(Math.min(b0, b1) - 1, 1, y0, y1);
      if (left === null || right === null) continue;
      const x0 = left + 1;
      const x1 = right + 1;
      const a = (x1 - x0) * (y1 - y0);
      if (a <= bestArea || a < MIN_AREA * sh * sw) continue;
      if (x1 - x0 >= WHOLE * sw && y1 - y0 >= WHOLE * sh) continue;
      const [r0, r1] = sliceBounds(y0 + 2, y1 - 1, sh);
      const [c0, c1] = sliceBounds(x0 + 2, x1 - 3, tw);
      const size = Math.max(0, r1 - r0) * Math.max(0, c1 - c0);
      if (size === 0) continue;
      let inside = 0;
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) inside += texture[r * tw + c];
      const insideTexture = inside / size;
      const outsideTexture = (totalTexture - inside) / Math.max(1, texture.length - size);
      if (insideTexture < MIN_INSIDE_TEXTURE || outsideTexture > MAX_OUTSIDE_SHARE * insideTexture) continue;
      best = [x0, y0 + 1, x1, y1 + 1];
      bestArea = a;
    }
  }
  if (best === null) return null;
  const [x0, y0, x1, y1] = best;
  return [pyRound((x0 / sw) * w), pyRound((y0 / sh) * h), pyRound((x1 / sw) * w), pyRound((y1 / sh) * h)];
}

/** Move each side of a coarse box to the strongest straight edge within a few pixels. */
function snapToEdges(img, box) {
  const { data, width: w, height: h } = img;
  const [x0, y0, x1, y1] = box;
  const reach = Math.max(2, pyRound((2 * Math.max(h, w)) / WORK_SIDE));
  const colMeans = new Float32Array(w);
  for (let y = y0; y < y1; y++) for (let x = 0; x < w; x++) colMeans[x] = Math.fround(colMeans[x] + data[y * w + x]);
  const rowMeans = new Float32Array(h);
  for (let y = 0; y < h; y++) {
    let s = 0;
    for (let x = x0; x < x1; x++) s += data[y * w + x];
    rowMeans[y] = s / (x1 - x0);
  }
  for (let x = 0; x < w; x++) colMeans[x] = Math.fround(colMeans[x] / (y1 - y0));
  const colEdge = Array.from({ length: w - 1 }, (_, i) => Math.abs(colMeans[i + 1] - colMeans[i]));
  const rowEdge = Array.from({ length: h - 1 }, (_, i) => Math.abs(rowMeans[i + 1] - rowMeans[i]));
  const snap = (pos, profile, limit) => {
    const lo = Math.max(0, pos - reach);
    const hi = Math.min(limit - 1, pos + reach);
    if (hi <= lo) return pos;
    let at = lo;
    for (let i = lo + 1; i < hi; i++) if (profile[i] > profile[at]) at = i;
    return at + 1;
  };
  const nx0 = snap(x0, colEdge, w);
  const nx1 = snap(x1 - 1, colEdge, w);
  const ny0 = snap(y0, rowEdge, h);
  const ny1 = snap(y1 - 1, rowEdge, h);
  if (nx1 - nx0 < Math.floor((x1 - x0) / 2) || ny1 - ny0 < Math.floor((y1 - y0) / 2)) return box;
  return [nx0, ny0, nx1, ny1];
}
