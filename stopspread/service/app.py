"""The FastAPI application: `create_app(settings)` wires storage, the live index and the routes."""

from __future__ import annotations

import itertools
import json
import logging
import secrets
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from stopspread import __version__
from stopspread.service import problems, store
from stopspread.service.live_index import LiveIndex
from stopspread.service.ratelimit import TokenBuckets
from stopspread.service.recorder import MatchRecorder
from stopspread.service.settings import Settings
from stopspread.storage import make_engine, sessions, upgrade

log = logging.getLogger("stopspread.access")

# Content types that carry media: the server never receives pictures or videos.
_MEDIA_TYPES = ("image/", "video/", "audio/", "multipart/", "application/octet-stream")


@dataclass
class Metrics:
    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    lookups: Counter
    matches: Counter
    index_entries: Gauge


def _metrics() -> Metrics:
    registry = CollectorRegistry()
    return Metrics(
        registry,
        Counter("stopspread_requests_total", "HTTP requests", ["route", "status"], registry=registry),
        Histogram(
            "stopspread_request_seconds",
            "Request latency",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1, 5),
            registry=registry,
        ),
        Counter("stopspread_lookups_total", "Fingerprints looked up", registry=registry),
        Counter("stopspread_matches_total", "Lookups that matched", registry=registry),
        Gauge("stopspread_index_entries", "PDQ hashes in this worker's index", registry=registry),
    )


@dataclass
class State:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    index: LiveIndex
    case_limits: TokenBuckets
    lookup_limits: TokenBuckets
    metrics: Metrics
    recorder: MatchRecorder
    load_error: str | None = None
    key_cache: dict[str, tuple[float, Any]] = field(default_factory=dict)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.url())
        upgrade(engine)
        factory = sessions(engine)
        with factory() as session:
            store.ensure_defaults(session)
            session.commit()
        snapshot_dir = settings.data / "index"
        state = State(
            settings,
            engine,
            factory,
            LiveIndex(snapshot_dir, settings.snapshot_every),
            TokenBuckets(settings.case_rate_per_minute / 60, settings.case_rate_per_minute),
            TokenBuckets(settings.lookups_per_second, settings.lookup_burst),
            _metrics(),
            MatchRecorder(factory, settings),
        )
        app.state.stopspread = state

        def load() -> None:
            try:
                with factory() as session:
                    state.index.load(session)
            except Exception as exc:  # /readyz reports it; the process stays up for /livez
                log.exception("index load failed")
                state.load_error = str(exc)

        loader = threading.Thread(target=load, name="index-load", daemon=True)
        loader.start()
        yield
        loader.join()
        state.recorder.close()
        if state.index.ready:
            with factory() as session:
                state.index.catch_up(session)
            state.index.snapshot()
        engine.dispose()

    app = FastAPI(
        title="stopspread",
        version=__version__,
        summary="Hash lists that stop the spread of intimate images shared without consent.",
        description=(
            "Victims open cases with fingerprints made on their own device (never media); platforms "
            "check uploads against the list and report what they did; reviewers handle what is held "
            "for review; investigators read the events of the cases they were granted. Errors are "
            "RFC 9457 problem details."
        ),
        lifespan=lifespan,
    )
    problems.install(app)
    _install_middleware(app, settings)
    from stopspread import web
    from stopspread.service import routes

    routes.mount(app)
    web.mount(app, settings.resources_file)
    from stopspread.service import detection

    app.include_router(detection.router)
    return app


def _install_middleware(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(Guard, settings=settings)


# Request ids only need to be unique, not secret: a per-process prefix and a counter (uuid4 reads
# the kernel's random source on every request).
_ID_PREFIX = secrets.token_hex(4)
_request_numbers = itertools.count(1)


class Guard:
    """Refuses media and oversized bodies before anything reads them; logs and counts requests.

    A plain ASGI middleware: Starlette's ``BaseHTTPMiddleware`` costs a task and two streams per
    request, a large share of a single lookup.
    """

    def __init__(self, app: Any, settings: Settings) -> None:
        self.app, self.settings = app, settings

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = headers.get("x-request-id") or f"{_ID_PREFIX}-{next(_request_numbers):x}"
        method = scope["method"]
        content_type = headers.get("content-type", "").lower()
        length = headers.get("content-length")
        writes = method in ("POST", "PUT", "PATCH")
        status = 500

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode("latin-1"))]
            await send(message)

        refusal: Response | None = None
        if writes and content_type.startswith(_MEDIA_TYPES):
            refusal = problems.problem_response(
                415,
                "Media are refused",
                "stopspread never receives pictures or videos: send fingerprints (JSON)",
            )
        elif length is not None and (not length.isdigit() or int(length) > self.settings.max_body_bytes):
            refusal = problems.problem_response(
                413, "Request too large", f"the limit is {self.settings.max_body_bytes} bytes"
            )
        elif length is None and writes:
            refusal = problems.problem_response(411, "Length required", "send a Content-Length")
        if refusal is not None:
            await refusal(scope, receive, send_with_id)
        else:
            await self.app(scope, receive, send_with_id)
        path = getattr(scope.get("route"), "path", "unmatched")
        elapsed = time.perf_counter() - started
        state: State | None = getattr(scope["app"].state, "stopspread", None) if "app" in scope else None
        if state is not None:
            state.metrics.requests.labels(path, str(status)).inc()
            state.metrics.latency.labels(path).observe(elapsed)
        if path not in ("/livez", "/readyz", "/metrics"):
            log.info(
                json.dumps(
                    {
                        "request_id": request_id,
                        "method": method,
                        "route": path,
                        "status": status,
                        "ms": round(elapsed * 1000, 2),
                    }
                )
            )


def metrics_response(state: State) -> Response:
    state.metrics.index_entries.set(state.index.size)
    return PlainTextResponse(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
