"""Per-message verdicts and per-conversation risk."""

from __future__ import annotations

import time as _time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from stopspread.detect.features import message_features
from stopspread.detect.lang import UNSUPPORTED, LanguageIdentifier
from stopspread.detect.model import Model
from stopspread.detect.normalize import tokenize

SEXTORTION = "sextortion"
BENIGN = "benign"
MAX_EVIDENCE = 5
# A word shows as evidence when it alone moved the log-odds by this much towards sextortion.
MIN_EVIDENCE_LOGIT = 0.15
# Function words carry weight inside phrases ("or your", "si no") but explain nothing on their own,
# so they are never shown as evidence.
_NOT_EVIDENCE = frozenset(
    [
        "a",
        "an",
        "the",
        "to",
        "of",
        "and",
        "or",
        "i",
        "you",
        "your",
        "me",
        "my",
        "it",
        "is",
        "are",
        "be",
        "if",
        "in",
        "on",
        "at",
        "for",
        "so",
        "this",
        "that",
        "im",
        "its",
        "with",
        "do",
        "el",
        "la",
        "los",
        "las",
        "un",
        "una",
        "unos",
        "unas",
        "de",
        "del",
        "que",
        "y",
        "o",
        "a",
        "en",
        "me",
        "te",
        "tu",
        "tus",
        "mi",
        "mis",
        "se",
        "lo",
        "le",
        "les",
        "por",
        "para",
        "con",
        "no",
        "si",
        "ya",
        "mas",
        "muy",
        "es",
        "al",
        "yo",
    ]
)


@dataclass(frozen=True, slots=True)
class MessageVerdict:
    """What the detector says about one message.

    ``label`` is "sextortion", "benign", or "unsupported" (a language other than English and
    Spanish: no score, no guess). ``score`` is a calibrated probability of sextortion. ``category``
    is set for sextortion only. ``evidence`` holds the words as typed that pushed the score up most.
    """

    label: str
    score: float | None
    category: str | None
    lang: str | None  # "en", "es", "unsupported"; None when there is no text to read
    evidence: tuple[str, ...] = ()
    lang_detected: str | None = None

    @property
    def flagged(self) -> bool:
        return self.label == SEXTORTION

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "label": self.label,
            "score": None if self.score is None else round(self.score, 4),
            "category": self.category,
            "lang": self.lang,
            "evidence": list(self.evidence),
        }
        if self.lang_detected:
            record["lang_detected"] = self.lang_detected
        return record


@dataclass(frozen=True, slots=True)
class ConversationRisk:
    """The risk of one conversation, from its flagged messages.

    ``level``: "none" (nothing flagged), "low", "medium" or "high". ``started_index``/``started_at``:
    the first flagged message. ``threatening_side``: the author whose messages carry the most
    flagged score (None when the messages have no authors). ``flagged``: indices of flagged messages.
    """

    level: str
    score: float
    started_index: int | None = None
    started_at: datetime | None = None
    threatening_side: str | None = None
    flagged: tuple[int, ...] = ()
    categories: dict[str, int] = field(default_factory=dict)
    flagged_by_author: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "risk": self.level,
            "score": round(self.score, 4),
            "started_index": self.started_index,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "threatening_side": self.threatening_side,
            "flagged": list(self.flagged),
            "categories": self.categories,
            "flagged_by_author": self.flagged_by_author,
        }


def _evidence(text: str, tokens: Sequence[Any], owners: np.ndarray, contrib: np.ndarray) -> tuple[str, ...]:
    """The typed words whose features pushed hardest towards sextortion, strongest first."""
    per_token = np.bincount(owners, weights=contrib, minlength=len(tokens))
    words: list[str] = []
    for i in np.argsort(-per_token, kind="stable"):
        if per_token[i] < MIN_EVIDENCE_LOGIT or len(words) >= MAX_EVIDENCE:
            break
        if tokens[i].norm in _NOT_EVIDENCE or not any(ch.isalnum() for ch in tokens[i].norm):
            continue
        word = text[tokens[i].start : tokens[i].end]
        if word not in words:
            words.append(word)
    return tuple(words)


class Detector:
    """Load once (``Detector.load()``), then call ``detect`` / ``detect_messages`` as often as needed."""

    def __init__(self, model: Model, languages: LanguageIdentifier) -> None:
        self.model = model
        self.languages = languages

    @classmethod
    def load(cls, path: Path | None = None) -> Detector:
        return cls(Model.load(path), LanguageIdentifier())

    def detect(self, text: str) -> MessageVerdict:
        model = self.model
        other = self.languages.other_language(text)
        if other is not None:
            return MessageVerdict(UNSUPPORTED, None, None, UNSUPPORTED, (), other)
        tokens = tokenize(text)
        if not tokens:
            return MessageVerdict(BENIGN, 0.0, None, None)
        idx, vals, owners = message_features(tokens)
        contrib = model.w[idx] * vals
        score = float(model.calibrate(contrib.sum() + model.b))
        lang = "es" if float(model.w_lang[idx] @ vals) + model.b_lang > 0 else "en"
        # The cheap stage ends here for almost every message: category and evidence are worked out
        # only for the few that are flagged.
        if score < model.threshold:
            return MessageVerdict(BENIGN, score, None, lang)
        category = model.categories[int(np.argmax(model.w_cat[:, idx] @ vals + model.b_cat))]
        return MessageVerdict(SEXTORTION, score, category, lang, _evidence(text, tokens, owners, contrib))

    def detect_messages(self, texts: Sequence[str]) -> list[MessageVerdict]:
        return [self.detect(text) for text in texts]


def assess_conversation(
    verdicts: Sequence[MessageVerdict],
    authors: Sequence[str | None] | None = None,
    times: Sequence[datetime | None] | None = None,
) -> ConversationRisk:
    """Risk of a conversation from its messages' verdicts (authors and times where known)."""
    flagged = [i for i, v in enumerate(verdicts) if v.flagged]
    if not flagged:
        return ConversationRisk("none", 0.0)
    scores = [verdicts[i].score or 0.0 for i in flagged]
    # Noisy-or over flagged messages only: a long harmless chat does not add up to a risk.
    combined = 1.0 - float(np.prod([1.0 - s for s in scores]))
    by_author: Counter[str] = Counter()
    weight: Counter[str] = Counter()
    if authors is not None:
        for i in flagged:
            if authors[i]:
                by_author[authors[i]] += 1
                weight[authors[i]] += verdicts[i].score or 0.0
    repeated = max(by_author.values(), default=len(flagged) if authors is None else 0) >= 2
    level = "high" if max(scores) >= 0.9 or repeated else "medium" if max(scores) >= 0.7 else "low"
    first = flagged[0]
    return ConversationRisk(
        level=level,
        score=combined,
        started_index=first,
        started_at=times[first] if times is not None else None,
        threatening_side=weight.most_common(1)[0][0] if weight else None,
        flagged=tuple(flagged),
        categories=dict(Counter(verdicts[i].category or "" for i in flagged).most_common()),
        flagged_by_author=dict(by_author.most_common()),
    )


def timed_load(path: Path | None = None) -> tuple[Detector, float]:
    """The detector and the seconds it took to load (for the benchmark and the CLI summary)."""
    started = _time.perf_counter()
    detector = Detector.load(path)
    return detector, _time.perf_counter() - started
