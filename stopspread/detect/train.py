"""Rebuild the detector model from the corpus templates: ``python -m stopspread.detect.train``.

Deterministic (seeded corpus, full-batch optimisation from zeros) and light: about two minutes on
one core. Steps: expand the templates (``synth.py``); out-of-fold scores over folds that keep each
template's copies together, so calibration and the reported corpus figures are on wordings the
model never saw; fit Platt scaling on them; train the final heads on everything. The sextortion
head is an NB-scaled logistic model (``fit_nb_logistic``); the category and language heads are plain.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np

from stopspread.detect.features import DIM, batch_matrix
from stopspread.detect.model import MODEL_FILE, Model
from stopspread.detect.normalize import tokenize
from stopspread.detect.synth import CATEGORIES, CORPUS_DIR, build_corpus

L2 = 1e-6
EPOCHS = 300
LEARNING_RATE = 0.05
FOLDS = 5
TARGET_PRECISION = 0.92
NB_ALPHA = 1.0


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


class Csr:
    """Rows of hashed features as (row, column, value) triples; enough sparse algebra for training."""

    def __init__(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, n: int) -> None:
        self.rows, self.cols, self.vals, self.n = rows, cols, vals.astype(np.float64), n

    def take(self, keep: np.ndarray) -> Csr:
        new_index = np.full(self.n, -1, dtype=np.int64)
        new_index[keep] = np.arange(len(keep))
        mask = new_index[self.rows] >= 0
        return Csr(new_index[self.rows[mask]], self.cols[mask], self.vals[mask], len(keep))

    def dot(self, w: np.ndarray) -> np.ndarray:
        return np.bincount(self.rows, weights=self.vals * w[self.cols], minlength=self.n)

    def tdot(self, g: np.ndarray) -> np.ndarray:
        return np.bincount(self.cols, weights=self.vals * g[self.rows], minlength=DIM)


def _adam(grad, params: list[np.ndarray], epochs: int, lr: float) -> None:
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for t in range(1, epochs + 1):
        for i, g in enumerate(grad()):
            m[i] = 0.9 * m[i] + 0.1 * g
            v[i] = 0.999 * v[i] + 0.001 * g * g
            params[i] -= lr * (m[i] / (1 - 0.9**t)) / (np.sqrt(v[i] / (1 - 0.999**t)) + 1e-8)


def nb_ratios(x: Csr, y: np.ndarray, alpha: float = NB_ALPHA) -> np.ndarray:
    """How much more often each bucket occurs in sextortion than in benign messages, as the
    absolute log-ratio of smoothed frequencies (the "NB" of NB-SVM, Wang & Manning 2012)."""
    present = (x.vals > 0).astype(np.float64)
    p = np.bincount(x.cols, weights=present * y[x.rows], minlength=DIM) + alpha
    q = np.bincount(x.cols, weights=present * (1 - y[x.rows]), minlength=DIM) + alpha
    return np.abs(np.log(p / p.sum()) - np.log(q / q.sum()))


def fit_nb_logistic(x: Csr, y: np.ndarray, weight: np.ndarray, l2: float = L2) -> tuple[np.ndarray, float]:
    """A logistic model over features scaled by their NB ratio, returned as plain weights
    (scaling folded in), so scoring is the same dot product as for any logistic model.

    The scaling gives the features that tell the labels apart a head start over the ones that
    occur on both sides alike (function words, emojis, slot values); on held-out templates it
    generalises better than the plain model (F1 +0.3 points in cross-validation)."""
    r = nb_ratios(x, y)
    scaled = Csr(x.rows, x.cols, x.vals * r[x.cols], x.n)
    w, b = fit_logistic(scaled, y, weight, l2)
    return w * r, b


def fit_logistic(x: Csr, y: np.ndarray, weight: np.ndarray, l2: float = L2) -> tuple[np.ndarray, float]:
    w = np.zeros(DIM)
    b = np.zeros(1)
    total = weight.sum()

    def grad() -> list[np.ndarray]:
        g = (_sigmoid(x.dot(w) + b[0]) - y) * weight / total
        return [x.tdot(g) + l2 * w, np.array([g.sum()])]

    _adam(grad, [w, b], EPOCHS, LEARNING_RATE)
    return w, float(b[0])


def fit_softmax(x: Csr, y: np.ndarray, k: int, l2: float = L2) -> tuple[np.ndarray, np.ndarray]:
    w = np.zeros((k, DIM))
    b = np.zeros(k)
    onehot = np.eye(k)[y]

    def grad() -> list[np.ndarray]:
        z = np.stack([x.dot(w[j]) for j in range(k)], axis=1) + b
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        g = (p - onehot) / x.n
        return [np.stack([x.tdot(g[:, j]) for j in range(k)]) + l2 * w, g.sum(axis=0)]

    _adam(grad, [w, b], EPOCHS, LEARNING_RATE)
    return w, b


def fit_platt(z: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling by Newton's method, with the usual smoothed targets against overconfidence."""
    pos = y.sum()
    neg = len(y) - pos
    t = np.where(y == 1, (pos + 1) / (pos + 2), 1 / (neg + 2))
    a, c = 1.0, 0.0
    for _ in range(100):
        p = _sigmoid(a * z + c)
        r = p * (1 - p) + 1e-12
        g = np.array([np.sum((p - t) * z), np.sum(p - t)])
        h = np.array([[np.sum(r * z * z), np.sum(r * z)], [np.sum(r * z), np.sum(r)]]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(h, g)
        a, c = a - step[0], c - step[1]
        if np.abs(step).max() < 1e-9:
            break
    return float(a), float(c)


def choose_threshold(score: np.ndarray, y: np.ndarray) -> float:
    """The lowest threshold (most recall) whose precision on held-out templates reaches
    TARGET_PRECISION: the issue asks for precision first, and new wordings cost precision."""
    for threshold in np.arange(0.3, 0.9, 0.01):
        flagged = score >= threshold
        if flagged.any() and (y[flagged] == 1).mean() >= TARGET_PRECISION:
            return round(float(threshold), 2)
    return 0.9


def _balanced(y: np.ndarray) -> np.ndarray:
    pos = max(y.sum(), 1)
    neg = max(len(y) - y.sum(), 1)
    return np.where(y == 1, len(y) / (2 * pos), len(y) / (2 * neg))


def _fold_of(group: str) -> int:
    return int(hashlib.sha1(group.encode()).hexdigest(), 16) % FOLDS


def _prf(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    tp = int(np.sum((pred == 1) & (y == 1)))
    fp = int(np.sum((pred == 1) & (y == 0)))
    fn = int(np.sum((pred == 0) & (y == 1)))
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {
        "precision": round(p, 4),
        "recall": round(r, 4),
        "f1": round(2 * p * r / (p + r) if p + r else 0, 4),
    }


def _corpus_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(CORPUS_DIR.glob("*.txt")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def per_kind_rates(examples, flagged: np.ndarray) -> dict[str, tuple[float, int]]:
    """Per section and language: the share flagged (a false-positive rate for benign kinds, recall for
    the categories), on held-out templates."""
    totals: dict[str, list[int]] = {}
    for example, hit in zip(examples, flagged, strict=True):
        for key in (example.kind, f"{example.kind}/{example.lang}"):
            count = totals.setdefault(key, [0, 0])
            count[0] += int(hit)
            count[1] += 1
    return {k: (hits / n, n) for k, (hits, n) in sorted(totals.items())}


def _by_group(examples) -> dict[str, np.ndarray]:
    groups: dict[str, list[int]] = {}
    for i, example in enumerate(examples):
        groups.setdefault(example.group, []).append(i)
    return {g: np.array(idx) for g, idx in groups.items()}


def train(out: Path, log=print, cv_only: bool = False, cv_only_show: int = 40) -> Model | None:
    started = time.perf_counter()
    examples = build_corpus()
    rows, cols, vals = batch_matrix([tokenize(e.text) for e in examples])
    x = Csr(rows, cols, vals, len(examples))
    y = np.array([e.label for e in examples], dtype=np.float64)
    lang = np.array([e.lang == "es" for e in examples], dtype=np.float64)
    folds = np.array([_fold_of(e.group) for e in examples])
    log(
        f"corpus: {len(examples)} messages, {int(y.sum())} sextortion, "
        f"{len({e.group for e in examples})} templates"
    )

    # Out-of-fold scores: each template's copies are scored by a model that never saw that template.
    oof = np.zeros(len(examples))
    for fold in range(FOLDS):
        train_rows = np.flatnonzero(folds != fold)
        test_rows = np.flatnonzero(folds == fold)
        sub = x.take(train_rows)
        w, b = fit_nb_logistic(sub, y[train_rows], _balanced(y[train_rows]))
        oof[test_rows] = x.take(test_rows).dot(w) + b
        log(f"  fold {fold}: {time.perf_counter() - started:.0f}s")
    platt = fit_platt(oof, y)
    calibrated = _sigmoid(platt[0] * oof + platt[1])
    threshold = choose_threshold(calibrated, y)
    cv = {
        name: _prf(y[mask], (calibrated[mask] >= threshold).astype(int))
        for name, mask in (("all", np.ones(len(y), bool)), ("en", lang == 0), ("es", lang == 1))
    }
    log(f"threshold {threshold}; held-out-template figures: {json.dumps(cv)}")
    flagged = calibrated >= threshold
    kind_fpr = per_kind_rates(examples, flagged)
    for kind, (rate, n) in kind_fpr.items():
        log(f"  {kind:32s} {'FPR' if kind.startswith('benign') else 'recall'} {rate:.3f} ({n})")
    if cv_only:
        worst = sorted(
            ((float(np.mean(flagged[idx] != y[idx])), group) for group, idx in _by_group(examples).items()),
            reverse=True,
        )
        log("templates most often wrong on held-out folds:")
        for rate, group in worst[:cv_only_show]:
            first = next(e for e in examples if e.group == group)
            log(f"  {rate:.2f} {group} {first.kind}: {first.text}")
        return None

    w, b = fit_nb_logistic(x, y, _balanced(y))
    positive = np.flatnonzero(y == 1)
    cat_y = np.array([CATEGORIES.index(examples[i].kind) for i in positive])
    w_cat, b_cat = fit_softmax(x.take(positive), cat_y, len(CATEGORIES))
    w_lang, b_lang = fit_logistic(x, lang, _balanced(lang))
    model = Model(
        w=w.astype(np.float32),
        b=b,
        platt=platt,
        threshold=threshold,
        w_cat=w_cat.astype(np.float32),
        b_cat=b_cat.astype(np.float32),
        categories=CATEGORIES,
        w_lang=w_lang.astype(np.float32),
        b_lang=b_lang,
        meta={
            "corpus_sha256_16": _corpus_digest(),
            "corpus_messages": len(examples),
            "held_out_template_figures": cv,
            "held_out_template_flag_rates": {
                k: round(r, 4) for k, (r, _) in kind_fpr.items() if "/" not in k
            },
            "l2": L2,
            "epochs": EPOCHS,
            "nb_alpha": NB_ALPHA,
        },
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    log(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - started:.0f}s")
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("weights") / MODEL_FILE)
    parser.add_argument(
        "--cv-only", action="store_true", help="cross-validate, print the worst templates, write nothing"
    )
    parser.add_argument("--show", type=int, default=40, help="with --cv-only: how many templates to list")
    args = parser.parse_args()
    train(args.out, cv_only=args.cv_only, cv_only_show=args.show)


if __name__ == "__main__":
    main()
