"""Schema versions: which Alembic revision this segdb expects, and how to get there.

Opening an archive never migrates it: a catalog that is behind raises
:class:`~segdb.errors.SchemaVersionError` naming ``segdb db upgrade``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

from segdb.errors import SchemaVersionError

if TYPE_CHECKING:
    from alembic.config import Config

# The head revision of migrations/ that these models describe; a test pins it to
# Alembic's own head so the two cannot drift apart.
SCHEMA_REVISION = "0013"

# Alembic's table holding the revision a database is at.
VERSION_TABLE = "alembic_version"


def migrations_directory() -> Path:
    """Where the Alembic scripts are: the top-level migrations/ folder, installed as ``segdb._migrations``.

    It is found as data, not imported: the scripts import the catalog, not the other way round.
    """
    spec = importlib.util.find_spec("segdb._migrations")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    # A source checkout on the path as it is (an editable install in compat mode): the folder
    # beside the package.
    beside = Path(__file__).resolve().parents[2] / "migrations"
    if (beside / "env.py").is_file():
        return beside
    raise SchemaVersionError("segdb's migrations are missing from this installation; reinstall segdb")


def alembic_config(engine: Engine) -> Config:
    """An Alembic config for this catalog, built at run time (no alembic.ini needed)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_directory()))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_script_only_config())
    return script.get_current_head()


def _script_only_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_directory()))
    return config


def current_revision(engine: Engine) -> str | None:
    """The catalog's schema revision (Alembic's version table), or None for a database without one.

    Read with plain SQL, so that opening an archive does not import Alembic.
    """
    with engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return None
        revisions = list(connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())
    if len(revisions) > 1:
        raise SchemaVersionError(f"the catalog has several schema revisions {revisions}; it was not made by segdb")
    return revisions[0] if revisions else None


def catalog_has_tables(engine: Engine) -> bool:
    with engine.connect() as connection:
        return bool(inspect(connection).get_table_names())


def check_schema(engine: Engine, where: str) -> None:
    """Raise SchemaVersionError unless the catalog is exactly at SCHEMA_REVISION."""
    revision = current_revision(engine)
    if revision == SCHEMA_REVISION:
        return
    if revision is None and catalog_has_tables(engine):
        raise _unversioned(engine, where)
    if revision is None:
        raise SchemaVersionError(
            f"{where} is not a segdb catalog (it has no schema version); create one with "
            f"`segdb init {where} --storage-root FOLDER`"
        )
    known = _known_revisions()
    if revision in known and known.index(revision) < known.index(SCHEMA_REVISION):
        raise SchemaVersionError(
            f"the catalog at {where} is at schema revision {revision}, behind this segdb's {SCHEMA_REVISION}; "
            f"back it up, then run `segdb db upgrade --archive {where}`"
        )
    raise _unknown_revision(revision, where)


def check_upgradable(engine: Engine, where: str) -> None:
    """Raise SchemaVersionError unless `segdb db upgrade` can migrate this catalog: a database with tables but
    no schema version is not segdb's, and a revision this segdb does not know is a newer segdb's (or damage)."""
    revision = current_revision(engine)
    if revision is None and catalog_has_tables(engine):
        raise _unversioned(engine, where)
    if revision is not None and revision not in _known_revisions():
        raise _unknown_revision(revision, where)


def _unversioned(engine: Engine, where: str) -> SchemaVersionError:
    with engine.connect() as connection:
        tables = sorted(inspect(connection).get_table_names())
    shown = ", ".join(tables[:5]) + (", …" if len(tables) > 5 else "")
    return SchemaVersionError(
        f"{where} holds tables ({shown}) but no segdb schema version ({VERSION_TABLE}), so it is not a segdb "
        "catalog or has lost its version; segdb changes nothing in it: point --archive at a segdb catalog, or "
        "restore this one from a backup"
    )


def _unknown_revision(revision: str, where: str) -> SchemaVersionError:
    return SchemaVersionError(
        f"the catalog at {where} is at schema revision {revision!r}, which this segdb (schema {SCHEMA_REVISION}) "
        "does not know: a newer segdb made it, or its version was damaged; upgrade segdb to open it, or restore "
        "the catalog from a backup"
    )


def _known_revisions() -> list[str]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_script_only_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(engine), revision)


def schema_drift(engine: Engine) -> list[str]:
    """Differences between the live tables and the models (empty when they agree)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from segdb.catalog.models import Base

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return [str(diff) for diff in compare_metadata(context, Base.metadata)]
