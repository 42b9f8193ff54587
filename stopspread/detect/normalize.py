"""Teen-chat text → canonical tokens, each tied to the span of the original text it came from.

Normalisation is per token so that the words that drove a decision can be shown to a person as
they were typed ("xq", "ur pix"), not as the model saw them ("porque", "your pic").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# Words (with inner apostrophes), numbers with an optional currency sign or suffix, or one
# non-space symbol (emoji). ASCII punctuation is dropped later: it carries little and typists omit it.
_TOKEN = re.compile(
    r"[$€£]\s?\d+(?:[.,]\d+)*k?"
    r"|\d+(?:[.,]\d+)*(?:\s?(?:[$€£]|usd\b|eur\b)|k\b)?"
    r"|[\w@$]+(?:['’][\w]+)*"
    r"|[^\w\s]",
    re.UNICODE,
)
_ASCII_PUNCT = frozenset("!\"#%&'()*+,-./:;<=>[\\]^_`{|}~¿¡…“”‘’«»·")
_RUN = re.compile(r"(.)\1{2,}")  # three or more of the same character: "siiii", "pleaseee"
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})

# Spellings that stand for the same word. Only unambiguous ones: "k" (ok / que) and "ya"
# (you / already) are left alone; the model learns both readings from context.
SPELLINGS: dict[str, str] = {
    # English
    "u": "you",
    "ya'll": "yall",
    "ur": "your",
    "youre": "your",
    "yours": "your",
    "r": "are",
    "pls": "please",
    "plz": "please",
    "plez": "please",
    "ppl": "people",
    "bc": "because",
    "cuz": "because",
    "coz": "because",
    "cos": "because",
    "bcuz": "because",
    "bcz": "because",
    "thx": "thanks",
    "thnx": "thanks",
    "gimme": "give me",
    "lemme": "let me",
    "imma": "im going to",
    "ima": "im going to",
    "gonna": "going to",
    "wanna": "want to",
    "gotta": "got to",
    "rn": "right now",
    "n": "and",
    "tmrw": "tomorrow",
    "tmr": "tomorrow",
    "2moro": "tomorrow",
    "2nite": "tonight",
    "tonite": "tonight",
    "em": "them",
    "nobody": "no one",
    "b4": "before",
    "yr": "your",
    "msg": "message",
    "msgs": "messages",
    "bf": "boyfriend",
    "gf": "girlfriend",
    "mum": "mom",
    "mommy": "mom",
    "mother": "mom",
    "da": "the",
    "luv": "love",
    "ppl's": "people",
    "tryna": "trying to",
    "finna": "going to",
    "boutta": "about to",
    "bouta": "about to",
    "istg": "i swear",
    "ion": "i dont",
    "tho": "though",
    "rly": "really",
    "wat": "what",
    "ong": "on god",
    "gc": "group chat",
    "groupchat": "group chat",
    "ghostin": "ghosting",
    "thanx": "thanks",
    # Spanish
    "q": "que",
    "qe": "que",
    "ke": "que",
    "xq": "porque",
    "pq": "porque",
    "xk": "porque",
    "pk": "porque",
    "porq": "porque",
    "porke": "porque",
    "xque": "porque",
    "tb": "tambien",
    "tmb": "tambien",
    "tmbn": "tambien",
    "tambn": "tambien",
    "x": "por",
    "d": "de",
    "pa": "para",
    "porfa": "porfavor",
    "porfis": "porfavor",
    "plis": "porfavor",
    "xfa": "porfavor",
    "xfavor": "porfavor",
    "bn": "bien",
    "msj": "mensaje",
    "vdd": "verdad",
    "mñn": "manana",
    "mna": "manana",
    "kiero": "quiero",
    "kieres": "quieres",
    "aki": "aqui",
    "tqm": "te quiero",
    "salu2": "saludos",
    "weon": "wey",
    "guey": "wey",
    "wei": "wey",
    "we": "wey",
    "mami": "mama",
    "mamita": "mama",
    "papi": "papa",
    "nd": "nada",
    "nadie": "nadie",
    "tons": "entonces",
    "ntons": "entonces",
    "sta": "esta",
    "stas": "estas",
    "toy": "estoy",
    "ta": "esta",
    "tas": "estas",
    "ps": "pues",
    "tds": "todos",
    "xo": "pero",
    "weno": "bueno",
    "bno": "bueno",
    "dsp": "despues",
    "mxo": "mucho",
    "ola": "hola",
    "grax": "gracias",
    # One word for the camera and the video call, whatever the language.
    "cam": "camera",
    "camara": "camera",
    "webcam": "camera",
    "videollamada": "videocall",
    "videollamadas": "videocall",
    "facetime": "videocall",
    "vidcall": "videocall",
    # The same medium in any language or spelling: "pix", "fotitos", "vids".
    "pic": "pic",
    "pics": "pic",
    "pix": "pic",
    "picz": "pic",
    "picture": "pic",
    "pictures": "pic",
    "photo": "pic",
    "photos": "pic",
    "foto": "pic",
    "fotos": "pic",
    "fotito": "pic",
    "fotitos": "pic",
    "fotis": "pic",
    "fotico": "pic",
    "foticos": "pic",
    "fotografia": "pic",
    "fotografias": "pic",
    "selfies": "selfie",
    "selfi": "selfie",
    "vid": "video",
    "vids": "video",
    "vidz": "video",
    "videos": "video",
    "videito": "video",
    "videitos": "video",
    "vídeo": "video",
    "clip": "video",
    "nude": "nudes",
    "nudez": "nudes",
    "noods": "nudes",
    "nudess": "nudes",
    "packs": "pack",
    "packcito": "pack",
    "packsito": "pack",
}


@dataclass(frozen=True, slots=True)
class Token:
    """One canonical token and where it came from in the original text."""

    norm: str
    start: int
    end: int


def strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=65536)
def normalize_word(word: str) -> tuple[str, ...]:
    """Canonical form(s) of one typed word; empty for punctuation. Cached: chat repeats words."""
    if len(word) == 1 and word in _ASCII_PUNCT:
        return ()
    if (
        word[0] in "$€£"
        or word[-1] in "$€£"
        or (
            word[0].isdigit()
            and word.rstrip("k").replace(",", "").replace(".", "").replace(" ", "").isdigit()
            and word[-1] == "k"
        )
    ):
        return ("<money>",)
    lowered = strip_accents(word.lower()).replace("'", "").replace("’", "")
    if lowered.replace(",", "").replace(".", "").replace(" ", "").isdigit():
        return ("<num>",)
    if lowered.endswith(("usd", "eur")) and lowered[0].isdigit():
        return ("<money>",)
    # Leetspeak only inside words that mix letters and digits ("p1cs", "n00dz"), never in amounts.
    if any(c.isdigit() for c in lowered) and any(c.isalpha() for c in lowered):
        lowered = lowered.translate(_LEET)
    lowered = _RUN.sub(r"\1", lowered)
    if not lowered:
        return ()
    mapped = SPELLINGS.get(lowered)
    if mapped is None and lowered.endswith("s") and len(lowered) > 3:
        # Elongated plurals collapse to one letter ("fotoss" → "fotos" → "foto").
        mapped = SPELLINGS.get(lowered[:-1]) if lowered[:-1] in ("pic", "foto", "video", "nude") else None
    return tuple((mapped or lowered).split())


def tokenize(text: str) -> list[Token]:
    """Canonical tokens of ``text`` with their original spans (an expansion shares its span)."""
    tokens: list[Token] = []
    for match in _TOKEN.finditer(text):
        for norm in normalize_word(match.group()):
            tokens.append(Token(norm, match.start(), match.end()))
    return tokens
