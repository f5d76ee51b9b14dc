"""The app's tables and its engine, made on first use from DATABASE_URL.

SQLAlchemy 2.0 style: typed declarative models, `select()`, a Session per unit of
work. The engine is synchronous (psycopg 3) and made once per process, lazily, so a
process that never touches the database never connects nor imports SQLAlchemy.
The tables themselves are created by the Alembic migrations in `migrations/`.
"""

import threading
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, String, create_engine, func
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from hello_api import settings


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    release: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Heartbeat(Base):
    __tablename__ = "heartbeats"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    host: Mapped[str] = mapped_column(String(255), index=True)
    release: Mapped[str] = mapped_column(String(200))
    beat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class JobDone(Base):
    """One row per job done. The job id is the key, so a job that arq runs again
    (it delivers at least once) never counts twice; `job_try` tells which try did it."""

    __tablename__ = "jobs_done"

    job_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)
    result: Mapped[int] = mapped_column(BigInteger)
    release: Mapped[str] = mapped_column(String(200))
    host: Mapped[str] = mapped_column(String(255))
    worker_pid: Mapped[int] = mapped_column(Integer)
    job_try: Mapped[int] = mapped_column(Integer)
    done_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


_engine: Engine | None = None
_lock = threading.Lock()


def engine() -> Engine:
    global _engine
    if _engine is None:
        url = settings.database_url()
        with _lock:
            if _engine is None:
                # pool_pre_ping: a connection that PostgreSQL closed (a restart, a
                # failover, an idle timeout) is replaced before a request gets it.
                _engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5, pool_recycle=1800)
    return _engine


def session() -> Session:
    return Session(engine(), expire_on_commit=False)


def dispose() -> None:
    if _engine is not None:
        _engine.dispose()
