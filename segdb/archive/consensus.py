"""Current curation state, derived in SQL from the append-only event log.

A curator's current label of a ROI is their latest event on it ('cleared' withdraws
it). A consensus policy combines the curators' current labels into one:

- ``latest``: the most recent current label by anyone;
- ``majority``: the label most human curators hold (a tie is 'unsure');
- ``unanimous``: the label every human curator holds ('unsure' when they differ);
- ``curator:NAME``: NAME's label where NAME has one, else ``latest`` (NAME must be a curator
  of the archive).

For ``majority`` and ``unanimous`` the pipeline's decision counts only while no
person has labelled the ROI: people overrule the pipeline, not outvote it. A ROI
nobody has labelled has no consensus (None); segdb counts it as accepted, as a
pipeline that rejects nothing accepts everything.

Tag events ('tagged' / 'untagged' a free label such as "L2/3") are in the same log but are no
label: no policy reads them. They do count in a ROI's revision, which numbers all its events. A
tag is on a ROI while any curator's latest event for that (ROI, tag) is 'tagged'.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Select, and_, case, func, literal, not_, select
from sqlalchemy.orm import Session

from segdb.catalog import models as m
from segdb.errors import InvalidInputError, NotFoundError

POLICIES = ("latest", "majority", "unanimous", "curator:NAME")
E, C = m.CurationEvent, m.Curator


def check_policy(policy: str, db: Session | None = None) -> str:
    """``policy`` if it is one of :data:`POLICIES`; with ``db``, ``curator:NAME`` must name a curator
    of the archive (else every label would silently be the latest)."""
    if policy in ("latest", "majority", "unanimous"):
        return policy
    name = policy.removeprefix("curator:") if isinstance(policy, str) else ""
    if not (isinstance(policy, str) and policy.startswith("curator:") and name):
        raise InvalidInputError(
            f"curation policy {policy!r} is not one of latest, majority, unanimous or curator:NAME "
            "(e.g. curator:alice)"
        )
    if db is not None and db.scalar(select(C.curator_id).where(C.curator_name == name)) is None:
        names = list(db.scalars(select(C.curator_name).order_by(C.is_pipeline, C.curator_name).limit(_SHOWN + 1)))
        there = ", ".join(names[:_SHOWN]) + (", …" if len(names) > _SHOWN else "") if names else "none yet"
        raise NotFoundError(
            f"curation policy {policy!r}: the archive has no curator {name!r}; its curators are {there} "
            "(`segdb curate status SEGMENTATION` shows each one's labels)"
        )
    return policy


_SHOWN = 12


LABEL_CODES = {"cleared": 0, "accepted": 1, "rejected": 2, "unsure": 3}


def _code(label_column):
    return case(*((label_column == name, value) for name, value in LABEL_CODES.items()), else_=0)


def _label(code_column):
    return case(*((code_column == value, literal(name)) for name, value in LABEL_CODES.items() if value))


def _scope(scope):
    """Events of one segmentation (an id) or of the ROIs a subquery selects."""
    if isinstance(scope, int):
        return E.segmentation_id == scope
    return E.roi_id.in_(scope)


def _last_per_curator(segmentation_id):
    """Each curator's last label on each ROI, and how many events (tag events too) they wrote there.

    ``last`` packs the last label event's id and label as ``event_id * 4 + code``, so the largest
    value is the newest event and ``last % 4`` its label: one GROUP BY over the covering
    (segmentation, roi, curator, event, label) index, no window functions and no join back
    to the events, on SQLite and PostgreSQL alike. A curator who only tagged the ROI has
    ``last`` NULL: no label.
    """
    return (
        select(
            E.roi_id,
            E.curator_id,
            func.max(case((E.label.in_(m.CURATION_LABELS), E.event_id * 4 + _code(E.label)))).label("last"),
            func.count().label("events"),
        )
        .where(_scope(segmentation_id))
        .group_by(E.roi_id, E.curator_id)
        .subquery("last_per_curator")
    )


def current_labels(segmentation_id: int) -> Select:
    """(roi_id, curator_id, curator_name, is_pipeline, label, event_id) of each curator's current label."""
    last = _last_per_curator(segmentation_id)
    return (
        select(
            last.c.roi_id,
            last.c.curator_id,
            C.curator_name,
            C.is_pipeline,
            _label(last.c.last % 4).label("label"),
            (last.c.last // 4).label("event_id"),
        )
        .join(C, C.curator_id == last.c.curator_id)
        .where(last.c.last % 4 != LABEL_CODES["cleared"])
    )


def consensus(segmentation_id, policy: str = "latest") -> Select:
    """(roi_id, label, revision) for every ROI of a segmentation (or of a ROI-id subquery) that has events.

    The label is None where every curator has withdrawn theirs.
    """
    policy = check_policy(policy)
    last = _last_per_curator(segmentation_id)
    rows = (
        select(last.c.roi_id, last.c.events, last.c.last, (last.c.last % 4).label("code"), C.curator_name,
               C.is_pipeline)
        .join(C, C.curator_id == last.c.curator_id)
        .subquery("current")
    )
    live = rows.c.code != LABEL_CODES["cleared"]
    human = and_(live, not_(rows.c.is_pipeline))
    latest = _label(func.max(case((live, rows.c.last))) % 4)

    def human_count(label: str | None):
        condition = human if label is None else and_(human, rows.c.code == LABEL_CODES[label])
        return func.sum(case((condition, 1), else_=0))

    total = human_count(None)
    accepted, rejected, unsure = human_count("accepted"), human_count("rejected"), human_count("unsure")
    if policy == "latest":
        label = latest
    elif policy.startswith("curator:"):
        named = func.max(case((and_(live, rows.c.curator_name == policy.removeprefix("curator:")), rows.c.code)))
        label = func.coalesce(_label(named), latest)
    elif policy == "majority":
        voted = case(
            (and_(accepted > rejected, accepted > unsure), literal("accepted")),
            (and_(rejected > accepted, rejected > unsure), literal("rejected")),
            else_=literal("unsure"),
        )
        label = case((total > 0, voted), else_=latest)
    else:
        voted = case(
            (accepted == total, literal("accepted")),
            (rejected == total, literal("rejected")),
            else_=literal("unsure"),
        )
        label = case((total > 0, voted), else_=latest)
    return select(
        rows.c.roi_id.label("roi_id"), label.label("label"), func.sum(rows.c.events).label("revision")
    ).group_by(rows.c.roi_id)


def accepted_clause(segmentation_id, policy: str):
    """SQL condition on rois: accepted under the policy (no decision counts as accepted)."""
    state = consensus(segmentation_id, policy).subquery("state")
    not_accepted = select(state.c.roi_id).where(state.c.label != "accepted")
    return m.Roi.roi_id.not_in(not_accepted)


def tag_states(segmentation_id, tags: Sequence[str] | None = None) -> Select:
    """(roi_id, curator_id, tag) of each tag a curator has on a ROI of a segmentation (an id, or a list or
    SELECT of ids); with ``tags``, of those tags only.

    ``last`` packs each curator's last event on a (ROI, tag) as ``event_id * 2 + tagged``, as
    :func:`_last_per_curator` packs labels: the tag is on while that last event is 'tagged'.
    """
    tagged = case((E.label == "tagged", 1), else_=0)
    last = (
        select(E.roi_id, E.curator_id, E.tag, func.max(E.event_id * 2 + tagged).label("last"))
        .where(E.segmentation_id == segmentation_id if isinstance(segmentation_id, int)
               else E.segmentation_id.in_(segmentation_id))
        # 'tag IS NOT NULL' in every case: it is what lets the database use the index of tag events.
        .where(E.tag.is_not(None), *([E.tag.in_(list(tags))] if tags is not None else []))
        .group_by(E.roi_id, E.curator_id, E.tag)
        .subquery("last_per_tag")
    )
    return select(last.c.roi_id, last.c.curator_id, last.c.tag).where(last.c.last % 2 == 1)


def tagged_clause(segmentation_ids, tags: Sequence[str]) -> ColumnElement[bool]:
    """SQL condition on rois: the ROI carries at least one of ``tags`` (in segmentations ``segmentation_ids``,
    a list of ids or a SELECT of them)."""
    ids = segmentation_ids if isinstance(segmentation_ids, Select) else [int(i) for i in segmentation_ids]
    on = tag_states(ids, tags).subquery("tags_on")
    return m.Roi.roi_id.in_(select(on.c.roi_id))
