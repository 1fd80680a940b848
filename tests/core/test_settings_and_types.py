"""Settings are validated at start-up; money is exact and knows its currency; times are UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from pydantic import ValidationError

from opencxo.core.settings import PLACEHOLDER_SECRET_KEY, Settings
from opencxo.core.types import Money, UTCDateTime


def test_placeholder_secret_is_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="OPENCXO_SECRET_KEY"):
        Settings(environment="production", secret_key=PLACEHOLDER_SECRET_KEY)
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(environment="production", secret_key="short")
    assert Settings(environment="production", secret_key="x" * 40).secret_key == "x" * 40
    assert Settings(environment="development").secret_key == PLACEHOLDER_SECRET_KEY


def test_database_url_and_log_level_are_checked() -> None:
    with pytest.raises(ValidationError, match="sqlite:// or postgresql://"):
        Settings(database_url="mysql://root@localhost/x")
    assert (
        Settings(database_url="postgresql://u@h/db").database_url == "postgresql+psycopg://u@h/db"
    )
    with pytest.raises(ValidationError, match="unknown log level"):
        Settings(log_level="chatty")
    assert Settings(log_level="debug").log_level == "DEBUG"


def test_settings_come_from_opencxo_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENCXO_LOG_LEVEL", "warning")
    monkeypatch.setenv("OPENCXO_DATABASE_URL", "sqlite:///elsewhere.db")
    settings = Settings()
    assert settings.log_level == "WARNING"
    assert settings.database_url == "sqlite:///elsewhere.db"


def test_money_is_exact_and_refuses_mixing_currencies() -> None:
    total = Money(Decimal("0.10"), "USD") + Money(Decimal("0.20"), "USD")
    assert total == Money(Decimal("0.30"), "USD")
    assert str(Money(Decimal("1234567.5"), "EUR")) == "1,234,567.50 EUR"
    with pytest.raises(ValueError, match="cannot combine USD with EUR"):
        _ = Money(Decimal(1), "USD") - Money(Decimal(1), "EUR")
    with pytest.raises(ValueError, match="unknown ISO 4217"):
        Money(Decimal(1), "XYZ")
    with pytest.raises(TypeError, match="Decimal"):
        Money(1.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        Money(Decimal("NaN"), "USD")


def test_timestamps_are_stored_and_returned_in_utc() -> None:
    column = UTCDateTime()
    tokyo = timezone(timedelta(hours=9))
    stored = column.process_bind_param(datetime(2026, 1, 1, 9, 0, tzinfo=tokyo), None)  # type: ignore[arg-type]
    assert stored == datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    assert stored is not None and stored.utcoffset() == timedelta(0)
    loaded = column.process_result_value(datetime(2026, 1, 1, 0, 0), None)  # type: ignore[arg-type]
    assert loaded is not None and loaded.tzinfo is UTC
    with pytest.raises(ValueError, match="naive datetime"):
        column.process_bind_param(datetime(2026, 1, 1), None)  # type: ignore[arg-type]
