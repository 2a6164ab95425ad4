"""Engines, migrations and the per-transaction access context (PostgreSQL row-level security).

``sqlite:///FILE`` (the default) and ``postgresql+psycopg://...`` (PostGIS) share one schema;
migrations are Alembic's, run by :func:`open_database`. On PostgreSQL each transaction carries the
caller's grants in the setting ``crossings.grants``, which the row-level security policies read.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, event, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from crossings.errors import ConfigError
from crossings.service.models import Policy
from crossings.service.policy import PolicyTable, Principal

__all__ = [
    "open_database",
    "grants_setting",
    "SYSTEM",
    "load_policy",
    "is_postgres",
    "system_session",
]

MIGRATIONS = Path(__file__).parent / "migrations"
#: The grants setting that lets an import or a migration see every row.
SYSTEM = "*system*"


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith(("postgresql", "postgres")):
        url = url.replace("postgres://", "postgresql://", 1)
        if url.startswith("postgresql://"):
            url = url.replace("postgresql://", "postgresql+psycopg://", 1)
        return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    raise ConfigError(
        f"must start with sqlite:/// or postgresql://; got {url.split(':')[0]!r}", field="--db"
    )


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def open_database(url: str, *, upgrade: bool = True) -> sessionmaker[Session]:
    """Open (and migrate) the database at ``url``; return a session factory."""
    engine = _engine(url)
    if is_postgres(engine):
        _refuse_rls_bypass(engine)
    if upgrade:
        migrate(engine)
    factory = sessionmaker(engine, expire_on_commit=False)
    if is_postgres(engine):
        event.listen(factory, "after_begin", _apply_grants)
    return factory


def _refuse_rls_bypass(engine: Engine) -> None:
    # Superusers and BYPASSRLS roles skip row-level security: the service must not run as one.
    with engine.connect() as connection:
        user, bypass = connection.execute(
            text(
                "SELECT current_user, rolsuper OR rolbypassrls FROM pg_roles "
                "WHERE rolname = current_user"
            )
        ).one()
    if bypass:
        raise ConfigError(
            f"connects as {user!r}, a superuser or BYPASSRLS role, which row-level security does "
            "not restrict; connect as the database's owner role without those attributes "
            "(docs/service.md)",
            field="--db",
        )


def grants_setting(principal: Principal) -> str:
    """``role:COUNTRY,...`` of the caller's view grants, as the row-level security reads it."""
    return ",".join(f"{g.role}:{g.country}" for g in principal.grants if "view" in g.verbs)


def _apply_grants(session: Session, _transaction, connection) -> None:
    value = session.info.get("grants", "")
    connection.execute(text("SELECT set_config('crossings.grants', :v, true)"), {"v": value})


def system_session(factory: sessionmaker[Session]) -> Session:
    """A session that sees every row (imports, user management): never for a caller's request."""
    session = factory()
    session.info["grants"] = SYSTEM
    return session


def load_policy(session: Session) -> PolicyTable:
    rows = session.scalars(select(Policy)).all()
    return PolicyTable(
        {(r.layer, r.sensitivity, r.role): (r.in_country, r.elsewhere, r.grid_km) for r in rows}
    )
