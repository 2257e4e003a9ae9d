"""Writing and reading the curation history of an archive."""

from __future__ import annotations

import csv
import datetime as dt
import os
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from segdb.archive import Archive, Record, SegmentationRef
from segdb.archive.consensus import check_policy, consensus, current_labels, tag_states
from segdb.archive.values import as_utc, check_text, current_user, roi_key_value
from segdb.catalog import models as m
from segdb.catalog.engine import LOCK_TIMEOUT_VARIABLE, POSTGRES_LOCK_NOT_AVAILABLE, lock_timeout_ms
from segdb.catalog.queries import get_or_create
from segdb.errors import ConflictError, InvalidInputError, NotFoundError

#: Labels a curator gives; 'cleared' (withdrawing one's label) is written only by undo.
LABELS = ("accepted", "rejected", "unsure")
#: Labels of tag events: a curator puts a tag on a ROI or takes theirs off.
TAG_LABELS = m.TAG_LABELS
CURATORS_ARE_ROLES = "curators_are_roles"


@dataclass(frozen=True)
class CurationEventRecord(Record):
    event_id: int
    plane: str
    roi: int | str
    curator: str
    label: str
    note: str | None
    revision: int
    batch_id: str
    created_at: dt.datetime
    #: The tag a 'tagged' / 'untagged' event is about; None for an accept/reject label.
    tag: str | None = None


@dataclass(frozen=True)
class RoiCurationStatus(Record):
    """A ROI's label under a policy, its revision, each curator's label, and (when asked for) its tags."""

    plane: str
    roi: int | str
    label: str | None
    revision: int
    by_curator: dict[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] | None = None


@dataclass(frozen=True)
class RoiTags(Record):
    """The tags on one ROI, and for each tag the curators who put it on (and have not taken it off)."""

    plane: str
    roi: int | str
    tags: tuple[str, ...]
    by_tag: dict[str, tuple[str, ...]] = field(default_factory=dict)


def current_curator(name: str | None = None) -> str:
    """The curator writing: ``name``, else $SEGDB_CURATOR, else the OS user."""
    curator = name or os.environ.get("SEGDB_CURATOR") or current_user()
    if not curator or not curator.strip() or curator != curator.strip():
        raise InvalidInputError(f"curator name {curator!r} is not usable; set SEGDB_CURATOR to your name")
    try:
        check_text("curator name", curator, max_length=m.Curator.curator_name.type.length)
    except InvalidInputError as error:
        raise InvalidInputError(f"{error}; set SEGDB_CURATOR to your name") from None
    if curator.startswith(m.PIPELINE_CURATOR_PREFIX):
        raise InvalidInputError(
            f"curator name {curator!r} is reserved for pipelines' own decisions; set SEGDB_CURATOR to your name"
        )
    return curator


# -- writing ----------------------------------------------------------------------------------------


def curate(
    archive: Archive,
    segmentation: SegmentationRef,
    rois: Sequence[int | str] | int | str,
    label: str,
    *,
    plane: str | None = None,
    note: str | None = None,
    curator: str | None = None,
    expected_revision: int | Mapping[Any, int] | None = None,
) -> list[CurationEventRecord]:
    """Label ROIs (by their keys) as accepted, rejected or unsure; returns the events appended.

    With ``expected_revision`` (one number for all, or a mapping key -> revision), the write
    is refused with ConflictError if any of those ROIs was labelled by anyone since; without
    it the label is appended after whatever is there.
    """
    keys = [rois] if isinstance(rois, (int, str, np.integer)) else list(rois)
    if not keys:
        raise InvalidInputError("no ROIs to label; give at least one ROI key")
    return curate_groups(archive, segmentation, [(plane, keys, label)], note=note, curator=curator,
                         expected_revision=expected_revision)


def curate_groups(
    archive: Archive,
    segmentation: SegmentationRef,
    groups: Sequence[tuple[str | None, Sequence[int | str], str]],
    *,
    note: str | None = None,
    curator: str | None = None,
    expected_revision: int | Mapping[Any, int] | None = None,
) -> list[CurationEventRecord]:
    """Label several groups of ROIs, each ``(plane, keys, label)``, in one transaction and one batch.

    Every group is checked before anything is written: one unknown ROI and nothing is labelled.
    An undo takes the whole batch back.
    """
    return curate_across(archive, [(segmentation, plane, keys, label) for plane, keys, label in groups],
                         note=note, curator=curator, expected_revision=expected_revision)


def curate_across(
    archive: Archive,
    groups: Sequence[tuple[SegmentationRef, str | None, Sequence[int | str], str]],
    *,
    note: str | None = None,
    curator: str | None = None,
    expected_revision: int | Mapping[Any, int] | Sequence[int | Mapping[Any, int] | None] | None = None,
) -> list[CurationEventRecord]:
    """Label groups of ROIs, each ``(segmentation, plane, keys, label)``, of any segmentations, in one
    transaction and one batch: a cell tracked across sessions is labelled once for all of them.

    ``expected_revision`` is one value for every group (a number or a mapping key -> revision), or a
    list with one such value per group. A frozen segmentation, an unknown ROI or a stale revision
    anywhere and nothing is written; an undo in any of the segmentations takes the whole batch back.
    Events are returned in the order of the groups.
    """
    for _, _, keys, label in groups:
        if label not in LABELS:
            raise InvalidInputError(f"label {label!r} is not one of {LABELS}")
        if not keys:
            raise InvalidInputError("no ROIs to label; give at least one ROI key")
    if isinstance(expected_revision, (list, tuple)):
        if len(expected_revision) != len(groups):
            raise InvalidInputError(
                f"expected_revision lists {len(expected_revision)} values for {len(groups)} groups; give one per group"
            )
        expected_per_group = list(expected_revision)
    else:
        expected_per_group = [expected_revision] * len(groups)
    name = current_curator(curator)
    batch = uuid.uuid4().hex

    def write(db: Session) -> list[CurationEventRecord]:
        located = []
        for (segmentation, plane, keys, label), expected in zip(groups, expected_per_group):
            seg_id = archive.resolve_segmentation(db, segmentation)
            _check_writable(db, seg_id, name)
            _, plane_id, plane_name = archive.resolve_plane(db, seg_id, plane)
            roi_ids = _roi_ids(db, seg_id, plane_id, plane_name, keys)
            located.append((seg_id, plane_name, roi_ids, label, _expected(expected, keys, roi_ids)))
        curator_id = get_or_create(db, m.Curator, {"curator_name": name}, {"is_pipeline": False})
        records = []
        for seg_id, plane_name, roi_ids, label, expected in located:
            records += _append(db, seg_id, plane_name, roi_ids, [label] * len(roi_ids), curator_id, name, note,
                               batch, expected)
        return records

    return archive.catalog.write_with_retry(write, attempts=8)


def tag_rois(
    archive: Archive,
    segmentation: SegmentationRef,
    rois: Sequence[int | str] | int | str,
    tag: str,
    *,
    plane: str | None = None,
    note: str | None = None,
    curator: str | None = None,
    remove: bool = False,
) -> list[CurationEventRecord]:
    """Put a free tag (e.g. "L2/3", "interneuron") on ROIs (by their keys), or with ``remove`` take the
    curator's own tag off them; returns the events appended, one batch.

    Tag events sit in the curation history beside labels: frozen segmentations and role rules refuse
    them alike, an undo takes the batch back, and each takes the ROI's next revision. They never
    change a ROI's label or its consensus. A tag stays on a ROI while any curator has it on.
    """
    check_tag(tag)
    keys = [rois] if isinstance(rois, (int, str, np.integer)) else list(rois)
    if not keys:
        raise InvalidInputError(f"no ROIs to tag {tag!r}; give at least one ROI key")
    name = current_curator(curator)
    label = "untagged" if remove else "tagged"
    batch = uuid.uuid4().hex

    def write(db: Session) -> list[CurationEventRecord]:
        seg_id = archive.resolve_segmentation(db, segmentation)
        _check_writable(db, seg_id, name)
        _, plane_id, plane_name = archive.resolve_plane(db, seg_id, plane)
        roi_ids = _roi_ids(db, seg_id, plane_id, plane_name, keys)
        curator_id = get_or_create(db, m.Curator, {"curator_name": name}, {"is_pipeline": False})
        return _append(db, seg_id, plane_name, roi_ids, [label] * len(roi_ids), curator_id, name, note, batch, None,
                       tags=[tag] * len(roi_ids))

    return archive.catalog.write_with_retry(write, attempts=8)


def check_tag(tag: Any) -> str:
    """``tag`` if it can be a ROI tag: non-empty text without surrounding spaces or invisible characters,
    within the catalog's column."""
    if not isinstance(tag, str) or not tag.strip():
        raise InvalidInputError(f"the tag is {tag!r}; give a non-empty tag, e.g. 'L2/3' or 'interneuron'")
    if tag != tag.strip():
        raise InvalidInputError(f"the tag {tag!r} has surrounding spaces; give it as {tag.strip()!r}")
    check_text("tag", tag, max_length=m.CurationEvent.tag.type.length)
    return tag


def roi_tags(archive: Archive, segmentation: SegmentationRef, plane: str | None = None) -> list[RoiTags]:
    """The tags on each cell ROI that has any (of one plane, or of every plane), in catalog order.

    A tag is on a ROI while any curator's latest event for that (ROI, tag) is 'tagged'.
    """
    with archive.catalog.reading() as db:
        seg_id = archive.resolve_segmentation(db, segmentation)
        if plane is not None:
            archive.resolve_plane(db, seg_id, plane)
        on = tag_states(seg_id).subquery("tags_on")
        query = (
            select(m.Roi.roi_id, m.Roi.roi_key, m.Roi.roi_key_type, m.ImagingPlane.plane_name, on.c.tag,
                   m.Curator.curator_name)
            .join(on, on.c.roi_id == m.Roi.roi_id)
            .join(m.Curator, m.Curator.curator_id == on.c.curator_id)
            .join(m.Roi.plane)
            .join(m.SegmentationPlane, (m.SegmentationPlane.segmentation_id == m.Roi.segmentation_id)
                  & (m.SegmentationPlane.plane_id == m.Roi.plane_id))
            .where(m.Roi.segmentation_id == seg_id)
            .order_by(m.SegmentationPlane.plane_index, m.Roi.mask_index, on.c.tag, m.Curator.curator_name)
        )
        if plane is not None:
            query = query.where(m.ImagingPlane.plane_name == plane)
        rows = db.execute(query).all()
    by_roi: dict[int, tuple[str, int | str, dict[str, list[str]]]] = {}
    for roi_id, key, key_type, plane_name, tag, name in rows:
        entry = by_roi.setdefault(roi_id, (plane_name, roi_key_value(key, key_type), {}))
        entry[2].setdefault(tag, []).append(name)
    return [
        RoiTags(plane=plane_name, roi=key, tags=tuple(by_tag),
                by_tag={tag: tuple(names) for tag, names in by_tag.items()})
        for plane_name, key, by_tag in by_roi.values()
    ]


def undo_curation(
    archive: Archive, segmentation: SegmentationRef, *, curator: str | None = None
) -> list[CurationEventRecord]:
    """Take back the curator's last labelling (or tagging) in this segmentation by appending the labels
    (or tag events) they had before.

    Nothing is deleted: the undo is itself a batch of events (a ROI the curator had not
    labelled before gets 'cleared', which withdraws their label; a tag they had not put on or
    taken off before gets 'untagged').
    """
    name = current_curator(curator)

    def write(db: Session) -> list[CurationEventRecord]:
        seg_id = archive.resolve_segmentation(db, segmentation)
        _check_writable(db, seg_id, name)
        curator_id = db.scalar(select(m.Curator.curator_id).where(m.Curator.curator_name == name))
        batches = [] if curator_id is None else list(
            db.execute(
                select(m.CurationEvent.batch_id, func.max(m.CurationEvent.event_id).label("last"))
                .where(m.CurationEvent.segmentation_id == seg_id, m.CurationEvent.curator_id == curator_id)
                .group_by(m.CurationEvent.batch_id)
                .order_by(func.max(m.CurationEvent.event_id).desc())
            ).all()
        )
        undone = {b.removeprefix("undo-") for b, _ in batches if b.startswith("undo-")}
        target = next((b for b, _ in batches if not b.startswith("undo-") and b not in undone), None)
        if target is None:
            raise NotFoundError(f"{name} has no labelling or tagging to undo in segmentation {seg_id}")
        events = db.execute(
            select(m.CurationEvent)
            .where(m.CurationEvent.batch_id == target, m.CurationEvent.curator_id == curator_id)
            .order_by(m.CurationEvent.event_id)
        ).scalars().all()
        labels = [_label_before(db, event, curator_id) for event in events]
        plane_names = _plane_names_of(db, [e.roi_id for e in events])
        # A batch may span segmentations (a tracked cell labelled once): each is checked and undone.
        for other in sorted({e.segmentation_id for e in events} - {seg_id}):
            _check_writable(db, other, name)
        records = []
        by_plane = defaultdict(list)
        for event, label in zip(events, labels):
            by_plane[event.segmentation_id, plane_names[event.roi_id]].append((event.roi_id, label, event.tag))
        for (event_seg_id, plane_name), items in by_plane.items():
            records += _append(
                db, event_seg_id, plane_name, [r for r, _, _ in items], [lab for _, lab, _ in items], curator_id,
                name, f"undo of {target}", f"undo-{target}", None, tags=[t for _, _, t in items],
            )
        return records

    return archive.catalog.write_with_retry(write, attempts=8)


def _label_before(db: Session, event: m.CurationEvent, curator_id: int) -> str:
    """What undoing ``event`` appends: the curator's previous label of the ROI ('cleared' if none) or, for a
    tag event, their previous event on that tag ('untagged' if none)."""
    E = m.CurationEvent
    same_kind = E.label.in_(m.CURATION_LABELS) if event.tag is None else E.tag == event.tag
    before = db.scalar(
        select(E.label)
        .where(E.roi_id == event.roi_id, E.curator_id == curator_id, E.event_id < event.event_id, same_kind)
        .order_by(E.event_id.desc())
        .limit(1)
    )
    return before or ("cleared" if event.tag is None else "untagged")


def freeze_curation(archive: Archive, segmentation: SegmentationRef, *, reason: str = "",
                    curator: str | None = None) -> None:
    """Close a segmentation's curation: every later label is refused (by a database trigger too)."""
    name = current_curator(curator)

    def write(db: Session) -> None:
        seg_id = archive.resolve_segmentation(db, segmentation)
        if db.get(m.CurationFreeze, seg_id) is None:
            db.add(m.CurationFreeze(segmentation_id=seg_id, frozen_by=name, reason=reason))

    archive.catalog.write_with_retry(write)


def require_curator_roles(archive: Archive, required: bool = True) -> None:
    """On PostgreSQL, require every curator to write as the database role of the same name."""
    if archive.catalog.dialect != "postgresql":
        raise InvalidInputError(
            "requiring curators to be database roles needs PostgreSQL; an embedded SQLite archive has no roles"
        )

    def write(db: Session) -> None:
        row = db.get(m.ArchiveSetting, CURATORS_ARE_ROLES)
        value = "true" if required else "false"
        if row is None:
            db.add(m.ArchiveSetting(setting_name=CURATORS_ARE_ROLES, setting_value=value))
        else:
            row.setting_value = value

    archive.catalog.write_with_retry(write)


def _append(db: Session, seg_id: int, plane_name: str, roi_ids: list[int], labels: list[str], curator_id: int,
            curator_name: str, note: str | None, batch: str, expected: dict[int, int] | None, *,
            tags: Sequence[str | None] | None = None) -> list[CurationEventRecord]:
    """Append one event per ROI (``tags[i]`` with a tag event's label), each at the ROI's next revision."""
    tags = [None] * len(roi_ids) if tags is None else list(tags)
    ordered = sorted(set(roi_ids))
    if db.get_bind().dialect.name == "postgresql":
        _lock_rois(db, ordered)
    keys = dict(db.execute(select(m.Roi.roi_id, m.Roi.roi_key).where(m.Roi.roi_id.in_(ordered))).all())
    revisions = dict(
        db.execute(
            select(m.CurationEvent.roi_id, func.max(m.CurationEvent.roi_revision))
            .where(m.CurationEvent.roi_id.in_(ordered))
            .group_by(m.CurationEvent.roi_id)
        ).all()
    )
    if expected is not None:
        stale = [(roi_id, want, revisions.get(roi_id, 0)) for roi_id, want in expected.items()
                 if revisions.get(roi_id, 0) != want]
        if stale:
            details = "; ".join(f"ROI {keys[r]!r}: you saw revision {w}, it is now at {h}" for r, w, h in stale[:5])
            raise ConflictError(
                f"someone labelled these ROIs since you looked ({details}); reload their history "
                "(segdb curate history) and label again"
            )
    now = dt.datetime.now(dt.timezone.utc)
    rows = []
    for roi_id, label, tag in zip(roi_ids, labels, tags):
        revisions[roi_id] = revisions.get(roi_id, 0) + 1
        rows.append({
            "segmentation_id": seg_id, "roi_id": roi_id, "curator_id": curator_id, "label": label, "tag": tag,
            "note": note, "roi_revision": revisions[roi_id], "batch_id": batch, "created_at": now,
        })
    # An archive that requires roles has its trigger set revision and time: the records show what was stored.
    E = m.CurationEvent
    result = db.execute(
        E.__table__.insert().returning(E.event_id, E.roi_revision, E.created_at, sort_by_parameter_order=True), rows
    )
    stored = result.all()
    key_types = dict(db.execute(select(m.Roi.roi_id, m.Roi.roi_key_type).where(m.Roi.roi_id.in_(ordered))).all())
    return [
        CurationEventRecord(
            event_id=event_id, plane=plane_name, roi=roi_key_value(keys[row["roi_id"]], key_types[row["roi_id"]]),
            curator=curator_name, label=row["label"], note=note, revision=revision, batch_id=batch,
            created_at=as_utc(created_at), tag=row["tag"],
        )
        for (event_id, revision, created_at), row in zip(stored, rows)
    ]


def _lock_rois(db: Session, roi_ids: list[int]) -> None:
    """Queue up behind other writers of these ROIs on PostgreSQL, for at most $SEGDB_LOCK_TIMEOUT seconds.

    The locks are taken in id order, so two writers cannot deadlock; advisory locks need no UPDATE
    right on rois (SQLite writers already hold the write lock). Any role that can connect can take
    an advisory lock, so the wait is bounded, and a refusal names who holds the lock.
    """
    timeout_ms = lock_timeout_ms()
    db.execute(text(f"SET LOCAL lock_timeout = {timeout_ms}"))
    try:
        with db.begin_nested():
            db.execute(
                select(func.pg_advisory_xact_lock(m.Roi.roi_id)).where(m.Roi.roi_id.in_(roi_ids)).order_by(m.Roi.roi_id)
            ).all()
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != POSTGRES_LOCK_NOT_AVAILABLE:
            raise
        holders = db.execute(
            text(
                "SELECT DISTINCT l.objid::bigint AS roi_id, a.usename, a.application_name, a.xact_start "
                "FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.classid = 0 "
                "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND l.objid::bigint = ANY(:ids) AND l.pid <> pg_backend_pid() ORDER BY 1 LIMIT 3"
            ),
            {"ids": roi_ids},
        ).all()
        who = "; ".join(_lock_holder(h) for h in holders) or "by a session that has since let go"
        raise ConflictError(
            f"another session held the lock of ROIs being labelled for over {timeout_ms / 1000:g} s "
            f"({LOCK_TIMEOUT_VARIABLE}): {who}; try again when it is done, ask its owner or the database "
            "administrator to end it (pg_terminate_backend), or raise "
            f"{LOCK_TIMEOUT_VARIABLE} (seconds; 0 waits forever)"
        ) from None
    db.execute(text("SET LOCAL lock_timeout = DEFAULT"))


def _lock_holder(holder: Any) -> str:
    since = f"since {as_utc(holder.xact_start):%Y-%m-%d %H:%M:%S} UTC" if holder.xact_start else \
        "since a time this role cannot see"
    return (f"ROI id {holder.roi_id} by database role {holder.usename or '?'} "
            f"(application {holder.application_name or 'unnamed'!r}, {since})")


def _check_writable(db: Session, seg_id: int, curator: str) -> None:
    frozen = db.get(m.CurationFreeze, seg_id)
    if frozen is not None:
        raise ConflictError(
            f"the curation of segmentation {seg_id} was frozen by {frozen.frozen_by} on "
            f"{as_utc(frozen.frozen_at):%Y-%m-%d %H:%M}{f' ({frozen.reason})' if frozen.reason else ''}; "
            "no more labels or tags can be added"
        )
    if db.get_bind().dialect.name == "postgresql":
        setting = db.get(m.ArchiveSetting, CURATORS_ARE_ROLES)
        if setting is not None and setting.setting_value == "true":
            role = db.scalar(text("SELECT current_user"))
            if role != curator:
                raise ConflictError(
                    f"this archive requires curators to write as themselves: curator {curator!r} is connected as "
                    f"database role {role!r}; set SEGDB_CURATOR={role} or connect as {curator}"
                )


# -- reading ----------------------------------------------------------------------------------------


def curation_history(archive: Archive, segmentation: SegmentationRef, roi: int | str, *,
                     plane: str | None = None) -> list[CurationEventRecord]:
    """Every event on one ROI (labels and tag events), oldest first."""
    with archive.catalog.reading() as db:
        seg_id, plane_id, plane_name = archive.resolve_plane(db, segmentation, plane)
        [roi_id] = _roi_ids(db, seg_id, plane_id, plane_name, [roi])
        key, key_type = db.execute(select(m.Roi.roi_key, m.Roi.roi_key_type).where(m.Roi.roi_id == roi_id)).one()
        rows = db.execute(
            select(m.CurationEvent, m.Curator.curator_name)
            .join(m.Curator, m.Curator.curator_id == m.CurationEvent.curator_id)
            .where(m.CurationEvent.roi_id == roi_id)
            .order_by(m.CurationEvent.event_id)
        ).all()
        return [
            CurationEventRecord(
                event_id=e.event_id, plane=plane_name, roi=roi_key_value(key, key_type), curator=name, label=e.label,
                note=e.note, revision=e.roi_revision, batch_id=e.batch_id, created_at=as_utc(e.created_at),
                tag=e.tag,
            )
            for e, name in rows
        ]


def curation_status(archive: Archive, segmentation: SegmentationRef, *, policy: str = "latest",
                    plane: str | None = None, since_event: int | None = None,
                    with_tags: bool = False) -> list[RoiCurationStatus]:
    """Every cell ROI's consensus label under ``policy``, its revision, and each curator's current label.

    With ``since_event`` (an event id, as in :func:`curation_version`), only the ROIs labelled after
    that event: what a reader who saw the curation then must read again. With ``with_tags``, each
    status carries the ROI's tags too, read in the same transaction (otherwise ``tags`` is None).
    """
    with archive.catalog.reading() as db:
        check_policy(policy, db)
        seg_id = archive.resolve_segmentation(db, segmentation)
        if plane is not None:
            archive.resolve_plane(db, seg_id, plane)
        state = consensus(seg_id, policy).subquery("state")
        query = (
            select(m.Roi.roi_id, m.Roi.roi_key, m.Roi.roi_key_type, m.ImagingPlane.plane_name, state.c.label,
                   state.c.revision)
            .join(m.Roi.plane)
            .join(m.SegmentationPlane, (m.SegmentationPlane.segmentation_id == m.Roi.segmentation_id)
                  & (m.SegmentationPlane.plane_id == m.Roi.plane_id))
            .outerjoin(state, state.c.roi_id == m.Roi.roi_id)
            .where(m.Roi.segmentation_id == seg_id, m.Roi.kind == "cell")
            .order_by(m.SegmentationPlane.plane_index, m.Roi.mask_index)
        )
        if plane is not None:
            query = query.where(m.ImagingPlane.plane_name == plane)
        current = current_labels(seg_id).subquery("current")
        labels = select(current.c.roi_id, current.c.curator_name, current.c.label)
        if since_event is not None:
            changed = select(m.CurationEvent.roi_id).where(m.CurationEvent.segmentation_id == seg_id,
                                                          m.CurationEvent.event_id > int(since_event))
            query = query.where(m.Roi.roi_id.in_(changed))
            labels = labels.where(current.c.roi_id.in_(changed))
        rows = db.execute(query).all()
        per_curator: dict[int, dict[str, str]] = defaultdict(dict)
        for roi_id, name, label in db.execute(labels):
            per_curator[roi_id][name] = label
        tags: dict[int, list[str]] | None = None
        if with_tags:
            on = tag_states(seg_id).subquery("tags_on")
            tagged = select(on.c.roi_id, on.c.tag).distinct().order_by(on.c.roi_id, on.c.tag)
            if since_event is not None:
                tagged = tagged.where(on.c.roi_id.in_(changed))
            tags = defaultdict(list)
            for roi_id, tag in db.execute(tagged):
                tags[roi_id].append(tag)
    return [
        RoiCurationStatus(plane=plane_name, roi=roi_key_value(key, key_type), label=label, revision=int(revision or 0),
                          by_curator=per_curator.get(roi_id, {}),
                          tags=None if tags is None else tuple(tags.get(roi_id, ())))
        for roi_id, key, key_type, plane_name, label, revision in rows
    ]


def curation_version(archive: Archive, segmentation: SegmentationRef) -> str:
    """A value that changes whenever a label or a tag event is added to the segmentation: its count of events
    and the last event id. Events are only appended, so a reader can ask "anything new?" without reading labels."""
    with archive.catalog.reading() as db:
        seg_id = archive.resolve_segmentation(db, segmentation)
        count, last = db.execute(
            select(func.count(), func.max(m.CurationEvent.event_id)).where(m.CurationEvent.segmentation_id == seg_id)
        ).one()
        return f"{count}-{last or 0}"


# -- exchange ---------------------------------------------------------------------------------------


def export_curation_csv(archive: Archive, segmentation: SegmentationRef, path: str | os.PathLike, *,
                        policy: str = "latest") -> int:
    """Write plane, roi, label (under ``policy``), revision and each curator's label; returns rows written."""
    status = curation_status(archive, segmentation, policy=policy)
    curators = sorted({name for s in status for name in s.by_curator})
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["plane", "roi", "label", "revision", *curators])
        for s in status:
            writer.writerow([s.plane, s.roi, s.label or "", s.revision, *(s.by_curator.get(c, "") for c in curators)])
    return len(status)


def import_curation_csv(archive: Archive, segmentation: SegmentationRef, path: str | os.PathLike, *,
                        curator: str | None = None, note: str | None = None) -> list[CurationEventRecord]:
    """Label ROIs from a CSV with columns plane, roi, label (as written by export) as one curator.

    All rows or none: the file is read and every ROI found before anything is written, in one transaction.
    """
    by_plane_label: dict[tuple[str | None, str], list[str]] = defaultdict(list)
    for plane, key, label in _curation_rows(path):
        by_plane_label[(plane, label)].append(key)
    groups = [(plane, keys, label) for (plane, label), keys in by_plane_label.items()]
    try:
        return curate_groups(archive, segmentation, groups, note=note or f"imported from {Path(path).name}",
                             curator=curator)
    except NotFoundError as error:
        raise NotFoundError(f"{path}: {error}; nothing was imported") from None


def _curation_rows(path: str | os.PathLike) -> list[tuple[str | None, str, str]]:
    """(plane, roi key, label) of each labelled row of a curation CSV, or an error naming the file and line."""
    try:
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            missing = {"roi", "label"} - set(reader.fieldnames or [])
            if missing:
                raise InvalidInputError(
                    f"{path} lacks the column(s) {sorted(missing)}; a curation CSV has columns plane, roi, label "
                    "(as `segdb curate export` writes it)"
                )
            numbered = [(number, row) for number, row in enumerate(reader, start=2)
                        if (row.get("label") or "").strip()]
    except FileNotFoundError:
        raise NotFoundError(
            f"curation CSV {path} does not exist; give the path of a CSV with columns plane, roi, label"
        ) from None
    except IsADirectoryError:
        raise InvalidInputError(f"{path} is a folder; give the path of a curation CSV file") from None
    except (UnicodeDecodeError, csv.Error) as error:
        raise InvalidInputError(
            f"{path} is not a readable CSV ({error}); give a CSV with columns plane, roi, label"
        ) from None
    if not numbered:
        raise InvalidInputError(f"{path} has no row with a label; nothing to import")
    rows, seen = [], {}
    for number, row in numbered:
        label = row["label"].strip()
        if label not in LABELS:
            raise InvalidInputError(f"{path} line {number}: label {label!r} is not one of {LABELS}")
        plane, key = (row.get("plane") or "").strip() or None, (row["roi"] or "").strip()
        if not key:
            raise InvalidInputError(f"{path} line {number}: the roi column is empty; give the ROI's key")
        if (plane, key) in seen:
            raise InvalidInputError(
                f"{path} line {number}: ROI {key!r} is labelled again (first on line {seen[plane, key]}); "
                "keep one row per ROI"
            )
        seen[plane, key] = number
        rows.append((plane, key, label))
    return rows


def import_iscell(archive: Archive, segmentation: SegmentationRef, path: str | os.PathLike, *,
                  plane: str | None = None, curator: str | None = None) -> list[CurationEventRecord]:
    """A suite2p GUI session's iscell.npy comes back in as a curator's labels (ROI i is row i), in one transaction."""
    iscell = _iscell_column(path)
    handle = archive.plane_handle(segmentation, plane)
    if iscell.shape != (len(handle.roi_keys),):
        raise InvalidInputError(
            f"{path} holds {iscell.shape[0]} ROIs but plane {handle.plane_name!r} of segmentation "
            f"{handle.segmentation_id} has {len(handle.roi_keys)}; give the iscell.npy of this plane"
        )
    keys = list(handle.roi_keys)
    groups = []
    for label, chosen in (("accepted", iscell > 0.5), ("rejected", iscell <= 0.5)):
        picked = [key for key, yes in zip(keys, chosen) if yes]
        if picked:
            groups.append((handle.plane_name, picked, label))
    return curate_groups(archive, handle.segmentation_id, groups, curator=curator,
                         note=f"imported from {Path(path).name}")


def _iscell_column(path: str | os.PathLike) -> np.ndarray:
    """The first column of an iscell.npy (one row per ROI: is-cell flag, probability), or an error naming the file."""
    what = "an iscell.npy holds one row per ROI: (is cell 0/1, probability)"
    try:
        iscell = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise NotFoundError(f"iscell file {path} does not exist; give the iscell.npy of the plane") from None
    except IsADirectoryError:
        raise InvalidInputError(f"{path} is a folder; give the iscell.npy file inside it") from None
    except (ValueError, EOFError, OSError) as error:
        raise InvalidInputError(f"{path} is not a readable .npy array ({error}); {what}") from None
    if not isinstance(iscell, np.ndarray) or iscell.dtype.kind not in "biuf":
        dtype = getattr(iscell, "dtype", type(iscell).__name__)
        raise InvalidInputError(f"{path} holds {dtype} values, not numbers; {what}")
    if iscell.ndim == 2:
        iscell = iscell[:, 0]
    if iscell.ndim != 1:
        raise InvalidInputError(f"{path} has shape {iscell.shape}; {what}")
    if iscell.dtype.kind == "f" and not np.all(np.isfinite(iscell)):
        raise InvalidInputError(f"{path} holds NaN or infinite values; {what}")
    return iscell


def roles_sql(schema: str = "public", *, reader: str = "segdb_reader", curator_role: str = "segdb_curator") -> str:
    """SQL that sets up a read-only role and a curator role (which may only append curation events).

    It can be run again: roles that exist are kept, grants that exist are granted again.
    """
    quote = postgresql.dialect().identifier_preparer.quote
    schema_q, reader_q, curator_q = quote(schema), quote(reader), quote(curator_role)

    def create_role(name: str, quoted: str) -> str:
        literal = name.replace("'", "''")
        return (f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{literal}') THEN "
                f"CREATE ROLE {quoted} NOLOGIN; END IF; END $$;")

    return f"""-- segdb roles for schema {schema}: run as the schema's owner, with CREATEROLE.
{create_role(reader, reader_q)}
GRANT USAGE ON SCHEMA {schema_q} TO {reader_q};
GRANT SELECT ON ALL TABLES IN SCHEMA {schema_q} TO {reader_q};
{create_role(curator_role, curator_q)}
GRANT {reader_q} TO {curator_q};
GRANT INSERT ON {schema_q}.curation_events, {schema_q}.curators TO {curator_q};
GRANT USAGE ON SEQUENCE {schema_q}.curation_events_event_id_seq, {schema_q}.curators_curator_id_seq TO {curator_q};
-- Nothing else is granted. Every role may still create temporary tables (PostgreSQL grants TEMP
-- on a database to PUBLIC); segdb's triggers name their tables with the schema and pin their
-- search_path, so a temporary table cannot stand in for one. Triggers also keep a curator from
-- creating pipeline curators or, once curators must be roles, anyone but themselves.
-- Each person then gets a login role named as their curator name, e.g.:
--   CREATE ROLE alice LOGIN IN ROLE {curator_q};
-- and `segdb curate require-roles` makes the archive refuse labels written under another name.
"""


# -- lookups ----------------------------------------------------------------------------------------


def _roi_ids(db: Session, seg_id: int, plane_id: int, plane_name: str, keys: Sequence[Any]) -> list[int]:
    rows = db.execute(
        select(m.Roi.roi_id, m.Roi.roi_key, m.Roi.roi_key_type).where(
            m.Roi.segmentation_id == seg_id, m.Roi.plane_id == plane_id, m.Roi.kind == "cell",
            m.Roi.roi_key.in_([str(k) for k in keys]),
        )
    ).all()
    typed = {(key_type, key): roi_id for roi_id, key, key_type in rows}
    by_text = defaultdict(list)
    for roi_id, key, _ in rows:
        by_text[key].append(roi_id)
    ids, missing = [], []
    for key in keys:
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            found = typed.get(("int", str(int(key))))
        elif isinstance(key, str) and len(by_text.get(key, [])) == 1:
            # A key typed on the command line is text; it names an int key "3" as well as a str key "3".
            found = by_text[key][0]
        else:
            found = typed.get(("str", str(key)))
        if found is None:
            missing.append(key)
        else:
            ids.append(found)
    if missing:
        count = db.scalar(select(func.count()).select_from(m.Roi).where(
            m.Roi.segmentation_id == seg_id, m.Roi.plane_id == plane_id, m.Roi.kind == "cell"))
        raise NotFoundError(
            f"ROI(s) {missing[:10]} are not in plane {plane_name!r} of segmentation {seg_id} (it has {count} ROIs; "
            f"list them with `segdb ls rois -s {seg_id} --plane {plane_name}`)"
        )
    if len(set(ids)) != len(ids):
        raise InvalidInputError(f"ROIs {list(keys)} name the same ROI more than once; name each once")
    return ids


def _expected(expected: int | Mapping[Any, int] | None, keys: Sequence[Any], roi_ids: list[int]) -> dict[int, int] | None:
    if expected is None:
        return None
    if isinstance(expected, Mapping):
        lookup = {str(k): v for k, v in expected.items()}
        missing = [k for k in keys if str(k) not in lookup]
        if missing:
            raise InvalidInputError(f"expected_revision has no revision for ROI(s) {missing[:10]}")
        return {roi_id: int(lookup[str(key)]) for key, roi_id in zip(keys, roi_ids)}
    return {roi_id: int(expected) for roi_id in roi_ids}


def _plane_names_of(db: Session, roi_ids: list[int]) -> dict[int, str]:
    return dict(
        db.execute(
            select(m.Roi.roi_id, m.ImagingPlane.plane_name)
            .join(m.Roi.plane)
            .where(m.Roi.roi_id.in_(roi_ids))
        ).all()
    )
