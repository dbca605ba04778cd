from __future__ import annotations

from alembic import context
from sqlalchemy import pool

from storage.db import make_engine
from storage import platform_models  # noqa: F401 - its tables are in Base.metadata too
from storage.models import Base
from storage.slack_workspaces import owned_by_parley  # slack_sdk's store tables are not Parley's models

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True, include_name=owned_by_parley)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite", include_name=owned_by_parley)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
