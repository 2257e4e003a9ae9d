"""PostgreSQL: the check on each new curation event is planned once per session, not once per row.

Why: 0009's trigger function found the archive's tables through ``EXECUTE format(...)`` with the
schema of the table that fired, so PostgreSQL parsed and planned its statements anew for every
event: about 0.37 ms a label, 0.37 s of every 1,000-ROI ingest (benchmarks/bench_growth.py
--compare-ingest). Now the function points its own ``search_path`` at that schema (``pg_catalog``
first, ``pg_temp`` last, reset when the function returns) and runs the same checks as ordinary
statements, whose plans PL/pgSQL keeps. Nothing a session creates can shadow the archive's tables:
a temporary table comes after the schema that holds them. The checks and their messages are those
of 0009; no schema is named in the SQL, so one migration still serves every schema. SQLite is
unchanged. Downgrading restores 0009's function.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

CHECK_INSERT = """
CREATE OR REPLACE FUNCTION segdb_curation_events_check_insert() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    roi_segmentation integer;
    frozen boolean;
    roles_required boolean;
    who text;
    pipeline boolean;
    last_revision integer;
BEGIN
    -- Until the function returns: the archive's tables, in the schema of the table that fired, before a
    -- session's temporary ones.
    PERFORM set_config('search_path', format('pg_catalog, %I, pg_temp', TG_TABLE_SCHEMA), true);
    SELECT (SELECT r.segmentation_id FROM rois r WHERE r.roi_id = NEW.roi_id),
           EXISTS (SELECT 1 FROM curation_freezes f WHERE f.segmentation_id = NEW.segmentation_id),
           COALESCE((SELECT s.setting_value = 'true' FROM archive_settings s
                     WHERE s.setting_name = 'curators_are_roles'), false),
           c.curator_name, c.is_pipeline
    INTO roi_segmentation, frozen, roles_required, who, pipeline
    FROM curators c WHERE c.curator_id = NEW.curator_id;
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
        SELECT max(e.roi_revision) INTO last_revision FROM curation_events e WHERE e.roi_id = NEW.roi_id;
        NEW.roi_revision := COALESCE(last_revision, 0) + 1;
        NEW.created_at := now();
        IF EXISTS (SELECT 1 FROM curation_events e WHERE e.batch_id = NEW.batch_id AND e.curator_id <> NEW.curator_id)
        THEN
            RAISE EXCEPTION 'segdb batch % is another curator''s; database role % may not add to it',
                NEW.batch_id, current_user;
        END IF;
        IF starts_with(NEW.batch_id, 'undo-') AND NOT EXISTS (
            SELECT 1 FROM curation_events e WHERE e.batch_id = substr(NEW.batch_id, 6) AND e.curator_id = NEW.curator_id
        ) THEN
            RAISE EXCEPTION 'segdb batch % undoes no batch of curator %', NEW.batch_id, who;
        END IF;
    END IF;
    RETURN NEW;
END;
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CHECK_INSERT)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        [function] = [s for s in _functions_of_0009() if "segdb_curation_events_check_insert()" in s]
        op.execute(function)


def _functions_of_0009() -> list[str]:
    path = Path(__file__).with_name("0009_curation_permissions.py")
    spec = importlib.util.spec_from_file_location("segdb_migration_0009", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.POSTGRES_FUNCTIONS
