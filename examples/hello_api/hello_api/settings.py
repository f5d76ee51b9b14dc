"""Where the app's backing services are, read from its environment, and nothing more.

This module imports nothing heavy, so the web process starts as fast as before:
SQLAlchemy, psycopg, arq and redis are imported only by the code that uses them.
"""

import os
from urllib.parse import parse_qs, unquote, urlsplit


class NotConfigured(RuntimeError):
    """A backing service the request needs has no usable URL in the environment."""

    def __init__(self, variable: str, message: str):
        super().__init__(message)
        self.variable = variable


def _unset(variable: str, what: str) -> NotConfigured:
    return NotConfigured(variable, f"{variable} is not set: {what}")


def release() -> str:
    return os.environ.get("APP_RELEASE", "dev")


def database_url() -> str:
    """DATABASE_URL in SQLAlchemy's form, for psycopg 3.

    `postgresql://` and `postgres://` (no driver named) are read as `postgresql+psycopg://`,
    since psycopg 3 is the driver this app ships.
    """
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        raise _unset("DATABASE_URL", "this needs PostgreSQL (postgresql+psycopg://user:password@host:5432/db)")
    scheme, sep, rest = url.partition("://")
    if scheme in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    if scheme != "postgresql+psycopg" or not sep:
        raise NotConfigured("DATABASE_URL", f"DATABASE_URL names {scheme or 'no scheme'}: this needs PostgreSQL (postgresql+psycopg://...)")
    return url


def redis_url() -> str:
    url = os.environ.get("REDIS_URL", "")
    if not url:
        raise _unset("REDIS_URL", "this needs Redis (redis://:password@127.0.0.1:6379/0 or unix://:password@/path.sock?db=0)")
    return url


def redis_settings_kwargs(url: str) -> dict:
    """The keyword arguments of arq's RedisSettings for a redis://, rediss:// or unix:// URL.

    arq's own RedisSettings.from_dsn reads these schemes too, but leaves a
    percent-encoded password as it is (a vault password with `@`, `/` or `%` has to be
    encoded in a URL), so the URL is read here and each part decoded.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise NotConfigured("REDIS_URL", f"REDIS_URL names {parts.scheme or 'no scheme'}: this needs redis://, rediss:// or unix://")
    query = parse_qs(parts.query)
    if "db" in query:
        database = int(query["db"][0])
    elif parts.scheme != "unix" and parts.path.strip("/"):
        database = int(parts.path.strip("/"))
    else:
        database = 0
    kwargs = {
        "username": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
        "database": database,
        "ssl": parts.scheme == "rediss",
    }
    if parts.scheme == "unix":
        if not parts.path:
            raise NotConfigured("REDIS_URL", "REDIS_URL names no socket (unix://:password@/run/redis/redis-server.sock?db=0)")
        kwargs["unix_socket_path"] = unquote(parts.path)
    else:
        kwargs["host"] = parts.hostname or "localhost"
        kwargs["port"] = parts.port or 6379
    return kwargs
