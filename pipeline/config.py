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
    per_domain_limit: int = 2  # requests in flight at once per registrable domain, feeds and pages together
    per_domain_delay: float = 1.0  # seconds between request starts to one registrable domain
    fetch_concurrency: int = 100  # requests in flight at once overall
    poll_min_interval: float = 300.0  # seconds; the adaptive poll interval stays within min and max
    poll_max_interval: float = 21600.0
    respect_robots: bool = True  # article pages only; feeds are published to be polled
    process_workers: int = os.cpu_count() or 1  # processes that extract, clean and load articles at once
    rules_file: Path | None = None  # publisher rules to use instead of the bundled pipeline/rules/publishers.yaml
    s3_access_key_id: str | None = None  # S3 credentials given directly (Airflow's aws connection); unset:
    s3_secret_access_key: str | None = None  # boto3's own chain (AWS_* variables, a profile, an instance role)
    s3_region: str | None = None

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
            per_domain_limit=int(env.get("FEEDPIPE_PER_DOMAIN_LIMIT") or 2),
            per_domain_delay=float(env.get("FEEDPIPE_PER_DOMAIN_DELAY") or 1.0),
            fetch_concurrency=int(env.get("FEEDPIPE_FETCH_CONCURRENCY") or 100),
            poll_min_interval=float(env.get("FEEDPIPE_POLL_MIN_INTERVAL") or 300),
            poll_max_interval=float(env.get("FEEDPIPE_POLL_MAX_INTERVAL") or 21600),
            respect_robots=not _flag(env.get("FEEDPIPE_IGNORE_ROBOTS")),
            process_workers=int(env.get("FEEDPIPE_PROCESS_WORKERS") or os.cpu_count() or 1),
            rules_file=Path(env["FEEDPIPE_RULES_FILE"]) if env.get("FEEDPIPE_RULES_FILE") else None,
            s3_access_key_id=env.get("FEEDPIPE_S3_ACCESS_KEY_ID") or None,
            s3_secret_access_key=env.get("FEEDPIPE_S3_SECRET_ACCESS_KEY") or None,
            s3_region=env.get("FEEDPIPE_S3_REGION") or None,
        )

    def with_overrides(self, **overrides: object) -> "Settings":
        """Apply the CLI flags that were given (None means 'not given')."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    @property
    def effective_archive_url(self) -> str:
        return self.archive_url or (self.home / "archive").resolve().as_uri()
