// From a picked file to the fingerprint record the engine would make of it, in the browser.
// Nothing here sends anything: the page posts only the records these functions return.
//
// Pictures are decoded by the browser (EXIF orientation applied), reduced by area averaging to
// the size the engine hashes (`stopspread/media/images.py`: a JPEG at the DCT scale 1/2, 1/4 or
// 1/8 that keeps the short side >= 384, then a box reduction), then hashed by pdq.js with the
// picture-inside-a-screenshot box from regions.js. Videos are sampled one frame a second from a
// <video> element, each frame reduced to a short side of 256 like `fingerprint_video`'s frames.
//
// Local features (ORB) are not made here: the records carry PDQ only (see the page's privacy
// text and benchmarks/results/web.md for what that costs in matching).

import { lumaFromRGBA, pdqOf } from "./pdq.js";
import { areaResize, contentBox, pyRound } from "./regions.js";

export const IMAGE_MIN_SIDE = 384;
export const VIDEO_MIN_SIDE = 256;
export const VIDEO_FPS = 1;
// The engine refuses videos longer than this (media limits); the browser would take ages too.
export const MAX_VIDEO_SECONDS = 3 * 60 * 60;

export class UnreadableFile extends Error {}

/** The size the engine decodes a picture to before hashing (images.py: draft + reduce). */
export function engineSize(width, height, isJpeg) {
  let w = width;
  let h = height;
  if (isJpeg) {
    // libjpeg's DCT scaling: the largest of 1/8, 1/4, 1/2 that keeps both sides >= 384.
    const most = Math.floor(Math.min(w, h) / IMAGE_MIN_SIDE);
    const scale = [8, 4, 2, 1].find((s) => s <= most) || 1;
    w = Math.ceil(w / scale);
    h = Math.ceil(h / scale);
  }
  const factor = Math.floor(Math.min(w, h) / IMAGE_MIN_SIDE);
  if (factor >= 2) {
    w = Math.ceil(w / factor);
    h = Math.ceil(h / factor);
  }
  return [w, h];
}

async function isJpeg(file) {
  const head = new Uint8Array(await file.slice(0, 3).arrayBuffer());
  return head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff;
}

function canvasOf(width, height) {
  if (typeof OffscreenCanvas !== "undefined") return new OffscreenCanvas(width, height);
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  return canvas;
}

/** RGBA of a drawable (bitmap, video) at its own size, transparency on white like the engine. */
function pixels(source, width, height) {
  const canvas = canvasOf(width, height);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, width, height);
  ctx.drawImage(source, 0, 0, width, height);
  return ctx.getImageData(0, 0, width, height).data;
}

/** Upright luma of a picture at the engine's hashing size: {data, width, height}. */
export async function decodeImage(file) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch {
    throw new UnreadableFile("image");
  }
  try {
    const { width, height } = bitmap;
    if (!width || !height) throw new UnreadableFile("image");
    const full = { data: lumaFromRGBA(pixels(bitmap, width, height), width, height), width, height };
    const [w, h] = engineSize(width, height, await isJpeg(file));
    return areaResize(full, w, h);
  } finally {
    bitmap.close();
  }
}

const fraction = (v) => Math.round(v * 1e4) / 1e4;

/** The image record of a luma picture, as records.py writes fingerprint_image's (without local). */
export function imageRecord(img) {
  const { data, width, height } = img;
  const whole = pdqOf(data, width, height);
  const record = { kind: "image", pdq: whole.pdq, quality: whole.quality };
  const box = contentBox(img);
  if (box) {
    const inner = pdqOf(data, width, height, box);
    record.region = {
      box: [fraction(box[0] / width), fraction(box[1] / height), fraction(box[2] / width), fraction(box[3] / height)],
      pdq: inner.pdq,
      quality: inner.quality,
    };
  }
  return record;
}

export async function fingerprintImage(file, onProgress = () => {}) {
  onProgress(0.1);
  const img = await decodeImage(file);
  onProgress(0.7);
  const record = imageRecord(img);
  onProgress(1);
  return record;
}

/** The frame record of one sampled video frame (fingerprint_video: PDQ of the picture inside). */
export function frameRecord(t, img) {
  const { data, width, height } = img;
  const box = contentBox(img) || [0, 0, width, height];
  const { pdq, quality } = pdqOf(data, width, height, box);
  return { t: Math.round(t * 1000) / 1000, pdq, quality };
}

function once(target, ok, failures, timeoutMs = 30000) {
  return new Promise((resolve, reject) => {
    const done = (fn, value) => {
      clearTimeout(timer);
      target.removeEventListener(ok, onOk);
      for (const f of failures) target.removeEventListener(f, onFail);
      fn(value);
    };
    const onOk = (event) => done(resolve, event);
    const onFail = () => done(reject, new UnreadableFile("video"));
    const timer = setTimeout(() => done(reject, new UnreadableFile("video")), timeoutMs);
    target.addEventListener(ok, onOk);
    for (const f of failures) target.addEventListener(f, onFail);
  });
}

// Seeking costs a decode from the previous keyframe every time (~0.3 s a frame for 720p), so
// videos are played muted at this rate instead and the first frame presented at or after each
// second is taken, as the engine takes the first frame at or after each target.
const PLAYBACK_RATE = 8;
// A playing video that presents no frame for this long (a background tab, a stalled decoder)
// is finished by seeking.
const STALL_MS = 5000;

/**
 * One frame a second of a video file (the first frame at or after t = 0, 1, 2, ... up to its
 * duration), each as upright luma with a short side of 256: yields {t, img, index, count}, t
 * being the frame's own time.
 */
export async function* videoFrames(file) {
  const url = URL.createObjectURL(file);
  const video = document.createElement("video");
  video.muted = true;
  video.playsInline = true;
  video.preload = "auto";
  try {
    const loaded = once(video, "loadeddata", ["error"]);
    video.src = url;
    await loaded;
    const duration = video.duration;
    const { videoWidth: width, videoHeight: height } = video;
    if (!Number.isFinite(duration) || duration <= 0 || !width || !height) throw new UnreadableFile("video");
    if (duration > MAX_VIDEO_SECONDS) throw new UnreadableFile("too-long");
    const scale = Math.min(1, VIDEO_MIN_SIDE / Math.min(width, height));
    const outW = Math.max(1, pyRound(width * scale));
    const outH = Math.max(1, pyRound(height * scale));
    const count = Math.max(1, Math.floor(duration * VIDEO_FPS - 1e-9) + 1);
    const grab = (source = video) => {
      const full = { data: lumaFromRGBA(pixels(source, width, height), width, height), width, height };
      return areaResize(full, outW, outH);
    };
    const fromSnapshot = async ({ t, bitmap, index }) => {
      const frame = await bitmap;
      try {
        return { t, img: grab(frame), index, count };
      } finally {
        frame.close();
      }
    };
    let next = 0; // the next target second
    const taken = [];
    let wake = null;
    let done = false;
    if (typeof video.requestVideoFrameCallback === "function") {
      const onFrame = (_now, meta) => {
        if (done) return;
        // The frame is captured at once (a VideoFrame holds the decoded picture, no copy) with
        // its own timestamp: at 8x the element has moved on by the time an asynchronous
        // snapshot is taken, and a frame 0.1 s off in a pan is 50 PDQ bits away.
        const frame = typeof VideoFrame === "function" ? new VideoFrame(video) : null;
        const t = frame ? frame.timestamp / 1e6 : meta.mediaTime;
        if (t >= next / VIDEO_FPS - 1e-3) {
          // Only a capture here: the frame callback must return quickly or playback stutters.
          taken.push({ t, bitmap: frame || createImageBitmap(video), index: next });
          // One frame serves every target it reaches (frames rarer than targets): once.
          while (next < count && t >= next / VIDEO_FPS - 1e-3) next++;
          if (wake) wake();
        } else if (frame) {
          frame.close();
        }
        if (next < count) video.requestVideoFrameCallback(onFrame);
      };
      video.addEventListener("ended", () => ((done = true), wake && wake()));
      video.playbackRate = PLAYBACK_RATE;
      video.requestVideoFrameCallback(onFrame);
      try {
        await video.play();
      } catch {
        done = true; // playback refused: everything is taken by seeking below
      }
      while (!done && next < count) {
        const progress = next;
        await new Promise((resolve) => {
          wake = resolve;
          setTimeout(resolve, STALL_MS);
        });
        wake = null;
        while (taken.length) yield await fromSnapshot(taken.shift());
        if (next === progress) break; // stalled
      }
      done = true;
      video.pause();
      while (taken.length) yield await fromSnapshot(taken.shift());
    }
    for (; next < count; next++) {
      const t = next / VIDEO_FPS;
      const seeked = once(video, "seeked", ["error"]);
      video.currentTime = t;
      await seeked;
      yield { t, img: grab(), index: next, count };
    }
  } finally {
    video.removeAttribute("src");
    video.load();
    URL.revokeObjectURL(url);
  }
}

/** Sample one frame a second of a video file and fingerprint each, as fingerprint_video does. */
export async function fingerprintVideo(file, onProgress = () => {}) {
  const frames = [];
  for await (const { t, img, index, count } of videoFrames(file)) {
    frames.push(frameRecord(t, img));
    onProgress((index + 1) / count);
  }
  return { kind: "video", duration: Math.round((frames.at(-1).t + 1 / VIDEO_FPS) * 1000) / 1000, frames };
}

/** The record of any picked file, by what the browser can decode (not by its name). */
export async function fingerprintFile(file, onProgress) {
  const type = (file.type || "").toLowerCase();
  if (type.startsWith("video/")) return fingerprintVideo(file, onProgress);
  if (type.startsWith("image/")) return fingerprintImage(file, onProgress);
  // Unknown type (some phones give HEIC no type): try as a picture, then as a video.
  try {
    return await fingerprintImage(file, onProgress);
  } catch (error) {
    if (!(error instanceof UnreadableFile)) throw error;
    return fingerprintVideo(file, onProgress);
  }
}
