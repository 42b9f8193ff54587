"""The terminal summary of a ``stopspread detect`` run (Rich, on stderr)."""

from __future__ import annotations

import re

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from stopspread.detect.batch import Result

_LEVEL_STYLE = {"none": "green", "low": "yellow", "medium": "dark_orange", "high": "bold red"}
MAX_ROWS = 15


def _snippet(text: str, evidence: tuple[str, ...], width: int = 90) -> str:
    """The message on one line, cut to ``width``, its evidence words in bold red."""
    flat = " ".join(text.split())
    if len(flat) > width:
        flat = flat[: width - 1] + "…"
    if not evidence:
        return escape(flat)
    pattern = re.compile("|".join(re.escape(word) for word in sorted(evidence, key=len, reverse=True)))
    out, last = [], 0
    for m in pattern.finditer(flat):
        out += [escape(flat[last : m.start()]), f"[bold red]{escape(m.group())}[/bold red]"]
        last = m.end()
    out.append(escape(flat[last:]))
    return "".join(out)


def print_summary(result: Result, console: Console, seconds: float | None = None) -> None:
    s = result.summary
    conv = result.conversation
    style = _LEVEL_STYLE.get(conv.level, "white")
    langs = escape("[" + (", ".join(f"{k} {v}" for k, v in s["languages"].items()) or "none") + "]")
    line = (
        f"{s['messages']} messages ({s['source']}), {s['scored']} scored {langs}: "
        f"[bold]{s['sextortion']} flagged as sextortion[/bold]"
    )
    if s["errors"]:
        line += f", [red]{s['errors']} unreadable[/red] (see 'error' in the output)"
    if seconds is not None:
        line += f" in {seconds:.2f} s"
    console.print(line)
    console.print(
        f"Conversation risk: [{style}]{conv.level.upper()}[/{style}] (score {conv.score:.2f})", end=""
    )
    if conv.started_index is not None:
        when = (
            conv.started_at.strftime("%Y-%m-%d %H:%M") if conv.started_at else f"message {conv.started_index}"
        )
        console.print(f", from {when}", end="")
    if conv.threatening_side:
        console.print(f", threatening side: [bold]{escape(conv.threatening_side)}[/bold]", end="")
    console.print()
    if not conv.flagged:
        return
    if s["categories"]:
        console.print("By category: " + ", ".join(f"{k} {v}" for k, v in s["categories"].items()))
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("id", no_wrap=True)
    with_authors = result.source == "whatsapp" or any(m.author for m in result.messages)
    if with_authors:
        table.add_column("author", no_wrap=True, max_width=16, overflow="ellipsis")
        table.add_column("time", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("category", no_wrap=True)
    table.add_column("message (evidence in red)", ratio=1)
    for i in conv.flagged[:MAX_ROWS]:
        message = result.messages[i]
        verdict = result.verdicts[i]
        if verdict is None:
            continue
        row = [str(message.id)]
        if with_authors:
            row += [
                escape(message.author or ""),
                message.time.strftime("%y-%m-%d %H:%M") if message.time else "",
            ]
        row += [f"{verdict.score:.2f}", verdict.category or "", _snippet(message.text, verdict.evidence)]
        table.add_row(*row)
    console.print(table)
    if len(conv.flagged) > MAX_ROWS:
        console.print(f"… and {len(conv.flagged) - MAX_ROWS} more flagged messages in the output")
