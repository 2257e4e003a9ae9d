"""PostgreSQL: the curation triggers cannot be misled, and curators cannot pick what the database decides.

Why: the triggers of 0003 named their tables without a schema, and PostgreSQL looks in a
session's temporary schema first, so a curator's ``CREATE TEMP TABLE archive_settings`` or
``curation_freezes`` switched the role check or a freeze off for that session. A curator could
also create curators (any name, or a pipeline, whose events skip the role check) and choose an
event's revision, time and batch, so another curator's undo could take back labels they never gave.

Now every trigger function has a pinned ``search_path`` (``pg_catalog, pg_temp``: pg_temp last)
and reads the archive's tables qualified with the schema of the table that fired it, so nothing a
session creates shadows them. An event's ROI must belong to its segmentation. Events by a pipeline
curator, and pipeline curators themselves, come only from a role that may ingest (INSERT on rois).
A role that may not ingest creates only ordinary curators, and, when the archive requires curators
to be roles, only the one named as itself. When roles are required, the database sets each event's
revision (the ROI's last plus one) and time, and refuses a batch another curator used, or an
``undo-`` of a batch that is not the writer's own. SQLite is unchanged. Downgrading restores 0003's
functions.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# No schema is named in this SQL: the functions find their tables through TG_TABLE_SCHEMA, so one
# migration serves every schema an archive lives in.
PINNED = "SET search_path = pg_catalog, pg_temp"

POSTGRES_FUNCTIONS = [
    f"""
    CREATE OR REPLACE FUNCTION segdb_curation_events_append_only() RETURNS trigger LANGUAGE plpgsql {PINNED} AS $$
    BEGIN
        IF TG_OP = 'DELETE' AND pg_trigger_depth() > 1 THEN
            -- a delete cascading from its ROI or segmentation being deleted
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'segdb curation history is append-only: % of curation events is refused', TG_OP
            USING HINT = 'label again (segdb curate ...) to change a decision; the history keeps both';
    END;
    $$
    """,
    f"""
    CREATE OR REPLACE FUNCTION segdb_curation_events_check_insert() RETURNS trigger LANGUAGE plpgsql {PINNED} AS $$
    DECLARE
        roi_segmentation integer;
        frozen boolean;
        roles_required boolean;
        who text;
        pipeline boolean;
        last_revision integer;
        found_batch boolean;
    BEGIN
        EXECUTE format($q$
            SELECT (SELECT r.segmentation_id FROM %1$I.rois r WHERE r.roi_id = $2),
                   EXISTS (SELECT 1 FROM %1$I.curation_freezes f WHERE f.segmentation_id = $1),
                   COALESCE((SELECT s.setting_value = 'true' FROM %1$I.archive_settings s
                             WHERE s.setting_name = 'curators_are_roles'), false),
                   c.curator_name, c.is_pipeline,
                   (SELECT max(e.roi_revision) FROM %1$I.curation_events e WHERE e.roi_id = $2)
            FROM %1$I.curators c WHERE c.curator_id = $3
        $q$, TG_TABLE_SCHEMA)
        INTO roi_segmentation, frozen, roles_required, who, pipeline, last_revision
        USING NEW.segmentation_id, NEW.roi_id, NEW.curator_id;
        IF frozen THEN
            RAISE EXCEPTION 'segdb curation of segmentation % is frozen', NEW.segmentation_id;
        END IF;
        IF roi_segmentation IS DISTINCT FROM NEW.segmentation_id AND roi_segmentation IS NOT NULL THEN
            RAISE EXCEPTION 'segdb ROI % belongs to segmentation %, not %', NEW.roi_id, roi_segmentation,
                NEW.segmentation_id;
        END IF;
        IF pipeline AND NOT has_table_privilege(format('%I.rois', TG_TABLE_SCHEMA), 'INSERT') THEN
            RAISE EXCEPTION 'segdb pipeline curator % labels only at ingest; database role % may not write as it',
                who, current_user USING HINT = 'label as yourself: set SEGDB_CURATOR to your database role';
        END IF;
        IF roles_required THEN
            IF NOT pipeline AND who IS DISTINCT FROM current_user THEN
                RAISE EXCEPTION 'segdb curator % may not write as database role %', who, current_user
                    USING HINT = 'this archive requires curators to write as themselves: set SEGDB_CURATOR to your database role';
            END IF;
            NEW.roi_revision := COALESCE(last_revision, 0) + 1;
            NEW.created_at := now();
            EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.curation_events WHERE batch_id = $1 AND curator_id <> $2)',
                           TG_TABLE_SCHEMA) INTO found_batch USING NEW.batch_id, NEW.curator_id;
            IF found_batch THEN
                RAISE EXCEPTION 'segdb batch % is another curator''s; database role % may not add to it',
                    NEW.batch_id, current_user;
            END IF;
            IF starts_with(NEW.batch_id, 'undo-') THEN
                EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.curation_events WHERE batch_id = $1 AND curator_id = $2)',
                               TG_TABLE_SCHEMA) INTO found_batch USING substr(NEW.batch_id, 6), NEW.curator_id;
                IF NOT found_batch THEN
                    RAISE EXCEPTION 'segdb batch % undoes no batch of curator %', NEW.batch_id, who;
                END IF;
            END IF;
        END IF;
        RETURN NEW;
    END;
    $$
    """,
    f"""
    CREATE OR REPLACE FUNCTION segdb_curators_check_insert() RETURNS trigger LANGUAGE plpgsql {PINNED} AS $$
    DECLARE
        roles_required boolean;
    BEGIN
        IF has_table_privilege(format('%I.rois', TG_TABLE_SCHEMA), 'INSERT') THEN
            -- a role that may ingest: it writes the pipelines' decisions
            RETURN NEW;
        END IF;
        IF NEW.is_pipeline OR starts_with(NEW.curator_name, 'pipeline:') THEN
            RAISE EXCEPTION 'segdb pipeline curators are created only at ingest; database role % may not create %',
                current_user, NEW.curator_name USING HINT = 'label as yourself: set SEGDB_CURATOR to your database role';
        END IF;
        EXECUTE format($q$SELECT COALESCE((SELECT setting_value = 'true' FROM %I.archive_settings
                                           WHERE setting_name = 'curators_are_roles'), false)$q$, TG_TABLE_SCHEMA)
        INTO roles_required;
        IF roles_required AND NEW.curator_name IS DISTINCT FROM current_user THEN
            RAISE EXCEPTION 'segdb database role % may create only its own curator (%), not %', current_user,
                current_user, NEW.curator_name
                USING HINT = 'this archive requires curators to write as themselves: set SEGDB_CURATOR to your database role';
        END IF;
        NEW.created_at := now();
        RETURN NEW;
    END;
    $$
    """,
    """
    CREATE TRIGGER curators_check_insert BEFORE INSERT ON curators
    FOR EACH ROW EXECUTE FUNCTION segdb_curators_check_insert()
    """,
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES_FUNCTIONS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS curators_check_insert ON curators")
        op.execute("DROP FUNCTION IF EXISTS segdb_curators_check_insert()")
        for statement in _functions_of_0003():
            op.execute(statement.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))


def _functions_of_0003() -> list[str]:
    """0003's own trigger functions (not its CREATE TRIGGERs: those triggers stay)."""
    path = Path(__file__).with_name("0003_curation_history.py")
    spec = importlib.util.spec_from_file_location("segdb_migration_0003", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [s for s in module.POSTGRES_FUNCTIONS if "CREATE FUNCTION" in s]
