// PDQ as stopspread/signals/pdq_math.py computes it, step for step, so that a fingerprint made in
// the browser is the engine's own: BT.601 luma, a tent filter read at 64x64 taps (two box passes
// of window ceil(n/128) folded into one weight row per sample), a 16x16 DCT without the DC
// term, one bit per coefficient above the median, and PDQ's quality heuristic.
// Intermediate values are rounded to float32 (Math.fround) where the engine holds float32
// arrays, so the same pixels give the same bits.

const BUFFER_SIDE = 64;
const DCT_SIDE = 16;
export const HASH_BITS = 256;
// Below this quality Meta's tools (and the engine's matcher) treat a hash as too flat to trust.
export const QUALITY_GATE = 50;
// PDQ's published match threshold, the engine's PDQ_THRESHOLD.
export const PDQ_THRESHOLD = 31;

const f32 = Math.fround;
const LUMA_R = f32(0.299);
const LUMA_G = f32(0.587);
const LUMA_B = f32(0.114);

/** Luma (Float32Array, 0..255) of RGBA pixels, as the engine's `rgb.astype(float32) @ LUMA_WEIGHTS`. */
export function lumaFromRGBA(rgba, width, height) {
  const out = new Float32Array(width * height);
  for (let i = 0, p = 0; i < out.length; i++, p += 4) {
    out[i] = f32(f32(f32(rgba[p] * LUMA_R) + f32(rgba[p + 1] * LUMA_G)) + f32(rgba[p + 2] * LUMA_B));
  }
  return out;
}

let dctMatrix = null;
function dct() {
  if (!dctMatrix) {
    dctMatrix = new Float32Array(DCT_SIDE * BUFFER_SIDE);
    const scale = Math.sqrt(2 / BUFFER_SIDE);
    for (let i = 0; i < DCT_SIDE; i++) {
      for (let j = 0; j < BUFFER_SIDE; j++) {
        dctMatrix[i * BUFFER_SIDE + j] = scale * Math.cos((Math.PI / 2 / BUFFER_SIDE) * (i + 1) * (2 * j + 1));
      }
    }
  }
  return dctMatrix;
}

const tapCache = new Map();

/** Where each of the 64 samples of a span of n pixels reads, and with what weight (pdq_math._taps). */
export function taps(n) {
  const cached = tapCache.get(n);
  if (cached) return cached;
  const window = Math.max(1, Math.ceil(n / 128));
  const half = Math.floor((window + 2) / 2);
  const clip = (v) => Math.min(Math.max(v, 0), n);
  const lo = (i) => clip(i + half - window);
  const hi = (i) => clip(i + half);
  const count = 2 * window;
  const positions = new Int32Array(BUFFER_SIDE * count);
  const weights64 = new Float64Array(BUFFER_SIDE * count);
  for (let row = 0; row < BUFFER_SIDE; row++) {
    const centre = Math.trunc(((row + 0.5) * n) / BUFFER_SIDE);
    const first = lo(lo(centre));
    for (let j = lo(centre); j < hi(centre); j++) {
      const share = 1 / ((hi(centre) - lo(centre)) * (hi(j) - lo(j)));
      for (let k = lo(j) - first; k < hi(j) - first; k++) weights64[row * count + k] += share;
    }
    for (let k = 0; k < count; k++) positions[row * count + k] = Math.min(first + k, n - 1);
  }
  const result = { count, positions, weights: Float32Array.from(weights64) };
  tapCache.set(n, result);
  return result;
}

/** The 64x64 PDQ buffer of the region [x0, x1) x [y0, y1) of a luma image (pdq_math.buffers64). */
export function buffer64(luma, width, box) {
  const [x0, y0, x1, y1] = box;
  const w = x1 - x0;
  const ty = taps(y1 - y0);
  // Rows: 64 tent-filtered rows of the region, each w wide.
  const rows = new Float32Array(BUFFER_SIDE * w);
  for (let a = 0; a < BUFFER_SIDE; a++) {
    const acc = rows.subarray(a * w, (a + 1) * w);
    for (let k = 0; k < ty.count; k++) {
      const weight = ty.weights[a * ty.count + k];
      if (weight === 0) continue; // a zero tap adds exactly nothing, in float32 too
      const base = (y0 + ty.positions[a * ty.count + k]) * width + x0;
      for (let x = 0; x < w; x++) acc[x] = f32(acc[x] + f32(weight * luma[base + x]));
    }
  }
  const tx = taps(w);
  const out = new Float32Array(BUFFER_SIDE * BUFFER_SIDE);
  for (let a = 0; a < BUFFER_SIDE; a++) {
    for (let b = 0; b < BUFFER_SIDE; b++) {
      let acc = 0;
      for (let k = 0; k < tx.count; k++) {
        const weight = tx.weights[b * tx.count + k];
        if (weight === 0) continue;
        acc = f32(acc + f32(weight * rows[a * w + tx.positions[b * tx.count + k]]));
      }
      out[a * BUFFER_SIDE + b] = acc;
    }
  }
  return out;
}

/** PDQ's quality (0..100) of a 64x64 buffer (pdq_math.quality). */
export function quality(buffer) {
  const step = (a, b) => Math.abs(Math.trunc(f32(f32(f32(a - b) * 100) / 255)));
  let total = 0;
  for (let i = 0; i < BUFFER_SIDE - 1; i++) {
    for (let j = 0; j < BUFFER_SIDE; j++) {
      total += step(buffer[i * BUFFER_SIDE + j], buffer[(i + 1) * BUFFER_SIDE + j]);
    }
  }
  for (let i = 0; i < BUFFER_SIDE; i++) {
    for (let j = 0; j < BUFFER_SIDE - 1; j++) {
      total += step(buffer[i * BUFFER_SIDE + j], buffer[i * BUFFER_SIDE + j + 1]);
    }
  }
  return Math.min(100, Math.trunc(total / 90));
}

/** The 16x16 DCT (without the DC row and column) of a 64x64 buffer (pdq_math.dct16). */
export function dct16(buffer) {
  const d = dct();
  const half = new Float64Array(DCT_SIDE * BUFFER_SIDE); // d @ buffer
  for (let i = 0; i < DCT_SIDE; i++) {
    for (let k = 0; k < BUFFER_SIDE; k++) {
      const dik = d[i * BUFFER_SIDE + k];
      for (let l = 0; l < BUFFER_SIDE; l++) half[i * BUFFER_SIDE + l] += dik * buffer[k * BUFFER_SIDE + l];
    }
  }
  const out = new Float32Array(DCT_SIDE * DCT_SIDE); // (d @ buffer) @ d.T
  for (let i = 0; i < DCT_SIDE; i++) {
    for (let j = 0; j < DCT_SIDE; j++) {
      let acc = 0;
      for (let l = 0; l < BUFFER_SIDE; l++) acc += half[i * BUFFER_SIDE + l] * d[j * BUFFER_SIDE + l];
      out[i * DCT_SIDE + j] = acc;
    }
  }
  return out;
}

/** 64-hex PDQ of a 16x16 DCT: bit i*16+j set above the median, bit 255 printed first. */
export function dctToHex(coefficients) {
  const sorted = Float32Array.from(coefficients).sort();
  const median = f32((sorted[127] + sorted[128]) / 2);
  let hex = "";
  for (let c = 0; c < HASH_BITS / 4; c++) {
    let nibble = 0;
    for (let q = 0; q < 4; q++) {
      const bit = HASH_BITS - 1 - 4 * c - q;
      nibble = (nibble << 1) | (coefficients[bit] > median ? 1 : 0);
    }
    hex += nibble.toString(16);
  }
  return hex;
}

/** PDQ hex and quality of a region of a luma image (the whole image when box is omitted). */
export function pdqOf(luma, width, height, box = [0, 0, width, height]) {
  const buffer = buffer64(luma, width, box);
  return { pdq: dctToHex(dct16(buffer)), quality: quality(buffer) };
}

/** Bits that differ between two 64-hex hashes. */
export function hamming(a, b) {
  let bits = 0;
  for (let i = 0; i < a.length; i += 8) {
    let x = (parseInt(a.slice(i, i + 8), 16) ^ parseInt(b.slice(i, i + 8), 16)) >>> 0;
    while (x) {
      x &= x - 1;
      bits++;
    }
  }
  return bits;
}
