"""The catalog: everything about segmentations that lives in SQL.

- :mod:`~segdb.catalog.models` — the tables (subjects to ROIs, properties, curation,
  tracks, and the array files the rows point at);
- :mod:`~segdb.catalog.engine` — engines and units of work, the one place that talks to
  the database driver and turns its errors into segdb errors;
- :mod:`~segdb.catalog.schema` — schema versions, kept by Alembic;
- :mod:`~segdb.catalog.queries` — small statements every layer above needs, written once.

It imports only SQLAlchemy, Alembic and :mod:`segdb.errors`: never :mod:`segdb.arrays`
nor any layer above.
"""
