"""Shared curation: labels and free tags with full history, consensus policies, and no lost decisions.

Every decision is an appended event; nothing is overwritten. Writers take the
ROI rows' locks (PostgreSQL) or the database's write lock (SQLite) and append
the next revision of each ROI; a writer that says which revision it saw gets a
ConflictError if someone labelled that ROI since.

May import: :mod:`segdb.archive` (its public names and ``archive.values``) and
:mod:`segdb.catalog` for its own tables (curators, events, freezes), through the
archive's units of work. Never the extractors, tracking or ingest.
"""

from segdb.curation.store import (
    LABELS,
    TAG_LABELS,
    CurationEventRecord,
    RoiCurationStatus,
    RoiTags,
    check_tag,
    curate,
    curate_across,
    curation_history,
    curation_status,
    curation_version,
    current_curator,
    export_curation_csv,
    freeze_curation,
    import_curation_csv,
    import_iscell,
    require_curator_roles,
    roi_tags,
    roles_sql,
    tag_rois,
    undo_curation,
)

__all__ = [
    "LABELS",
    "TAG_LABELS",
    "CurationEventRecord",
    "RoiCurationStatus",
    "RoiTags",
    "check_tag",
    "current_curator",
    "curate",
    "curate_across",
    "curation_history",
    "curation_status",
    "curation_version",
    "export_curation_csv",
    "freeze_curation",
    "import_curation_csv",
    "import_iscell",
    "require_curator_roles",
    "roi_tags",
    "roles_sql",
    "tag_rois",
    "undo_curation",
]
