"""Async database access: one database per service, SQLite files by default, PostgreSQL by setting."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from pydantic import AfterValidator
from sqlalchemy import Insert, Table, event, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, SessionTransaction
from sqlmodel import SQLModel

from services.common.errors import Unavailable

log = logging.getLogger("qsr.db")

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


WRITE_WAIT_SECONDS = 30  # as long as SQLite's own busy timeout: a writer waits its turn, then is refused


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


def insert_at_commit(session: AsyncSession, table: Table, row: dict[str, Any]) -> None:
    """Write ``row`` into ``table`` when the session's transaction commits, with every other row deferred so
    into that table in one executemany statement (in the order they were given): set-based writes without
    building ORM objects. The rows are not visible to queries before the commit; a SAVEPOINT rolled back
    takes the rows given inside it with it."""
    sync = session.sync_session
    pending: list[tuple[Table, dict[str, Any], Any]] = sync.info.setdefault("insert_at_commit", [])
    pending.append((table, row, sync.get_nested_transaction()))


@event.listens_for(Session, "before_commit")
def _write_deferred_rows(session: Session) -> None:
    pending = session.info.pop("insert_at_commit", None)
    if not pending:
        return
    by_table: dict[Table, list[dict[str, Any]]] = {}
    for table, row, _ in pending:
        by_table.setdefault(table, []).append(row)
    for table, rows in by_table.items():
        session.execute(table.insert(), rows)


@event.listens_for(Session, "after_soft_rollback")
def _forget_deferred_rows(session: Session, previous_transaction: SessionTransaction) -> None:
    pending = session.info.get("insert_at_commit")
    if not pending:
        return
    if not previous_transaction.nested:
        session.info.pop("insert_at_commit", None)
        return

    def inside(transaction: SessionTransaction | None) -> bool:
        while transaction is not None:
            if transaction is previous_transaction:
                return True
            transaction = transaction.parent
        return False

    pending[:] = [entry for entry in pending if not inside(entry[2])]


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
        self._writer = asyncio.Lock() if is_sqlite(url) else None
        self._sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, info={"wake_relay": self._outbox_committed}
        )

    def _outbox_committed(self) -> None:
        if self.on_outbox_commit is not None:
            self.on_outbox_commit()

    @asynccontextmanager
    async def transaction(self, *, immediate: bool = False) -> AsyncIterator[AsyncSession]:
        """A session whose work commits together at the end of the block, or not at all.

        ``immediate``: on SQLite the transaction takes the write lock at once (BEGIN IMMEDIATE), not at its
        first write: for a block that reads what it then writes, alone among processes (the outbox relay), or
        that uses ``session.begin_nested()`` (the sqlite3 driver sends its BEGIN only before the first write,
        so a SAVEPOINT before it would start a transaction of its own and its release would commit).
        """
        if self._writer is None:
            async with self._sessions.begin() as session:
                yield session
            return
        # SQLite has one writer at a time. Within a process, writers queue on a lock and each is woken the moment
        # the one before commits; left to SQLite, a writer that finds the file locked sleeps in its busy
        # handler's steps of up to 100 ms, and under load (a room of candidates autosaving) those sleeps were
        # the p99. Other processes (replicas) still meet SQLite's own lock.
        try:
            await asyncio.wait_for(self._writer.acquire(), WRITE_WAIT_SECONDS)
        except TimeoutError:
            raise Unavailable("数据库繁忙，请稍后重试") from None
        try:
            async with self._sessions.begin() as session:
                if immediate:
                    await session.execute(text("BEGIN IMMEDIATE"))
                yield session
        finally:
            self._writer.release()

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
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                pass  # a replica starting at the same moment made it first
    finally:
        await conn.close()


def _alembic_config(service: str, url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", f"services.{service}:migrations")
    config.set_main_option("path_separator", "os")
    config.attributes["database_url"] = url
    return config


async def migrate(service: str, url: str) -> bool:
    """Bring a service's database to the newest Alembic revision; True if this call changed it.

    Replicas of a service starting together take turns: the first migrates under a lock (a PostgreSQL
    advisory lock, a file lock beside a SQLite file), the others wait for it and then find nothing to do.
    """
    await ensure_database(url)
    config = _alembic_config(service, url)
    async with _migration_lock(service, url):
        # Alembic drives its own event loop in env.py, so it runs in a worker thread.
        before = await _current_revision(url)
        await asyncio.to_thread(command.upgrade, config, "head")
        after = await _current_revision(url)
    if before != after:
        log.info("%s: database migrated %s → %s", service, before or "(empty)", after)
    else:
        log.info("%s: database already at %s", service, after)
    return before != after


async def _current_revision(url: str) -> str | None:
    if is_sqlite(url):
        return await asyncio.to_thread(_sqlite_revision, url)
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        if not await conn.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL"):
            return None
        return await conn.fetchval("SELECT version_num FROM alembic_version")
    finally:
        await conn.close()


def _sqlite_revision(url: str) -> str | None:
    from sqlalchemy import create_engine

    engine = create_engine(make_url(url).set(drivername="sqlite"))
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def _migration_lock(service: str, url: str) -> AsyncIterator[None]:
    if is_sqlite(url):
        import fcntl

        database = make_url(url).database
        if not database or database == ":memory:":
            yield
            return
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        lock = await asyncio.to_thread(open, f"{database}.migrate.lock", "w")
        try:
            await asyncio.to_thread(fcntl.flock, lock, fcntl.LOCK_EX)
            yield
        finally:
            lock.close()  # releases the lock
        return
    import asyncpg

    conn = await asyncpg.connect(
        make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        await conn.execute("SELECT pg_advisory_lock(hashtext($1))", f"qsr.migrate.{service}")
        yield
    finally:
        await conn.close()  # ends the session, and with it the lock


@contextmanager
def sqlite_lease(url: str, name: str) -> Iterator[bool]:
    """A lease among the processes sharing a SQLite file: True while this one holds the exclusive lock on
    ``<file>.<name>.lock`` (taken without waiting; False when another holds it). Other databases, and an
    in-memory SQLite, need none here: always True."""
    database = make_url(url).database if is_sqlite(url) else None
    if not database or database == ":memory:":
        yield True
        return
    import fcntl

    with open(f"{database}.{name}.lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def insert_ignoring_duplicates(session: AsyncSession, table: Table) -> Insert:
    """An INSERT into ``table`` that skips rows whose key is taken (ON CONFLICT DO NOTHING), in the dialect of
    ``session``'s database; execute it with a list of rows (one executemany statement), and add
    ``.returning(...)`` to learn which were new."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    return insert(table).on_conflict_do_nothing()


UTCDateTime = Annotated[datetime, AfterValidator(as_utc)]
