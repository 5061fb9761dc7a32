"""Settings from FEEDPIPE_* environment variables; CLI flags override them."""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

DEFAULT_USER_AGENT = "feedpipe/0.1 (+https://github.com/feedpipe/feedpipe)"


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str | None = None
    archive_url: str | None = None
    s3_endpoint_url: str | None = None
    allow_private_addresses: bool = False
    user_agent: str = DEFAULT_USER_AGENT

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        home = Path(env.get("FEEDPIPE_HOME") or Path.home() / ".local" / "share" / "feedpipe")
        return cls(
            home=home.expanduser(),
            database_url=env.get("FEEDPIPE_DATABASE_URL") or None,
            archive_url=env.get("FEEDPIPE_ARCHIVE_URL") or None,
            s3_endpoint_url=env.get("FEEDPIPE_S3_ENDPOINT_URL") or None,
            allow_private_addresses=_flag(env.get("FEEDPIPE_ALLOW_PRIVATE_ADDRESSES")),
            user_agent=env.get("FEEDPIPE_USER_AGENT") or DEFAULT_USER_AGENT,
        )

    def with_overrides(self, **overrides: object) -> "Settings":
        """Apply the CLI flags that were given (None means 'not given')."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    @property
    def effective_archive_url(self) -> str:
        return self.archive_url or (self.home / "archive").resolve().as_uri()
