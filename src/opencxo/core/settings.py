"""One validated settings object, read from ``OPENCXO_*`` environment variables and ``.env``."""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRET_KEY = "change-me-development-only"
DEFAULT_DATABASE_FILE = Path("var") / "opencxo.db"


class Settings(BaseSettings):
    """Application settings; invalid values stop the start-up with a message naming the variable."""

    model_config = SettingsConfigDict(
        env_prefix="OPENCXO_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = f"sqlite:///{DEFAULT_DATABASE_FILE}"
    secret_key: str = PLACEHOLDER_SECRET_KEY
    log_level: str = "INFO"
    files_dir: str = str(Path("var") / "files")
    session_max_age_s: int = 8 * 3600
    # Failed logins: after ``login_slowdown_after`` failures each attempt must wait 2^(n-k) s;
    # after ``login_lockout_after`` the account is locked for ``login_lockout_minutes``.
    login_slowdown_after: int = 3
    login_lockout_after: int = 6
    login_lockout_minutes: int = 15
    # Background jobs (opencxo.core.jobs): empty = a SQLite queue file beside the database
    # (var/opencxo-jobs.db for var/opencxo.db; var/jobs.db for PostgreSQL); or a sqlite:///
    # path, or redis://host:port/db. ``jobs_immediate`` runs each job in the process that
    # enqueues it, right after the commit (no worker); unset, it is on only in the test
    # environment.
    jobs_url: str = ""
    jobs_immediate: bool | None = None
    jobs_workers: int = Field(2, ge=1, le=8)

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in logging.getLevelNamesMapping():
            raise ValueError(f"unknown log level {value!r}; use DEBUG, INFO, WARNING or ERROR")
        return level

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("OPENCXO_DATABASE_URL must be a sqlite:// or postgresql:// URL")
        if value.startswith("postgresql://"):
            # psycopg 3 is the installed driver.
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @model_validator(mode="after")
    def _real_secret_outside_development(self) -> Settings:
        if self.environment == "production" and (
            self.secret_key == PLACEHOLDER_SECRET_KEY or len(self.secret_key) < 32
        ):
            raise ValueError(
                "OPENCXO_SECRET_KEY must be set to a random value of at least 32 characters "
                "outside development (python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        return self

    @field_validator("jobs_url")
    @classmethod
    def _supported_jobs_url(cls, value: str) -> str:
        if value and not value.startswith(("sqlite:///", "redis://", "rediss://")):
            raise ValueError("OPENCXO_JOBS_URL must be empty, a sqlite:/// path or a redis:// URL")
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def run_jobs_immediately(self) -> bool:
        if self.jobs_immediate is None:
            return self.environment == "test"
        return self.jobs_immediate


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
