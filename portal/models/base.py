from datetime import UTC, datetime


def utcnow() -> datetime:
    """Naive UTC timestamp (stored as such in both SQLite and PostgreSQL)."""
    return datetime.now(UTC).replace(tzinfo=None)
