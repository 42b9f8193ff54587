"""The detector's behaviour on messages written for these tests (not the dev set, not the corpus)."""

import json
import math

import numpy as np
import pytest

from stopspread.detect import UNSUPPORTED, assess_conversation
from stopspread.detect.model import Model, ModelError
from tests.detect.conftest import FIXTURES, read_jsonl

HARD_NEGATIVES = read_jsonl("hard_negatives.jsonl")
POSITIVES = read_jsonl("positives.jsonl")


@pytest.mark.parametrize("row", HARD_NEGATIVES, ids=lambda r: f"{r['kind']}:{r['text'][:30]}")
def test_hard_negatives_stay_benign(detector, row):
    verdict = detector.detect(row["text"])
    assert verdict.label == "benign", (verdict.score, row["text"])
    assert verdict.category is None and verdict.evidence == ()


@pytest.mark.parametrize("row", POSITIVES, ids=lambda r: f"{r['category']}:{r['text'][:30]}")
def test_clear_sextortion_is_flagged_with_its_category(detector, row):
    verdict = detector.detect(row["text"])
    assert verdict.label == "sextortion" and verdict.score >= 0.5
    assert verdict.category == row["category"]
    assert verdict.evidence, "a flagged message explains itself"


def test_evidence_is_the_words_as_typed(detector):
    text = "u got 10 min to pay or ur pix go to every1 on ur snap 😈"
    verdict = detector.detect(text)
    assert verdict.flagged
    assert all(word in text for word in verdict.evidence)
    assert {"pix", "pay"} & set(verdict.evidence)


def test_scores_are_probabilities_and_order_is_kept(detector):
    texts = [row["text"] for row in HARD_NEGATIVES[:5] + POSITIVES[:5]]
    verdicts = detector.detect_messages(texts)
    assert [v.flagged for v in verdicts] == [False] * 5 + [True] * 5
    assert all(0.0 <= v.score <= 1.0 and not math.isnan(v.score) for v in verdicts)


def test_spanish_and_english_are_told_apart_in_teen_spelling(detector):
    assert detector.detect("q onda wey, mandame la tarea xfa").lang == "es"
    assert detector.detect("ngl ur so funny lmao").lang == "en"
    assert detector.detect("si no me contestas le mando tus pics a your mom").lang == "es"


def test_other_languages_are_unsupported_not_guessed(detector):
    lines = [
        line
        for line in (FIXTURES / "other_languages.txt").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    verdicts = detector.detect_messages(lines)
    wrong = [text for text, v in zip(lines, verdicts, strict=True) if v.label != UNSUPPORTED]
    assert not wrong
    assert all(v.score is None and v.category is None and v.lang == UNSUPPORTED for v in verdicts)
    assert {v.lang_detected for v in verdicts} >= {"pt", "fr", "de", "it"}


@pytest.mark.parametrize("text", ["ok", "jajaja", "lol", "k", "👍", "si", "yes!!", "holaaa"])
def test_short_messages_are_never_unsupported(detector, text):
    assert detector.detect(text).label == "benign"


def test_empty_and_symbol_only_messages(detector):
    for text in ["", "   ", "...", "?!"]:
        verdict = detector.detect(text)
        assert verdict.label == "benign" and verdict.score is not None and verdict.score < 0.5


def test_conversation_names_the_threatening_side_and_the_start(detector):
    from datetime import datetime

    chat = [
        ("Ana", "hola! qué tal el finde?"),
        ("Leo", "bien, oye todavía tengo tus fotos"),
        ("Ana", "qué?? bórralas"),
        ("Leo", "mándame 50 euros por bizum o se las paso a tu madre"),
        ("Ana", "por favor no"),
        ("Leo", "tienes hasta las 10 o todo el insti las ve"),
    ]
    verdicts = detector.detect_messages([text for _, text in chat])
    times = [datetime(2024, 5, 1, 20, i) for i in range(len(chat))]
    risk = assess_conversation(verdicts, [a for a, _ in chat], times)
    assert risk.level == "high"
    assert risk.threatening_side == "Leo"
    assert risk.started_index in (1, 3) and risk.started_at == times[risk.started_index]
    assert set(risk.flagged) >= {3, 5} and not set(risk.flagged) & {0, 2, 4}
    assert json.loads(json.dumps(risk.to_json()))["risk"] == "high"


def test_a_harmless_conversation_has_no_risk(detector):
    texts = [row["text"] for row in HARD_NEGATIVES]
    risk = assess_conversation(detector.detect_messages(texts))
    assert risk.level == "none" and risk.started_index is None and risk.threatening_side is None


def test_model_file_of_another_format_is_refused(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, w=np.zeros(4, dtype=np.float16))
    with pytest.raises(ModelError):
        Model.load(bad)
    with pytest.raises(ModelError):
        Model.load(tmp_path / "missing.npz")


def test_dev_set_f1_floor_per_language(detector, shared_dir):
    """Regression guard only; the figures themselves are in benchmarks/results/detect.md."""
    dev = shared_dir / "data" / "messages" / "sextortion_dev.jsonl"
    rows = [json.loads(line) for line in dev.read_text(encoding="utf-8").splitlines() if line.strip()]
    verdicts = detector.detect_messages([r["text"] for r in rows])
    for lang in ("en", "es"):
        pairs = [
            (r["label"] == "sextortion", v.flagged)
            for r, v in zip(rows, verdicts, strict=True)
            if r["lang"] == lang
        ]
        tp = sum(y and p for y, p in pairs)
        precision = tp / max(sum(p for _, p in pairs), 1)
        recall = tp / max(sum(y for y, _ in pairs), 1)
        assert 2 * precision * recall / (precision + recall) >= 0.88, lang


def test_current_teen_spellings_reach_the_model_as_words():
    from stopspread.detect.normalize import tokenize

    norms = [t.norm for t in tokenize("istg ur tryna ghost the gc, get on cam or facetime tho")]
    assert norms == [
        "i",
        "swear",
        "your",
        "trying",
        "to",
        "ghost",
        "the",
        "group",
        "chat",
        "get",
        "on",
        "camera",
        "or",
        "videocall",
        "though",
    ]
    assert [t.norm for t in tokenize("ps dsp te paso la videollamada xo weno")] == (
        ["pues", "despues", "te", "paso", "la", "videocall", "pero", "bueno"]
    )


def test_the_model_records_its_held_out_template_figures(detector):
    """The threshold and the figures it reports come from templates the model had not seen."""
    figures = detector.model.meta["held_out_template_figures"]
    for lang in ("en", "es"):
        assert figures[lang]["precision"] >= 0.9 and figures[lang]["f1"] >= 0.9, (lang, figures[lang])
    assert 0.3 <= detector.model.threshold < 0.9


def test_words_carry_their_message_context():
    """The same word gets a different context feature with and without pics in the message, and
    when the message reports someone else's words."""
    from stopspread.detect.features import _bucket, message_features
    from stopspread.detect.normalize import tokenize

    def context_buckets(text: str) -> set[int]:
        return set(message_features(tokenize(text))[0].tolist())

    plain = context_buckets("pay me or i tell everyone")
    media = context_buckets("pay me or i tell everyone about ur pix")
    reported = context_buckets("he said pay me or he tells everyone about ur fotos")
    assert _bucket("k:-- everyone") in plain and _bucket("k:m- everyone") not in plain
    assert _bucket("k:m- everyone") in media
    assert _bucket("k:mr everyone") in reported


def test_the_model_records_held_out_flag_rates_per_kind(detector):
    """Hard negatives stay rare false positives on templates the model had not seen."""
    rates = detector.model.meta["held_out_template_flag_rates"]
    for kind in ("benign:unrelated_threat", "benign:support", "benign:banter", "benign:news"):
        assert rates[kind] <= 0.06, (kind, rates[kind])
    assert rates["threat_to_share"] >= 0.9
