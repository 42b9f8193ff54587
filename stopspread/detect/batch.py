"""Inputs at the edge: a file (WhatsApp export or JSON Lines) or a service payload in, one output
record per message out, in input order, plus a summary for people."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from stopspread.chat import ChatFormatError, parse_whatsapp
from stopspread.detect.detector import ConversationRisk, Detector, MessageVerdict, assess_conversation

# A line or a message larger than this is refused rather than scored: no chat message is this long,
# and scoring cost grows with length.
MAX_TEXT_CHARS = 20_000


class InputError(ValueError):
    """The input cannot be read as a WhatsApp export or JSON Lines."""


@dataclass(frozen=True, slots=True)
class InputMessage:
    id: Any
    text: str
    author: str | None = None
    time: datetime | None = None
    attachments: tuple[str, ...] = ()
    system: bool = False
    error: str | None = None  # a line that could not be read: reported, not scored


@dataclass
class Result:
    source: str  # "whatsapp" or "jsonl"
    records: list[dict[str, Any]]
    verdicts: list[MessageVerdict | None]
    messages: list[InputMessage]
    conversation: ConversationRisk
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        return sum(m.error is not None for m in self.messages)


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def _jsonl_message(position: int, line: str) -> InputMessage:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        return InputMessage(position, "", error=f"line {position + 1}: not JSON ({exc.msg})")
    if not isinstance(data, dict):
        return InputMessage(position, "", error=f"line {position + 1}: expected a JSON object")
    ident = data.get("id", position)
    text = data.get("text")
    if not isinstance(text, str):
        return InputMessage(ident, "", error=f"line {position + 1}: 'text' must be a string")
    if len(text) > MAX_TEXT_CHARS:
        return InputMessage(
            ident, "", error=f"line {position + 1}: text longer than {MAX_TEXT_CHARS} characters"
        )
    author = data.get("author")
    return InputMessage(
        ident, text, str(author) if author is not None else None, _parse_time(data.get("time"))
    )


def read_messages(text: str, source: str = "auto") -> tuple[str, list[InputMessage]]:
    """("whatsapp" | "jsonl", messages) from the content of a file."""
    text = text.lstrip("\ufeff")
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise InputError("the input is empty")
    if source == "auto":
        source = "jsonl" if lines[0].lstrip().startswith("{") else "whatsapp"
    if source == "jsonl":
        return source, [_jsonl_message(i, line) for i, line in enumerate(lines)]
    if source != "whatsapp":
        raise InputError(f"unknown input format {source!r} (auto, whatsapp, jsonl)")
    try:
        chat = parse_whatsapp(text)
    except ChatFormatError as exc:
        raise InputError(f"neither JSON Lines nor a WhatsApp chat export: {exc}") from exc
    return source, [InputMessage(m.index, m.text, m.author, m.time, m.attachments, m.system) for m in chat]


def read_file(path: Path, source: str = "auto") -> tuple[str, list[InputMessage]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text (byte {exc.start})") from exc
    if "\x00" in text:
        raise InputError(f"{path} is a binary file, not a chat export or JSON Lines")
    return read_messages(text, source)


def run(detector: Detector, source: str, messages: Sequence[InputMessage]) -> Result:
    """Score every message; one record each, in input order."""
    to_score = [i for i, m in enumerate(messages) if m.error is None and not m.system and m.text.strip()]
    scored = dict(zip(to_score, detector.detect_messages([messages[i].text for i in to_score]), strict=True))
    records: list[dict[str, Any]] = []
    verdicts: list[MessageVerdict | None] = []
    for i, message in enumerate(messages):
        verdict = scored.get(i)
        verdicts.append(verdict)
        if message.error is not None:
            records.append({"id": message.id, "error": message.error})
            continue
        record: dict[str, Any] = {"id": message.id}
        if verdict is None:  # a system line or media without text: nothing to read
            record.update(label="benign", score=0.0, category=None, lang=None, evidence=[])
        else:
            record.update(verdict.to_json())
        if source == "whatsapp" or message.author is not None:
            record["author"] = message.author
            record["time"] = message.time.isoformat() if message.time else None
        if message.attachments:
            record["attachments"] = list(message.attachments)
        if message.system:
            record["system"] = True
        records.append(record)
    benign = MessageVerdict("benign", 0.0, None, None)
    risk = assess_conversation(
        [v or benign for v in verdicts],
        [m.author for m in messages] if any(m.author for m in messages) else None,
        [m.time for m in messages],
    )
    result = Result(source, records, verdicts, list(messages), risk)
    result.summary = summarize(result)
    return result


def summarize(result: Result) -> dict[str, Any]:
    verdicts = [v for v in result.verdicts if v is not None]
    return {
        "source": result.source,
        "messages": len(result.messages),
        "scored": len(verdicts),
        "errors": result.errors,
        "sextortion": sum(v.flagged for v in verdicts),
        "languages": dict(Counter(v.lang or "none" for v in verdicts).most_common()),
        "categories": dict(Counter(v.category for v in verdicts if v.category).most_common()),
        "conversation": result.conversation.to_json(),
    }


def detect_payload(detector: Detector, payload: Any) -> dict[str, Any]:
    """The HTTP service's entry point: ``{"messages": [{"id"?, "text", "author"?, "time"?}, …]}``
    (or one ``{"text": …}``) in; ``{"messages": [records], "conversation": {…}}`` out.

    Raises InputError on a payload that is not of that shape (the service answers 400).
    """
    if isinstance(payload, dict) and "messages" not in payload and "text" in payload:
        payload = {"messages": [payload]}
    if not isinstance(payload, dict) or not isinstance(payload.get("messages"), list):
        raise InputError("expected {'messages': [{'text': ...}, ...]}")
    messages: list[InputMessage] = []
    for i, item in enumerate(payload["messages"]):
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise InputError(f"messages[{i}] needs a string 'text'")
        if len(item["text"]) > MAX_TEXT_CHARS:
            raise InputError(f"messages[{i}] is longer than {MAX_TEXT_CHARS} characters")
        author = item.get("author")
        messages.append(
            InputMessage(
                item.get("id", i),
                item["text"],
                None if author is None else str(author),
                _parse_time(item.get("time")),
            )
        )
    result = run(detector, "jsonl", messages)
    return {"messages": result.records, "conversation": result.conversation.to_json()}
