"""Current curation state, derived in SQL from the append-only event log.

A curator's current label of a ROI is their latest event on it ('cleared' withdraws
it). A consensus policy combines the curators' current labels into one:

- ``latest``: the most recent current label by anyone;
- ``majority``: the label most human curators hold (a tie is 'unsure');
- ``unanimous``: the label every human curator holds ('unsure' when they differ);
- ``curator:NAME``: NAME's label where NAME has one, else ``latest``.

For ``majority`` and ``unanimous`` the pipeline's decision counts only while no
person has labelled the ROI: people overrule the pipeline, not outvote it. A ROI
nobody has labelled has no consensus (None); segdb counts it as accepted, as a
pipeline that rejects nothing accepts everything.
"""

from __future__ import annotations

from sqlalchemy import Select, and_, case, func, literal, not_, select

from segdb.catalog import models as m
from segdb.errors import InvalidInputError

POLICIES = ("latest", "majority", "unanimous", "curator:NAME")
E, C = m.CurationEvent, m.Curator


def check_policy(policy: str) -> str:
    if policy in ("latest", "majority", "unanimous"):
        return policy
    if policy.startswith("curator:") and policy.removeprefix("curator:"):
        return policy
    raise InvalidInputError(
        f"curation policy {policy!r} is not one of latest, majority, unanimous or curator:NAME "
        "(e.g. curator:alice)"
    )


def current_labels(segmentation_id: int) -> Select:
    """(roi_id, curator_id, curator_name, is_pipeline, label, event_id) of each curator's latest label."""
    ranked = (
        select(
            E.roi_id,
            E.curator_id,
            E.label,
            E.event_id,
            func.row_number().over(partition_by=(E.roi_id, E.curator_id), order_by=E.event_id.desc()).label("rn"),
        )
        .where(E.segmentation_id == segmentation_id)
        .subquery("ranked")
    )
    return (
        select(
            ranked.c.roi_id,
            ranked.c.curator_id,
            C.curator_name,
            C.is_pipeline,
            ranked.c.label,
            ranked.c.event_id,
        )
        .join(C, C.curator_id == ranked.c.curator_id)
        .where(ranked.c.rn == 1, ranked.c.label != "cleared")
    )


def consensus(segmentation_id: int, policy: str = "latest") -> Select:
    """(roi_id, label, revision) for every ROI of a segmentation with at least one current label."""
    policy = check_policy(policy)
    current = current_labels(segmentation_id).subquery("current")
    latest_ranked = select(
        current.c.roi_id,
        current.c.label,
        func.row_number().over(partition_by=current.c.roi_id, order_by=current.c.event_id.desc()).label("rn"),
    ).subquery("latest_ranked")
    latest = select(latest_ranked.c.roi_id, latest_ranked.c.label).where(latest_ranked.c.rn == 1).subquery("latest")
    revisions = (
        select(E.roi_id, func.max(E.roi_revision).label("revision"))
        .where(E.segmentation_id == segmentation_id)
        .group_by(E.roi_id)
        .subquery("revisions")
    )

    if policy == "latest":
        label = latest.c.label
        source = latest
    elif policy.startswith("curator:"):
        name = policy.removeprefix("curator:")
        named = select(current.c.roi_id, current.c.label).where(current.c.curator_name == name).subquery("named")
        source = latest.outerjoin(named, named.c.roi_id == latest.c.roi_id)
        label = func.coalesce(named.c.label, latest.c.label)
    else:
        counts = _counts(current)
        source = latest.join(counts, counts.c.roi_id == latest.c.roi_id)
        people = counts.c.human_total > 0
        accepted, rejected, unsure = (counts.c[f"human_{x}"] for x in ("accepted", "rejected", "unsure"))
        if policy == "majority":
            voted = case(
                (and_(accepted > rejected, accepted > unsure), literal("accepted")),
                (and_(rejected > accepted, rejected > unsure), literal("rejected")),
                else_=literal("unsure"),
            )
        else:
            voted = case(
                (accepted == counts.c.human_total, literal("accepted")),
                (rejected == counts.c.human_total, literal("rejected")),
                else_=literal("unsure"),
            )
        label = case((people, voted), else_=latest.c.label)
    return (
        select(latest.c.roi_id.label("roi_id"), label.label("label"), revisions.c.revision)
        .select_from(source)
        .join(revisions, revisions.c.roi_id == latest.c.roi_id)
    )


def _counts(current):
    human = not_(current.c.is_pipeline)

    def count(label: str):
        return func.sum(case((and_(human, current.c.label == label), 1), else_=0))

    return (
        select(
            current.c.roi_id,
            func.sum(case((human, 1), else_=0)).label("human_total"),
            count("accepted").label("human_accepted"),
            count("rejected").label("human_rejected"),
            count("unsure").label("human_unsure"),
        )
        .group_by(current.c.roi_id)
        .subquery("counts")
    )


def accepted_clause(segmentation_id: int, policy: str):
    """SQL condition on rois: accepted under the policy (no decision counts as accepted)."""
    state = consensus(segmentation_id, policy).subquery("state")
    not_accepted = select(state.c.roi_id).where(state.c.label != "accepted")
    return m.Roi.roi_id.not_in(not_accepted)
