"""The `stopspread` command: hash media into a list, scan media against a list, match PDQ strings."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from stopspread import __version__, pipeline
from stopspread.errors import InvalidSignalError, StopspreadError
from stopspread.listio import read_records
from stopspread.matcher import Matcher
from stopspread.media import sniff_kind
from stopspread.pipeline import hash_file, query_file
from stopspread.records import ListFormatError
from stopspread.signals.types import PdqSignal

app = typer.Typer(
    help="Fingerprint photos and videos on your own machine and find their forwarded copies.",
    no_args_is_help=True,
    add_completion=False,
)
err = Console(stderr=True)

# Exit codes: 1 = some files failed (the rest were processed), 2 = usage, 3 = unreadable list.
EXIT_FILES_FAILED = 1
EXIT_BAD_LIST = 3

JobsOption = Annotated[int, typer.Option("--jobs", "-j", help="Worker processes (default: all cores).")]
OutOption = Annotated[Path, typer.Option("--output", "-o", help="JSON Lines output ('-' for stdout).")]
AgainstOption = Annotated[
    Path, typer.Option("--against", "-a", help="Hash list to match against (JSONL, HMA/TX CSV, VICS…).")
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"stopspread {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True)] = False,
) -> None:
    """stopspread: stop the spread of intimate images shared without consent."""


# In a folder, a file is looked at when its name says media or its content does; anything else
# (a README, a manifest) is passed over. Files named on the command line are always looked at.
MEDIA_SUFFIXES = frozenset(
    [
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".png",
        ".webp",
        ".gif",
        ".bmp",
        ".tif",
        ".tiff",
        ".heic",
        ".heif",
        ".avif",
        ".mp4",
        ".m4v",
        ".mov",
        ".3gp",
        ".mkv",
        ".webm",
        ".avi",
        ".ts",
        ".mpg",
        ".mpeg",
        ".wmv",
    ]
)


def iter_media_paths(paths: Sequence[Path]) -> Iterator[Path]:
    """Files named directly, and media files below named folders, in a stable order."""
    for path in paths:
        if not path.is_dir():
            yield path
            continue
        for found in sorted(path.rglob("*")):
            relative = found.relative_to(path)
            if not found.is_file() or any(part.startswith(".") for part in relative.parts):
                continue
            if found.suffix.lower() in MEDIA_SUFFIXES or sniff_kind(found) is not None:
                yield found


def _describe(exc: BaseException) -> str:
    if isinstance(exc, StopspreadError):
        return str(exc)
    return f"could not read the file ({type(exc).__name__}: {exc})"


_CRASH = "the decoder crashed on this file (corrupt or hostile media)"


def _hash_crashed(path: Path) -> dict[str, Any]:
    return {"id": str(path), "error": _CRASH}


def _query_crashed(path: Path) -> dict[str, Any]:
    return {"path": str(path), "error": _CRASH}


def _hash_one(path: Path) -> dict[str, Any]:
    """One list record for one file, or an error record; never raises."""
    try:
        return hash_file(path).to_json()
    except Exception as exc:  # a hostile file may raise anything; it fails alone
        return {"id": str(path), "error": _describe(exc)}


def _query_one(path: Path) -> tuple[str, Any, Any] | dict[str, Any]:
    try:
        return query_file(path)
    except Exception as exc:
        return {"path": str(path), "error": _describe(exc)}


@contextmanager
def _output(path: Path) -> Iterator[TextIO]:
    """Write to a temporary file that replaces ``path`` only once complete and on disk."""
    if str(path) == "-":
        yield sys.stdout
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _one_decoder_per_file() -> None:
    # Worker processes already keep every core busy with a file each: more threads per file
    # would only add CPU time (pipeline.VIDEO_DECODERS).
    pipeline.VIDEO_DECODERS = 1


def _run_parallel(
    work: Callable[[Path], Any], crashed: Callable[[Path], Any], paths: list[Path], jobs: int, label: str
) -> Iterator[tuple[Path, Any]]:
    """Results of ``work`` per path, in input order, with a progress bar on stderr.

    A decoder that kills its worker process (a hostile file can) breaks the whole pool; the files
    not yet done are then run one process each, so only the culprit gets ``crashed(path)``.
    """
    jobs = max(1, jobs or os.cpu_count() or 1)
    progress = Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not err.is_terminal,
    )
    with progress:
        task = progress.add_task(label, total=len(paths))
        if jobs == 1 or len(paths) <= 1:
            for path in paths:
                progress.advance(task)
                yield path, work(path)
            return
        done = 0
        with ProcessPoolExecutor(max_workers=jobs, initializer=_one_decoder_per_file) as pool:
            futures = [pool.submit(work, path) for path in paths]
            try:
                for path, future in zip(paths, futures, strict=True):
                    result = future.result()
                    progress.advance(task)
                    done += 1
                    yield path, result
            except BrokenProcessPool:
                pass
        for path in paths[done:]:
            with ProcessPoolExecutor(max_workers=1) as alone:
                try:
                    result = alone.submit(work, path).result()
                except BrokenProcessPool:
                    result = crashed(path)
            progress.advance(task)
            yield path, result


def _load_matcher(against: Path) -> Matcher:
    matcher = Matcher()
    try:
        matcher.add_all(read_records(against))
    except (OSError, ListFormatError) as exc:
        err.print(f"[red]Cannot read the hash list:[/red] {exc}")
        raise typer.Exit(EXIT_BAD_LIST) from exc
    return matcher


@app.command("hash")
def hash_command(
    paths: Annotated[list[Path], typer.Argument(help="Images, videos or folders (searched recursively).")],
    output: OutOption = Path("-"),
    jobs: JobsOption = 0,
) -> None:
    """Fingerprint every image and video found; one JSON record per file."""
    files = list(iter_media_paths(paths))
    failed = 0
    with _output(output) as out:
        for _, record in _run_parallel(_hash_one, _hash_crashed, files, jobs, "hashing"):
            failed += "error" in record
            out.write(json.dumps(record) + "\n")
    _summary(len(files), failed, "hashed")
    if failed:
        raise typer.Exit(EXIT_FILES_FAILED)


@app.command()
def scan(
    paths: Annotated[list[Path], typer.Argument(help="Images, videos or folders to check.")],
    against: AgainstOption,
    output: OutOption = Path("-"),
    jobs: JobsOption = 0,
) -> None:
    """Check media against a hash list; one JSON record per scanned file with its matches."""
    matcher = _load_matcher(against)
    files = list(iter_media_paths(paths))
    failed = matched = 0
    with _output(output) as out:
        for path, result in _run_parallel(_query_one, _query_crashed, files, jobs, "scanning"):
            if isinstance(result, dict):
                failed += 1
                out.write(json.dumps(result) + "\n")
                continue
            kind, query, digests = result
            found = matcher.match(kind, query, digests)
            matched += bool(found)
            record = {"path": str(path), "kind": kind, "matches": [m.to_json() for m in found]}
            out.write(json.dumps(record) + "\n")
    _summary(len(files), failed, "scanned", matched)
    if failed:
        raise typer.Exit(EXIT_FILES_FAILED)


def _parse_query(line: str) -> tuple[str, str]:
    text = line.strip()
    if text.startswith("{"):
        data = json.loads(text)
        if not isinstance(data, dict) or "pdq" not in data:
            raise InvalidSignalError("a JSON query needs a 'pdq' field")
        value = PdqSignal.validate(data["pdq"])
        return str(data.get("id", value)), value
    value = PdqSignal.validate(text)
    return value, value


@app.command()
def match(
    queries: Annotated[
        Path,
        typer.Argument(help="Lines of 64-hex PDQ, or JSON Lines {'id', 'pdq'}; '-' for stdin."),
    ],
    against: AgainstOption,
    output: OutOption = Path("-"),
    radius: Annotated[
        int, typer.Option(min=0, max=128, help="Most PDQ bits apart for a match.")
    ] = PdqSignal.threshold,
) -> None:
    """Match PDQ hashes a platform already computed against a hash list."""
    matcher = _load_matcher(against)
    source = sys.stdin if str(queries) == "-" else queries.open(encoding="utf-8")
    rows: list[tuple[str, str] | dict[str, Any]] = []  # (id, pdq) or an error record, in input order
    with source:
        for number, line in enumerate(source, 1):
            if not line.strip():
                continue
            try:
                rows.append(_parse_query(line))
            except (InvalidSignalError, json.JSONDecodeError) as exc:
                rows.append({"id": f"line {number}", "error": str(exc)})
    queries_found = [row for row in rows if isinstance(row, tuple)]
    results = iter(matcher.match_pdq(PdqSignal.to_array([pdq for _, pdq in queries_found]), radius))
    with _output(output) as out:
        for row in rows:
            if isinstance(row, dict):
                out.write(json.dumps(row) + "\n")
                continue
            found = next(results)
            out.write(json.dumps({"id": row[0], "matches": [m.to_json() for m in found]}) + "\n")
    errors = len(rows) - len(queries_found)
    _summary(len(rows), errors, "matched")
    if errors:
        raise typer.Exit(EXIT_FILES_FAILED)


@app.command()
def detect(
    source: Annotated[
        Path,
        typer.Argument(help="A WhatsApp chat export (.txt) or JSON Lines {'id', 'text'}; '-' for stdin."),
    ],
    output: OutOption = Path("-"),
    input_format: Annotated[
        str, typer.Option("--format", help="auto (default), whatsapp or jsonl.")
    ] = "auto",
) -> None:
    """Flag sextortion in chat messages (English, Spanish); one JSON record per message, in order."""
    import time

    # Imported here: the detector loads a language model that hash/scan/match never need.
    from stopspread.detect.batch import InputError, read_file, read_messages, run
    from stopspread.detect.detector import Detector
    from stopspread.detect.model import ModelError
    from stopspread.detect.report import print_summary

    try:
        if str(source) == "-":
            kind, messages = read_messages(sys.stdin.read(), input_format)
        else:
            kind, messages = read_file(source, input_format)
        detector = Detector.load()
    except (InputError, ModelError) as exc:
        err.print(f"[red]Cannot detect:[/red] {exc}")
        raise typer.Exit(2) from exc
    started = time.perf_counter()
    result = run(detector, kind, messages)
    with _output(output) as out:
        for record in result.records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    print_summary(result, err, time.perf_counter() - started)
    if result.errors:
        raise typer.Exit(EXIT_FILES_FAILED)


def _register_service() -> None:
    # Imported here so that `stopspread hash` does not pay for FastAPI and SQLAlchemy.
    from stopspread.service.cli import admin, serve
    from stopspread.trace.cli import case, demo, evidence

    app.command("serve")(serve)
    app.add_typer(admin, name="admin")
    app.add_typer(case, name="case")
    app.add_typer(evidence, name="evidence")
    app.command("demo")(demo)


_register_service()


def _summary(total: int, failed: int, verb: str, matched: int | None = None) -> None:
    parts = [f"{total - failed} {verb}"]
    if matched is not None:
        parts.append(f"[bold]{matched} with matches[/bold]")
    if failed:
        parts.append(f"[red]{failed} failed[/red] (see 'error' in the output)")
    err.print(", ".join(parts))
