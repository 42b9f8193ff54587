"""Typed settings of `stopspread serve`, from options or STOPSPREAD_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STOPSPREAD_")

    #: Folder for the embedded database and the index snapshot.
    data: Path = Path("stopspread-data")
    #: SQLAlchemy URL; empty means SQLite in ``data``.
    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    #: Largest request body: a full video fingerprint is ~250 kB, a batch of 1000 PDQ ~100 kB.
    max_body_bytes: int = 4 * 1024 * 1024
    max_batch: int = 1000
    #: Requests a minute per client address on victims' case routes (guessing a secret of 128
    #: bits is hopeless anyway; this keeps a flood from costing the database).
    case_rate_per_minute: int = 60
    #: Fingerprints a platform key may look up per second, sustained and in bursts: enough for
    #: a large platform's uploads, too few to map a 10M list by probing.
    lookups_per_second: float = 20_000.0
    lookup_burst: float = 40_000.0
    #: A fingerprint matching more distinct contents than this within the window is quarantined
    #: until a reviewer looks: a real case rarely sees more than a few dozen copies a day, a
    #: wrongly listed meme thousands.
    quarantine_distinct: int = Field(default=50, ge=1)
    quarantine_window_hours: float = 24.0
    #: The index is snapshotted when this many changes were applied since the last snapshot.
    snapshot_every: int = 100_000
    #: Days an investigator's grant lasts unless said otherwise.
    grant_days: int = 90
    #: JSON file of help resources per country shown on the victim's page; empty means the
    #: defaults in the package (stopspread/web/resources.json: Spain and international).
    resources_file: Path | None = None

    def url(self) -> str:
        if self.database_url:
            return self.database_url
        self.data.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.data / 'stopspread.db'}"
