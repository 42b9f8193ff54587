"""The detector's weights: a logistic model for sextortion vs benign, a softmax head for the
category, a logistic head for Spanish vs English, and the calibration of the first. Stored as one
``.npz`` of plain arrays (no pickle), scored with numpy alone."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from stopspread.detect.features import DIM_BITS

MODEL_FILE = "detector.npz"
FORMAT_VERSION = 1


class ModelError(ValueError):
    """The model file is missing, unreadable or from another format version."""


@dataclass(frozen=True)
class Model:
    w: np.ndarray  # (DIM,) float32: sextortion log-odds per bucket
    b: float
    platt: tuple[float, float]  # calibrated p = sigmoid(a * z + c), fitted on held-out templates
    threshold: float  # on the calibrated score
    w_cat: np.ndarray  # (K, DIM) float32
    b_cat: np.ndarray  # (K,)
    categories: tuple[str, ...]
    w_lang: np.ndarray  # (DIM,) float32: log-odds of Spanish over English
    b_lang: float
    meta: dict

    def save(self, path: Path) -> None:
        meta = dict(
            self.meta,
            format=FORMAT_VERSION,
            dim_bits=DIM_BITS,
            categories=list(self.categories),
            platt=list(self.platt),
            threshold=self.threshold,
            b=self.b,
            b_lang=self.b_lang,
        )
        # float16 halves the file; the scores move by less than 1e-3.
        np.savez_compressed(
            path,
            w=self.w.astype(np.float16),
            w_cat=self.w_cat.astype(np.float16),
            b_cat=self.b_cat.astype(np.float32),
            w_lang=self.w_lang.astype(np.float16),
            meta=np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8),
        )

    @classmethod
    def load(cls, path: Path | None = None) -> Model:
        source = path or resources.files("stopspread.detect") / "weights" / MODEL_FILE
        try:
            with resources.as_file(source) as real, np.load(real, allow_pickle=False) as data:
                meta = json.loads(bytes(data["meta"]).decode("utf-8"))
                arrays = {k: data[k].astype(np.float32) for k in ("w", "w_cat", "b_cat", "w_lang")}
        except (OSError, KeyError, ValueError) as exc:
            raise ModelError(f"cannot read the detector model {source}: {exc}") from exc
        if meta.get("format") != FORMAT_VERSION or meta.get("dim_bits") != DIM_BITS:
            raise ModelError(
                f"detector model {source} is format {meta.get('format')}, "
                f"{meta.get('dim_bits')} bits; this code reads {FORMAT_VERSION}, {DIM_BITS}"
            )
        return cls(
            w=arrays["w"],
            b=float(meta["b"]),
            platt=(float(meta["platt"][0]), float(meta["platt"][1])),
            threshold=float(meta["threshold"]),
            w_cat=arrays["w_cat"],
            b_cat=arrays["b_cat"],
            categories=tuple(meta["categories"]),
            w_lang=arrays["w_lang"],
            b_lang=float(meta["b_lang"]),
            meta=meta,
        )

    def calibrate(self, z: np.ndarray | float) -> np.ndarray:
        a, c = self.platt
        return 1.0 / (1.0 + np.exp(-(a * np.asarray(z, dtype=np.float64) + c)))
