"""WhatsApp chat exports (``.txt``) → messages: author, time, text, attachments.

Handles both layouts WhatsApp writes::

    Android   12/03/2024, 21:05 - Ana: hola          3/12/24, 9:05 PM - Ana: hi
    iOS       [12/03/24, 21:05:33] Ana: hola         [3/12/24, 9:05:33 PM] Ana: hi

with day-first or month-first dates (decided once per file from the values: a first field above 12
means day-first, a second field above 12 month-first, otherwise the locale's clock decides),
24-hour or 12-hour clocks ("PM", "p. m.", "p.m.", with the narrow no-break spaces iOS puts there),
messages that run over several lines, system lines (encryption notice, "added", "left"), media left
out of the export ("<Media omitted>", "<Multimedia omitido>", "image omitted", "imagen omitida")
and attachments included in it ("IMG-20240312-WA0003.jpg (file attached)",
"<attached: 00000012-PHOTO-2024-03-12-21-05-33.jpg>", "<adjunto: …>").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Invisible marks WhatsApp sprinkles into exports (left-to-right mark, BOM, …).
_INVISIBLE = dict.fromkeys(map(ord, "\u200e\u200f\ufeff\u202a\u202c"), None)
_SPACES = re.compile(r"[\u00a0\u202f\u2007]")

_DATE = r"(?P<d1>\d{1,4})[./-](?P<d2>\d{1,2})[./-](?P<d3>\d{1,4})"
_TIME = (
    r"(?P<hour>\d{1,2})[:.](?P<minute>\d{2})(?:[:.](?P<second>\d{2}))?"
    r"(?:\s*(?P<ampm>[aApP]\.?\s*[mM]\.?))?"
)
_ANDROID = re.compile(rf"^{_DATE},?\s+{_TIME}\s+[-–]\s+(?P<rest>.*)$")
_IOS = re.compile(rf"^\[{_DATE},?\s+{_TIME}\]\s+(?P<rest>.*)$")

_OMITTED = re.compile(
    r"^<?\s*(media omitted|multimedia omitido|archivo omitido|medien ausgeschlossen|"
    r"(image|imagen|video|vídeo|audio|sticker|gif|document|documento|contact card|tarjeta de contacto)"
    r"\s+(omitted|omitido|omitida))\s*>?$",
    re.IGNORECASE,
)
_ATTACHED = re.compile(r"^<\s*(attached|adjunto)\s*:\s*(?P<name>[^>]+?)\s*>$", re.IGNORECASE)
_FILE_ATTACHED = re.compile(
    r"^(?P<name>\S.*?\.\w{2,5})\s+\((file attached|archivo adjunto)\)$", re.IGNORECASE
)

# Lines WhatsApp writes for itself (iOS puts them under the chat's name, with a leading mark).
_SYSTEM_TEXT = re.compile(
    r"(end-to-end encrypted|cifrados de extremo a extremo|security code|código de seguridad|"
    r"this message was deleted|se eliminó este mensaje|eliminaste este mensaje|you deleted this message|"
    r"created group|creó el grupo|added|añadió|agregó|left$|salió del grupo|removed|eliminó a|"
    r"changed (the subject|this group|the group)|cambió (el asunto|el nombre|la descripción)|"
    r"joined using|se unió|missed (voice|video) call|llamada perdida|"
    r"disappearing messages|mensajes temporales)",
    re.IGNORECASE,
)

_DELETED = re.compile(
    r"(this message was deleted|se eliminó este mensaje|eliminaste este mensaje|you deleted this message)\.?",
    re.IGNORECASE,
)
_MAX_AUTHOR = 60


class ChatFormatError(ValueError):
    """The text is not a WhatsApp chat export."""


@dataclass(frozen=True, slots=True)
class ChatMessage:
    index: int
    time: datetime | None
    author: str | None  # None for system lines
    text: str
    attachments: tuple[str, ...] = field(default=())
    system: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "time": self.time.isoformat() if self.time else None,
            "author": self.author,
            "text": self.text,
            "attachments": list(self.attachments),
            "system": self.system,
        }


@dataclass
class _Header:
    d1: int
    d2: int
    d3: int
    hour: int
    minute: int
    second: int
    ampm: str | None  # "a" or "p"
    ampm_dotted: bool  # "p. m." (Spanish and others) rather than "PM" (US English)
    rest: str
    ios: bool
    body: list[str] = field(default_factory=list)


def _header(line: str) -> _Header | None:
    for pattern, ios in ((_IOS, True), (_ANDROID, False)):
        m = pattern.match(line)
        if m:
            return _Header(
                int(m["d1"]),
                int(m["d2"]),
                int(m["d3"]),
                int(m["hour"]),
                int(m["minute"]),
                int(m["second"] or 0),
                m["ampm"][0].lower() if m["ampm"] else None,
                bool(m["ampm"] and "." in m["ampm"]),
                m["rest"],
                ios,
            )
    return None


def _date_order(headers: list[_Header]) -> str:
    """ "ymd", "dmy" or "mdy" for the whole file, from the values it holds."""
    if headers and all(h.d1 > 31 for h in headers):
        return "ymd"
    if any(h.d1 > 12 for h in headers):
        return "dmy"
    if any(h.d2 > 12 for h in headers):
        return "mdy"
    # Nothing decides: a bare "PM" (no dots) is the US English clock, which writes month first;
    # Spanish, and most other locales, write the day first.
    if any(h.ampm for h in headers) and not any(h.ampm_dotted for h in headers):
        return "mdy"
    return "dmy"


def _time(h: _Header, order: str) -> datetime | None:
    if order == "ymd":
        year, month, day = h.d1, h.d2, h.d3
    elif order == "mdy":
        month, day, year = h.d1, h.d2, h.d3
    else:
        day, month, year = h.d1, h.d2, h.d3
    if year < 100:
        year += 2000
    hour = h.hour
    if h.ampm == "p" and hour < 12:
        hour += 12
    elif h.ampm == "a" and hour == 12:
        hour = 0
    try:
        return datetime(year, month, day, hour, h.minute, h.second)
    except ValueError:
        return None  # an impossible date: keep the message, drop the time


def _split_author(rest: str) -> tuple[str | None, str]:
    name, sep, text = rest.partition(": ")
    if not sep:
        if rest.endswith(":") and 0 < len(rest) - 1 <= _MAX_AUTHOR:
            return rest[:-1].strip(), ""  # an empty message
        return None, rest
    if not name.strip() or len(name) > _MAX_AUTHOR or _SYSTEM_TEXT.search(name):
        return None, rest
    return name.strip(), text


def _attachment(line: str) -> str | None:
    stripped = line.strip()
    if _OMITTED.match(stripped):
        return "<omitted>"
    m = _ATTACHED.match(stripped) or _FILE_ATTACHED.match(stripped)
    return m["name"] if m else None


def _message(index: int, h: _Header, order: str) -> ChatMessage:
    raw_rest = h.rest
    rest = raw_rest.translate(_INVISIBLE)
    author, first = _split_author(rest)
    attachments: list[str] = []
    lines: list[str] = []
    for line in [first, *h.body]:
        found = _attachment(line.translate(_INVISIBLE))
        if found is not None:
            attachments.append(found)
        else:
            lines.append(line.translate(_INVISIBLE))
    text = "\n".join(lines).strip()
    system = author is None
    if author is not None and not attachments and _SYSTEM_TEXT.search(text):
        # iOS writes system lines under the chat's name and marks their text with U+200E;
        # Android writes deleted-message notices under the author. Neither is what a person wrote.
        if raw_rest.partition(": ")[2].startswith("\u200e"):
            author, system = None, True
        else:
            system = bool(_DELETED.fullmatch(text))
    return ChatMessage(index, _time(h, order), author, text, tuple(attachments), system)


def looks_like_whatsapp(text: str) -> bool:
    """Whether the first non-empty lines start like a WhatsApp export."""
    for line in text.splitlines()[:20]:
        clean = _SPACES.sub(" ", line.translate(_INVISIBLE)).strip()
        if clean:
            return _header(clean) is not None
    return False


def parse_whatsapp(text: str) -> list[ChatMessage]:
    """All messages of a WhatsApp export, in order. Raises ChatFormatError if there are none."""
    headers: list[_Header] = []
    preamble = 0
    for raw in text.splitlines():
        line = _SPACES.sub(" ", raw)
        head = _header(line.lstrip("\u200e\ufeff").rstrip())
        if head is not None:
            headers.append(head)
        elif headers:
            headers[-1].body.append(raw.rstrip("\r"))
        elif line.strip():
            preamble += 1
    if not headers:
        raise ChatFormatError(
            "no WhatsApp message lines found (expected e.g. '12/03/2024, 21:05 - Ana: hola' "
            "or '[12/03/24, 21:05:33] Ana: hola')"
        )
    order = _date_order(headers)
    return [_message(i, h, order) for i, h in enumerate(headers)]
