"""Async database access: one database per service, SQLite files by default, PostgreSQL by setting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated

from alembic import command
from alembic.config import Config
from pydantic import AfterValidator
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session
from sqlmodel import SQLModel

# SQLite's batch migrations need named constraints; the same names keep PostgreSQL tidy.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


# China keeps one time zone and no daylight saving; a fixed offset needs no tz database on the machine.
CHINA = timezone(timedelta(hours=8), "Asia/Shanghai")


def today_cn() -> date:
    """Today's date in China: deadlines, windows and annual lists are counted in Beijing time."""
    return datetime.now(CHINA).date()


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; every datetime we store is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _make_engine(url: str) -> AsyncEngine:
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    # asyncpg prepares every statement; after five runs PostgreSQL may switch to a generic plan, which for
    # skewed data (a province filtered by class and locking) was 65 times slower than the custom one.
    return create_async_engine(
        url,
        pool_size=10,
        max_overflow=20,
        pool_pre_ping=True,
        connect_args={"server_settings": {"plan_cache_mode": "force_custom_plan"}},
    )


@event.listens_for(Session, "after_commit")
def _wake_outbox_relay(session: Session) -> None:
    # emit() marks the session; the relay publishes as soon as the rows are committed. Releasing a SAVEPOINT
    # fires this event too, but commits nothing yet.
    if session.in_nested_transaction():
        return
    if session.info.pop("outbox_dirty", False):
        wake = session.info.get("wake_relay")
        if wake is not None:
            wake()


@event.listens_for(Session, "after_rollback")
def _forget_outbox_mark(session: Session) -> None:
    # A SAVEPOINT rolled back leaves the events emitted before it standing.
    if not session.in_nested_transaction():
        session.info.pop("outbox_dirty", None)


class Database:
    """The engine and session factory of one service."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _make_engine(url)
        self.on_outbox_commit: Callable[[], None] | None = None
        self._sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, info={"wake_relay": self._outbox_committed}
        )

    def _outbox_committed(self) -> None:
        if self.on_outbox_commit is not None:
            self.on_outbox_commit()

    @asynccontextmanager
    async def transaction(self, *, savepoints: bool = False) -> AsyncIterator[AsyncSession]:
        """A session whose work commits together at the end of the block, or not at all.

        ``savepoints``: the block uses ``session.begin_nested()``. The sqlite3 driver sends its BEGIN only
        before the first INSERT, UPDATE or DELETE, so a SAVEPOINT before it would start a transaction of its
        own and its release would commit; on SQLite such a transaction therefore begins at once, holding
        the write lock (BEGIN IMMEDIATE), as every other transaction does from its first write.
        """
        async with self._sessions.begin() as session:
            if savepoints and is_sqlite(self.url):
                await session.execute(text("BEGIN IMMEDIATE"))
            yield session

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session for reads."""
        async with self._sessions() as session:
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


async def ensure_database(url: str) -> None:
    """Create a PostgreSQL database named in ``url`` when it does not exist (SQLite creates its own)."""
    if is_sqlite(url):
        return
    import asyncpg

    parsed = make_url(url)
    name = parsed.database
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    conn = await asyncpg.connect(admin)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def _alembic_config(service: str, url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", f"services.{service}:migrations")
    config.set_main_option("path_separator", "os")
    config.attributes["database_url"] = url
    return config


async def migrate(service: str, url: str) -> None:
    """Bring a service's database to the newest Alembic revision."""
    await ensure_database(url)
    # Alembic drives its own event loop in env.py, so it runs in a worker thread.
    await asyncio.to_thread(command.upgrade, _alembic_config(service, url), "head")


UTCDateTime = Annotated[datetime, AfterValidator(as_utc)]
