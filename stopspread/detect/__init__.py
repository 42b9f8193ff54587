"""Sextortion detection for chat messages in English and Spanish.

    from stopspread.detect import Detector, assess_conversation
    detector = Detector.load()                       # once; well under a second
    verdicts = detector.detect_messages(["..."])     # label, score, category, lang, evidence
    risk = assess_conversation(verdicts, authors, times)

``detect_payload`` is the entry point for the HTTP service.
"""

from stopspread.detect.detector import (
    BENIGN,
    SEXTORTION,
    ConversationRisk,
    Detector,
    MessageVerdict,
    assess_conversation,
)
from stopspread.detect.lang import UNSUPPORTED

__all__ = [
    "BENIGN",
    "SEXTORTION",
    "UNSUPPORTED",
    "ConversationRisk",
    "Detector",
    "MessageVerdict",
    "assess_conversation",
]
