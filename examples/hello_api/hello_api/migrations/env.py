"""Alembic's environment for hello_api: the database is DATABASE_URL's, the models are hello_api.db's.

Migrations run online only, in one transaction that first takes a PostgreSQL
advisory lock, so two hosts that migrate one database at once run them one
after the other (the second then finds nothing to do).
"""

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool, text

from hello_api import db, settings

# Any constant of our own: the key of the advisory lock migrations hold.
MIGRATION_LOCK_KEY = 0x68656C6C6F

target_metadata = db.Base.metadata

# alembic.ini's logging: each step on stderr (`Running upgrade 0001 -> 0002`).
if context.config.config_file_name is not None:
    fileConfig(context.config.config_file_name, disable_existing_loggers=False)


def run_migrations_online() -> None:
    engine = create_engine(settings.database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("hello_api's migrations run online only: `python -m hello_api.migrate` with DATABASE_URL set")
run_migrations_online()
