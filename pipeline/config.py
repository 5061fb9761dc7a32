"""Settings from FEEDPIPE_* environment variables (pydantic-settings); CLI flags override them.

`Settings(...)` holds exactly what it is given and pickles, so stages and Airflow tasks can pass it around;
`Settings.from_env()` reads the environment. A value feedpipe cannot use raises ConfigurationError, whose
one-line message names the variable or flag and what it expects."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, TypeAdapter, ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

DEFAULT_USER_AGENT = "feedpipe/0.1 (+https://github.com/feedpipe/feedpipe)"
ENV_PREFIX = "FEEDPIPE_"
IGNORE_ROBOTS_VARIABLE = "FEEDPIPE_IGNORE_ROBOTS"  # the one variable that is not FEEDPIPE_<FIELD>: it inverts respect_robots


class ConfigurationError(ValueError):
    """A setting feedpipe cannot use; the message names the variable or flag and what it expects."""


def _database_url(value: str | None) -> str | None:
    if value is not None and urlsplit(value).scheme not in ("postgresql", "postgres"):
        raise ValueError("not a postgresql:// URL")
    return value


def _archive_url(value: str | None) -> str | None:
    if value is None:
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("s3", "file") or (parts.scheme == "s3" and not parts.netloc):
        raise ValueError("not an s3://bucket/prefix or file:///path URL")
    return value


def _default_home() -> Path:
    return Path.home() / ".local" / "share" / "feedpipe"


class Settings(BaseSettings):
    """Every setting; each field's description says what it expects (shown in error messages)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True, frozen=True, extra="forbid")

    home: Path = Field(default_factory=_default_home, description="a folder feedpipe can write to")
    database_url: Annotated[str | None, AfterValidator(_database_url)] = Field(
        None, description="a Postgres URL such as postgresql://user:password@host:5432/news")
    archive_url: Annotated[str | None, AfterValidator(_archive_url)] = Field(
        None, description="s3://bucket/prefix or file:///path")
    s3_endpoint_url: str | None = Field(None, description="the URL of an S3-compatible endpoint")
    s3_access_key_id: str | None = Field(None, description="an S3 access key id")  # unset: boto3's own chain
    s3_secret_access_key: str | None = Field(None, repr=False, description="an S3 secret access key")
    s3_region: str | None = Field(None, description="an S3 region name such as us-east-1")
    allow_private_addresses: bool = Field(False, description="true or false (1/0, yes/no, on/off)")
    user_agent: str = Field(DEFAULT_USER_AGENT, min_length=1, description="a User-Agent such as name/1.0 (+url)")
    per_domain_limit: int = Field(2, ge=1, description="a whole number of requests, 1 or more")
    per_domain_delay: float = Field(1.0, ge=0, description="a number of seconds, 0 or more, such as 1.5")
    fetch_concurrency: int = Field(100, ge=1, description="a whole number of requests, 1 or more")
    poll_min_interval: float = Field(300.0, gt=0, description="a number of seconds, more than 0")
    poll_max_interval: float = Field(21600.0, gt=0, description="a number of seconds, more than 0")
    respect_robots: bool = Field(True, description="true or false (1/0, yes/no, on/off)")  # article pages only
    process_workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1,
                                 description="a whole number of processes, 1 or more")
    rules_file: Path | None = Field(None, description="a publisher rules file (default: the bundled "
                                                      "pipeline/rules/publishers.yaml)")

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        """Settings(...) is exactly what it is given; from_env() is where the environment comes in."""
        return (init_settings,)

    @classmethod
    def from_env(cls) -> "Settings":
        """The settings the FEEDPIPE_* variables give (empty ones count as unset)."""
        values = EnvSettingsSource(cls)()
        values.pop("respect_robots", None)
        ignore_robots = os.environ.get(IGNORE_ROBOTS_VARIABLE, "").strip()
        if ignore_robots:
            try:
                values["respect_robots"] = not TypeAdapter(bool).validate_python(ignore_robots)
            except ValidationError as error:
                raise ConfigurationError(
                    f"{IGNORE_ROBOTS_VARIABLE}={ignore_robots!r}: expected true or false (1/0, yes/no, on/off)"
                ) from error
        return cls._validated(values, environment_variable)

    def with_overrides(self, **overrides: object) -> "Settings":
        """Apply the CLI flags that were given (None means 'not given')."""
        given = {name: value for name, value in overrides.items() if value is not None}
        return self._validated({**self.model_dump(), **given}, lambda name: flag_or_variable(name, given))

    @classmethod
    def _validated(cls, values: dict[str, Any], source_of) -> "Settings":
        try:
            return cls(**values)
        except ValidationError as error:
            first = error.errors()[0]
            name = str(first["loc"][0]) if first["loc"] else ""
            field = cls.model_fields.get(name)
            expected = field.description if field and field.description else first["msg"]
            raise ConfigurationError(f"{source_of(name)}={first['input']!s}: expected {expected}") from error

    @property
    def effective_archive_url(self) -> str:
        return self.archive_url or (self.home / "archive").resolve().as_uri()


def environment_variable(field_name: str) -> str:
    """The variable a setting is read from."""
    return IGNORE_ROBOTS_VARIABLE if field_name == "respect_robots" else ENV_PREFIX + field_name.upper()


def flag_or_variable(field_name: str, flags: dict[str, object]) -> str:
    return "--" + field_name.replace("_", "-") if field_name in flags else environment_variable(field_name)
