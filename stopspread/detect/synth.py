"""The training corpus: hand-written templates (``corpus/*.txt``) expanded and roughened.

Each template is filled from its slots several times and every copy is passed through the ways
teenagers actually type (no accents, "q"/"xq", "u"/"ur", typos, stretched letters, emojis, fillers,
a word of the other language). Everything is seeded, so the corpus and the model built from it are
the same on every machine. See ``corpus/README.md`` for what was written and why.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

CORPUS_DIR = Path(__file__).with_name("corpus")
LANGS = ("en", "es")

# Section names in the template files. Positive sections are the detector's categories.
CATEGORIES = (
    "threat_to_share",
    "demand_more_images",
    "financial_extortion",
    "grooming_pressure",
    "other_coercion",
)

_SLOT = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    lang: str
    label: int  # 1 = sextortion
    kind: str  # a category for positives, "benign:<kind>" for negatives
    group: str  # the template it came from: copies of one template never straddle a split


@dataclass
class TemplateFile:
    slots: dict[str, list[str]]
    sections: dict[str, list[tuple[int, str]]]  # kind -> (line number, template)


def parse_templates(path: Path) -> TemplateFile:
    slots: dict[str, list[str]] = {}
    sections: dict[str, list[tuple[int, str]]] = {}
    current: str | None = None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or (line.startswith("#") and not line.startswith("##")):
            continue
        if line.startswith("@"):
            name, _, values = line[1:].partition(":")
            slots[name.strip()] = [v.strip() for v in values.split("|") if v.strip()]
        elif line.startswith("##"):
            current = line[2:].strip()
            sections.setdefault(current, [])
        elif current is None:
            raise ValueError(f"{path}:{number}: template before any section")
        else:
            for slot in _SLOT.findall(line):
                if slot not in slots:
                    raise ValueError(f"{path}:{number}: unknown slot {{{slot}}}")
            sections[current].append((number, line))
    return TemplateFile(slots, sections)


def fill(template: str, slots: dict[str, list[str]], rng: random.Random) -> str:
    return _SLOT.sub(lambda m: rng.choice(slots[m.group(1)]), template)


# ---- how people type -------------------------------------------------------------------------

_EMOJIS = [
    "😂",
    "😭",
    "🙄",
    "😏",
    "😈",
    "🤫",
    "💀",
    "🔥",
    "❤️",
    "😍",
    "👀",
    "😡",
    "🥺",
    "😳",
    "🙏",
    "👍",
    "😘",
    "💕",
    "🤣",
    "😒",
    "😤",
    "🤷",
    "✌️",
    "😅",
    "🫠",
    "‼️",
]
_FILLERS = {
    "en": [
        "bro",
        "lol",
        "lmao",
        "fr",
        "ngl",
        "ok",
        "listen",
        "yo",
        "bruh",
        "deadass",
        "srsly",
        "tbh",
        "hey",
        "look",
        "dude",
        "omg",
        "so",
        "like",
        "idk",
        "girl",
        "babe",
        "hello??",
    ],
    "es": [
        "wey",
        "tío",
        "tía",
        "bro",
        "boludo",
        "parce",
        "güey",
        "osea",
        "neta",
        "jaja",
        "jajaja",
        "xd",
        "oye",
        "mira",
        "pues",
        "che",
        "hermano",
        "mija",
        "chama",
        "en plan",
        "vale",
        "bueno",
        "nada",
        "hola??",
        "man",
    ],
}
# A word of the other language, as bilingual teenagers drop them in.
_SWITCH = {
    "en": [
        ("your mom", "tu mama"),
        ("pics", "fotos"),
        ("lol", "jaja"),
        ("bro", "wey"),
        ("please", "porfa"),
        ("right now", "ahorita"),
        ("money", "plata"),
        ("the video", "el video"),
    ],
    "es": [
        ("fotos", "pics"),
        ("jaja", "lol"),
        ("tu mamá", "your mom"),
        ("tu mama", "your mom"),
        ("video", "vid"),
        ("en serio", "seriously"),
        ("ahora", "right now"),
        ("por favor", "please"),
        ("amigos", "friends"),
        ("vale", "ok"),
        ("seguidores", "followers"),
        ("historia", "story"),
    ],
}
_EN_SUBS = [
    (r"\byou\b", "u", 0.45),
    (r"\byour\b", "ur", 0.45),
    (r"\bare\b", "r", 0.25),
    (r"\bplease\b", "pls", 0.4),
    (r"\bbecause\b", "cuz", 0.4),
    (r"\bright now\b", "rn", 0.5),
    (r"\bi'm\b", "im", 0.6),
    (r"'", "", 0.55),
    (r"\bgoing to\b", "gonna", 0.5),
    (r"\bwant to\b", "wanna", 0.5),
    (r"\bpics\b", "pix", 0.06),
    (r"\bthem\b", "em", 0.15),
    (r"\bthe\b", "da", 0.03),
    (r"\bto\b", "2", 0.04),
    (r"\bfor\b", "4", 0.04),
    (r"\btonight\b", "2nite", 0.1),
    (r"\bokay\b", "ok", 0.5),
    (r"\btrying to\b", "tryna", 0.4),
    (r"\babout to\b", "boutta", 0.25),
    (r"\bi swear\b", "istg", 0.2),
    (r"\bi'm going to\b", "ima", 0.25),
    (r"\bi don't\b", "ion", 0.06),
    (r"\bthough\b", "tho", 0.5),
    (r"\breally\b", "rly", 0.2),
    (r"\bpeople\b", "ppl", 0.3),
    (r"\bwhat\b", "wat", 0.05),
    (r"\bthanks\b", "thx", 0.3),
    (r"ing\b", "in", 0.04),
]
_ES_SUBS = [
    (r"\bque\b", "q", 0.4),
    (r"\bqué\b", "q", 0.3),
    (r"\bporque\b", "xq", 0.5),
    (r"\bpor qué\b", "pq", 0.4),
    (r"\bpor\b", "x", 0.12),
    (r"\bpara\b", "pa", 0.3),
    (r"\btambién\b", "tmb", 0.4),
    (r"\bpor favor\b", "porfa", 0.6),
    (r"\bde\b", "d", 0.05),
    (r"qui", "ki", 0.08),
    (r"que", "ke", 0.05),
    (r"ll", "y", 0.04),
    (r"\bh", "", 0.05),
    (r"ce", "se", 0.04),
    (r"ci", "si", 0.04),
    (r"v", "b", 0.03),
    (r"s\b", "", 0.03),
    (r"\bestá\b", "ta", 0.05),
    (r"\bestoy\b", "toy", 0.05),
    (r"mándame", "mandame", 0.5),
    (r"\bpues\b", "ps", 0.2),
    (r"\btodos\b", "tds", 0.05),
    (r"\bpero\b", "xo", 0.05),
    (r"\bbueno\b", "weno", 0.1),
    (r"\bdespués\b", "dsp", 0.1),
    (r"\bestás\b", "tas", 0.08),
    (r"\bhola\b", "ola", 0.2),
    (r"ción\b", "sion", 0.05),
    (r"z", "s", 0.03),
    (r"\bmucho\b", "mxo", 0.03),
]
_KEYS = "qwertyuiopasdfghjklzxcvbnm"


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 4 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        return word[:i] + word[i + 1 :]  # dropped letter
    if kind == 1:
        return word[:i] + word[i] + word[i:]  # doubled letter
    if kind == 2:
        return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]  # swapped neighbours
    return word[:i] + rng.choice(_KEYS) + word[i + 1 :]  # wrong key


def _strip_accents_keep_enie(text: str, rng: random.Random) -> str:
    table = str.maketrans("áéíóúÁÉÍÓÚü", "aeiouAEIOUu")
    out = text.translate(table)
    return out.replace("ñ", "n") if rng.random() < 0.2 else out


def roughen(text: str, lang: str, rng: random.Random) -> str:
    """One way a teenager might have typed ``text``."""
    subs = _EN_SUBS if lang == "en" else _ES_SUBS
    for pattern, repl, p in subs:
        if rng.random() < p:
            text = re.sub(pattern, repl, text)
    if lang == "es":
        text = text.replace("¿", "").replace("¡", "") if rng.random() < 0.85 else text
        if rng.random() < 0.7:
            text = _strip_accents_keep_enie(text, rng)
    if rng.random() < 0.12:
        a, b = rng.choice(_SWITCH[lang])
        text = text.replace(a, b)
    words = text.split(" ")
    for i, word in enumerate(words):
        if rng.random() < 0.035:
            words[i] = _typo(word, rng)
        elif rng.random() < 0.02 and word and word[-1] in "aeiouyhs":
            words[i] = word + word[-1] * rng.randrange(2, 5)
    text = " ".join(words)
    if rng.random() < 0.25:
        filler = rng.choice(
            _FILLERS[lang] if rng.random() < 0.9 else _FILLERS["es" if lang == "en" else "en"]
        )
        text = f"{filler} {text}" if rng.random() < 0.5 else f"{text} {filler}"
    r = rng.random()
    if r < 0.35:
        text = re.sub(r"[.,!?]+$", "", text)
    elif r < 0.45:
        text = text.rstrip(".") + rng.choice(["!!", "!!!", "??", "...", " ??", "!?"])
    if rng.random() < 0.45:
        text = text.replace(". ", " ").replace(", ", " ")
    if rng.random() < 0.22:
        text = text + " " + "".join(rng.choice(_EMOJIS) for _ in range(rng.randrange(1, 4)))
    r = rng.random()
    if r < 0.18:
        text = text[:1].upper() + text[1:]
    elif r < 0.22:
        text = text.upper()
    return text


def build_corpus(seed: int = 6, positive_copies: int = 8, negative_copies: int = 9) -> list[Example]:
    """All examples, deduplicated, in a fixed order."""
    rng = random.Random(seed)
    examples: list[Example] = []
    seen: set[str] = set()
    benign_pool: dict[str, list[str]] = {}
    for lang in LANGS:
        templates = parse_templates(CORPUS_DIR / f"{lang}.txt")
        benign_pool[lang] = [t for _, t in templates.sections.get("benign:everyday", [])]
        for kind, lines in templates.sections.items():
            positive = not kind.startswith("benign")
            if positive and kind not in CATEGORIES:
                raise ValueError(f"{lang}.txt: unknown category {kind!r}")
            copies = positive_copies if positive else negative_copies
            for number, template in lines:
                for _ in range(copies):
                    text = fill(template, templates.slots, rng)
                    if rng.random() < 0.85:
                        text = roughen(text, lang, rng)
                    # Sometimes the message comes with small talk around it: that must not flip it.
                    if rng.random() < 0.06:
                        chat = roughen(fill(rng.choice(benign_pool[lang]), templates.slots, rng), lang, rng)
                        text = f"{chat} {text}" if rng.random() < 0.5 else f"{text} {chat}"
                    key = text.lower()
                    if key in seen:
                        continue
                    seen.add(key)
                    examples.append(Example(text, lang, int(positive), kind, f"{lang}:{number}"))
    return examples
