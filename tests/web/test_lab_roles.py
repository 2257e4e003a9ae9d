"""PostgreSQL: a lab server connected as its own database role, on an archive that requires curators to
write as their roles, writes each logged-in curator's labels as that curator's role; a curator it may not
act as is refused in one line that says what to grant. Without require-roles nothing changes."""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Iterator

import httpx
import pytest
from postgres_roles import drop_roles, install_roles
from sqlalchemy.engine import make_url

import segdb
from segdb import curation
from segdb.synthetic import simulate_fov, synthetic_segmentation
from segdb.synthetic.groundtruth import ingest_simulated_fov
from segdb.web.users import add_user

from .conftest import running_server
from .test_login import label, log_in, page_token

PASSWORD = "lab-password"


@pytest.fixture
def lab_server(postgres_schema_url, tmp_path):
    """An archive whose server role is a member of the roles of alice and bob, not of carol's; dave has no
    role; all four are in the server's users file. Yields (owner's archive, record, server URL, names)."""
    suffix = uuid.uuid4().hex[:8]
    names = {who: f"{who}_{suffix}" for who in ("reader", "curator", "web", "alice", "bob", "carol", "dave")}
    owner = segdb.open(postgres_schema_url, storage_root=tmp_path / "arrays")
    record = owner.ingest(synthetic_segmentation(n_rois=4, n_frames=50, frame_shape=(32, 32)), subject="m1",
                          session="s1", progress=False)
    install_roles(owner, reader=names["reader"], curator=names["curator"],
                  logins=[names[who] for who in ("alice", "bob", "carol", "web")])
    with owner.catalog.engine.begin() as conn:
        conn.exec_driver_sql(f'GRANT "{names["alice"]}", "{names["bob"]}" TO "{names["web"]}"')
    users_file = tmp_path / "users.toml"
    for who in ("alice", "bob", "carol", "dave"):
        add_user(users_file, names[who], PASSWORD)
    as_web = segdb.open(make_url(postgres_schema_url).set(username=names["web"]).render_as_string(False),
                        storage_root=tmp_path / "arrays", create=False)
    assert as_web.catalog.role_name() == names["web"]
    try:
        with running_server(as_web, users=users_file) as url:
            yield owner, record, url, names
    finally:
        as_web.close()
        owner.close()
        drop_roles(postgres_schema_url, [names[who] for who in ("web", "alice", "bob", "carol", "curator", "reader")])


@contextlib.contextmanager
def _logged_in(url: str, name: str) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60) as client:
        assert log_in(client, url, name, PASSWORD).status_code == 303
        yield client


def test_each_curator_writes_as_their_own_role_when_the_archive_requires_it(lab_server):
    owner, record, url, names = lab_server
    seg = record.segmentation_id
    curation.require_curator_roles(owner)
    with _logged_in(url, names["alice"]) as alice, _logged_in(url, names["bob"]) as bob:
        stored = label(alice, url, seg, 0, "rejected", page_token(alice, url, seg), 1)
        assert stored.status_code == 200, stored.text
        stored = label(bob, url, seg, 0, "accepted", page_token(bob, url, seg), 2)
        assert stored.status_code == 200, stored.text
        undone = bob.post(f"{url}/api/segmentations/{seg}/undo", headers={"X-SegDB-Token": page_token(bob, url, seg)})
        assert undone.status_code == 200, undone.text
    history = [(e.curator, e.label) for e in owner.curation_history(seg, 0, plane="plane0")][1:]
    assert history == [(names["alice"], "rejected"), (names["bob"], "accepted"), (names["bob"], "cleared")]


def test_a_curator_the_server_may_not_act_as_is_refused_with_what_to_grant(lab_server):
    owner, record, url, names = lab_server
    seg = record.segmentation_id
    curation.require_curator_roles(owner)
    with _logged_in(url, names["carol"]) as carol, _logged_in(url, names["dave"]) as dave:
        refused = label(carol, url, seg, 1, "accepted", page_token(carol, url, seg), 1)
        assert refused.status_code == 409
        assert refused.json()["error"] == (
            f"cannot write as database role '{names['carol']}': database role '{names['web']}' is not a member of "
            f"role '{names['carol']}'; a database administrator runs GRANT \"{names['carol']}\" TO "
            f"\"{names['web']}\" (segdb_curator: the curator role of `segdb db roles`)")
        refused = label(dave, url, seg, 1, "accepted", page_token(dave, url, seg), 1)
        assert refused.status_code == 409
        assert f"there is no database role '{names['dave']}'; a database administrator runs CREATE ROLE " \
               f"\"{names['dave']}\" LOGIN IN ROLE segdb_curator; GRANT" in refused.json()["error"]
    assert len(owner.curation_history(seg, 1, plane="plane0")) == 1


def test_without_require_roles_the_server_writes_as_itself_under_the_curators_name(lab_server):
    owner, record, url, names = lab_server
    seg = record.segmentation_id
    with _logged_in(url, names["dave"]) as dave:
        stored = label(dave, url, seg, 2, "unsure", page_token(dave, url, seg), 1)
        assert stored.status_code == 200, stored.text
    assert owner.curation_history(seg, 2, plane="plane0")[-1].curator == names["dave"]


def test_a_tracked_cell_is_labelled_in_every_session_as_the_curators_role(lab_server):
    owner, _, url, names = lab_server
    fov = simulate_fov(n_sessions=2, n_cells=10, frame_shape=(64, 64), drift_px=2, rotation_deg=1, seed=5)
    ingest_simulated_fov(owner, fov, subject="m30", field_of_view="site1", first_day=dt.date(2026, 4, 1),
                         n_frames=100)
    owner.register_field_of_view("m30", "site1")
    run = owner.match_field_of_view("m30", "site1")
    track = owner.track(owner.tracks(run.matching_run_id, min_sessions=2)[0])
    curation.require_curator_roles(owner)
    with _logged_in(url, names["alice"]) as alice:
        page = alice.get(f"{url}/tracks/{track.track_id}")
        token = page.text.split("window.SEGDB_TOKEN = ")[1].split(";")[0].strip('"')
        seen = {m.roi_id: len(owner.curation_history(m.segmentation_id, m.roi, plane=m.plane)) for m in track.members}
        stored = alice.post(f"{url}/api/tracks/{track.track_id}/labels", headers={"X-SegDB-Token": token},
                            json={"label": "accepted", "revisions": seen})
        assert stored.status_code == 200, stored.text
        assert {event["curator"] for event in stored.json()} == {names["alice"]} and len(stored.json()) == 2
        undone = alice.post(f"{url}/api/tracks/{track.track_id}/undo", headers={"X-SegDB-Token": token})
        assert undone.status_code == 200, undone.text
    for member in track.members:
        history = owner.curation_history(member.segmentation_id, member.roi, plane=member.plane)
        assert [(e.curator, e.label) for e in history[-2:]] == [(names["alice"], "accepted"),
                                                                (names["alice"], "cleared")]
