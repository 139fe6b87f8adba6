"""Alembic environment: the platform's own settings decide the database."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context

from backend import domains
from backend.core.config import get_settings
from backend.core.db import engine_for, metadata

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

domains.import_table_modules()
target_metadata = metadata


# Tables that migrations manage by hand-written SQL and no ORM class describes (SQLite FTS5 keeps
# companion tables); autogenerate must not propose dropping them.
HAND_MANAGED_PREFIXES = ("catalog_model_search",)


def include_object(obj, name, type_, reflected, compare_to) -> bool:  # noqa: ANN001
    return not (type_ == "table" and reflected and compare_to is None and str(name).startswith(HAND_MANAGED_PREFIXES))


def _url() -> str:
    return config.attributes.get("url") or get_settings().sqlalchemy_url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True,
                      include_object=include_object)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = engine_for(_url())
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            include_object=include_object,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
