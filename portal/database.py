"""Database engine behaviour shared by every backend.

SQLite (the embedded default) gets WAL (readers never wait for the writer), a
busy timeout, foreign keys, and write transactions that start with
``BEGIN IMMEDIATE``: a deferred transaction that reads and then writes fails
at once with "database is locked" when another writer got there first,
whatever the timeout (https://www.sqlite.org/lang_transaction.html), whereas
an immediate one waits its turn. pysqlite's own transaction handling is
switched off so that SQLAlchemy emits every ``BEGIN`` itself (the recipe in
SQLAlchemy's SQLite dialect documentation, "Serializable isolation /
Savepoints / Transactional DDL").

PostgreSQL needs none of this: lost updates are prevented by the items'
version column (optimistic locking) and row locks.
"""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import Engine

from .extensions import db

WRITE_OPTION = "portal_write"


@event.listens_for(Engine, "connect")
def _on_connect(dbapi_connection, _record):
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()


@event.listens_for(Engine, "begin")
def _on_begin(conn):
    if conn.dialect.name == "sqlite":
        immediate = conn.get_execution_options().get(WRITE_OPTION)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def begin_write() -> None:
    """Make the session's next statements run in a write transaction.

    Call at the start of every service that writes, before it changes
    anything. On SQLite a read transaction still open is ended first (it has
    no pending changes; loaded objects are re-read in the new transaction)
    and a ``BEGIN IMMEDIATE`` transaction starts. Elsewhere it does nothing.
    """
    session = db.session()  # the scoped session's current Session
    if session.get_bind().dialect.name != "sqlite":
        return
    if session.info.get(WRITE_OPTION) and session.in_transaction():
        return
    if session.in_transaction():
        session.commit()
    session.connection(execution_options={WRITE_OPTION: True})
    session.info[WRITE_OPTION] = True


def _reset_write_flag(session, *_args) -> None:
    session.info.pop(WRITE_OPTION, None)


def init_session_events() -> None:
    """Forget the write flag when a transaction ends (commit or rollback)."""
    from sqlalchemy.orm import Session

    for name in ("after_commit", "after_rollback", "after_soft_rollback"):
        if not event.contains(Session, name, _reset_write_flag):
            event.listen(Session, name, _reset_write_flag)
