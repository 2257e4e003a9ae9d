"""`segdb serve --users` over HTTP, on SQLite and PostgreSQL: curators of a users file log in with a
session cookie, every write carries that session's own token, labels are the logged-in curator's, and
the server listens beyond this machine only as such a lab server."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time

import httpx
import pytest

from segdb.cli import main
from segdb.synthetic import synthetic_segmentation
from segdb.web.login import MAX_FAILED_LOGINS, SESSION_COOKIE, safe_next
from segdb.web.users import add_user

from .conftest import running_server

PASSWORDS = {"alice": "alice-password", "bob": "bob-password"}


def _client() -> httpx.Client:
    # Generous: the machine may be busy with other tests.
    return httpx.Client(timeout=60)


@pytest.fixture
def users_file(tmp_path):
    path = tmp_path / "users.toml"
    for name, password in PASSWORDS.items():
        add_user(path, name, password)
    return path


@pytest.fixture
def lab(archive, users_file):
    source = synthetic_segmentation(n_rois=5, n_frames=200, seed=3, frame_shape=(48, 48))
    record = archive.ingest(source, subject="m1", session="s1", progress=False)
    with running_server(archive, users=users_file) as url:
        yield archive, record, url


def log_in(client: httpx.Client, url: str, name: str, password: str, next_path: str = "/") -> httpx.Response:
    """Log in through the form, as a browser does: fetch it (its token and cookie), then post it."""
    form = client.get(f"{url}/login", params={"next": next_path})
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)[1]
    return client.post(f"{url}/login", data={"name": name, "password": password, "login_token": token,
                                             "next": next_path})


def page_token(client: httpx.Client, url: str, segmentation: int) -> str:
    page = client.get(f"{url}/segmentations/{segmentation}")
    assert page.status_code == 200, page.text
    return page.text.split("window.SEGDB_TOKEN = ")[1].split(";")[0].strip('"')


def label(client, url, segmentation, key, value, token, revision, **headers) -> httpx.Response:
    return client.post(f"{url}/api/segmentations/{segmentation}/planes/plane0/labels",
                       json={"key": key, "label": value, "revision": revision},
                       headers={"X-SegDB-Token": token, **headers})


def test_every_page_but_the_login_form_asks_to_log_in_first(lab):
    _, record, url = lab
    seg = record.segmentation_id
    with _client() as client:
        page = client.get(f"{url}/segmentations/{seg}?plane=plane0")
        assert page.status_code == 303
        assert page.headers["location"] == f"/login?next=/segmentations/{seg}%3Fplane%3Dplane0"
        api = client.get(f"{url}/api/segmentations/{seg}/planes/plane0/state")
        assert api.status_code == 401 and "log in first" in api.json()["error"]
        write = label(client, url, seg, 0, "accepted", "anything", 1)
        assert write.status_code == 401
        assert client.get(f"{url}/static/segdb.css").status_code == 200
        form = client.get(f"{url}/login")
        assert form.status_code == 200 and 'name="password"' in form.text and "curating as" not in form.text


def test_a_wrong_password_and_an_unknown_name_get_the_same_answer_and_no_session(lab):
    _, _, url = lab
    with _client() as client:
        wrong = log_in(client, url, "alice", "not-her-password")
        unknown = log_in(client, url, "mallory", "alice-password")
        for refused in (wrong, unknown):
            assert refused.status_code == 401 and SESSION_COOKIE not in refused.cookies
            assert "Unknown curator name or wrong password." in refused.text
        assert client.get(f"{url}/").status_code == 303


def test_a_logged_in_curator_labels_as_themselves_and_undoes_only_their_own(lab):
    archive, record, url = lab
    seg = record.segmentation_id
    with _client() as alice, _client() as bob:
        entered = log_in(alice, url, "alice", PASSWORDS["alice"], next_path=f"/segmentations/{seg}")
        assert entered.status_code == 303 and entered.headers["location"] == f"/segmentations/{seg}"
        cookie = entered.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
        assert log_in(bob, url, "bob", PASSWORDS["bob"]).status_code == 303
        page = alice.get(f"{url}/segmentations/{seg}").text
        assert 'curating as <b id="curator">alice</b>' in page and 'href="/logout"' in page
        stored = label(alice, url, seg, 0, "rejected", page_token(alice, url, seg), 1)
        assert stored.status_code == 200 and stored.json()["curator"] == "alice"
        stored = label(bob, url, seg, 0, "accepted", page_token(bob, url, seg), 2)
        assert stored.status_code == 200 and stored.json()["curator"] == "bob"
        assert [(e.curator, e.label) for e in archive.curation_history(seg, 0, plane="plane0")][1:] == [
            ("alice", "rejected"), ("bob", "accepted")]
        undone = alice.post(f"{url}/api/segmentations/{seg}/undo",
                            headers={"X-SegDB-Token": page_token(alice, url, seg)})
        assert undone.status_code == 200 and [e["curator"] for e in undone.json()] == ["alice"]
        assert archive.curation_history(seg, 0, plane="plane0")[-1].curator == "alice"


def test_a_write_needs_its_own_sessions_token_and_this_servers_origin(lab):
    archive, record, url = lab
    seg = record.segmentation_id
    with _client() as alice, _client() as bob:
        log_in(alice, url, "alice", PASSWORDS["alice"])
        log_in(bob, url, "bob", PASSWORDS["bob"])
        alices, bobs = page_token(alice, url, seg), page_token(bob, url, seg)
        assert alices != bobs
        missing = alice.post(f"{url}/api/segmentations/{seg}/planes/plane0/labels",
                             json={"key": 1, "label": "accepted", "revision": 1})
        assert missing.status_code == 400 and "token is missing" in missing.json()["error"]
        borrowed = label(alice, url, seg, 1, "accepted", bobs, 1)
        assert borrowed.status_code == 403 and "not this page's" in borrowed.json()["error"]
        elsewhere = label(alice, url, seg, 1, "accepted", alices, 1, Origin="http://evil.example")
        assert elsewhere.status_code == 403 and "another site" in elsewhere.json()["error"]
        referred = label(alice, url, seg, 1, "accepted", alices, 1, Referer="http://evil.example/page")
        assert referred.status_code == 403
        assert len(archive.curation_history(seg, 1, plane="plane0")) == 1
        own = label(alice, url, seg, 1, "accepted", alices, 1, Origin=url)
        assert own.status_code == 200 and own.json()["curator"] == "alice"


def test_logging_out_ends_the_session_for_whoever_holds_its_cookie(lab):
    _, record, url = lab
    seg = record.segmentation_id
    with _client() as alice, _client() as thief:
        log_in(alice, url, "alice", PASSWORDS["alice"])
        token = page_token(alice, url, seg)
        thief.cookies.set(SESSION_COOKIE, alice.cookies[SESSION_COOKIE])
        assert thief.get(f"{url}/").status_code == 200
        left = alice.get(f"{url}/logout")
        assert left.status_code == 303 and left.headers["location"] == "/login"
        assert alice.get(f"{url}/").status_code == 303
        assert thief.get(f"{url}/").status_code == 303
        assert label(thief, url, seg, 0, "accepted", token, 1).status_code == 401


def test_a_new_password_ends_the_sessions_opened_with_the_old_one(lab, users_file):
    _, _, url = lab
    with _client() as alice:
        log_in(alice, url, "alice", PASSWORDS["alice"])
        assert alice.get(f"{url}/").status_code == 200
        add_user(users_file, "alice", "a-new-password", replace=True)
        assert alice.get(f"{url}/").status_code == 303
        assert log_in(alice, url, "alice", PASSWORDS["alice"]).status_code == 401
        assert log_in(alice, url, "alice", "a-new-password").status_code == 303


def test_the_login_form_itself_must_come_from_this_server(lab):
    _, _, url = lab
    with _client() as client:
        no_token = client.post(f"{url}/login", data={"name": "alice", "password": PASSWORDS["alice"]})
        assert no_token.status_code == 403 and SESSION_COOKIE not in no_token.cookies
        form = client.get(f"{url}/login")
        token = re.search(r'name="login_token" value="([^"]+)"', form.text)[1]
        foreign = client.post(f"{url}/login", data={"name": "alice", "password": PASSWORDS["alice"],
                                                    "login_token": token}, headers={"Origin": "http://evil.example"})
        assert foreign.status_code == 403 and SESSION_COOKIE not in foreign.cookies
        away = log_in(client, url, "alice", PASSWORDS["alice"], next_path="//evil.example/")
        assert away.status_code == 303 and away.headers["location"] == "/"


def test_guessing_passwords_is_refused_for_a_while(lab):
    _, _, url = lab
    with _client() as client:
        for _ in range(MAX_FAILED_LOGINS):
            assert log_in(client, url, "alice", "guess-guess").status_code == 401
        blocked = log_in(client, url, "alice", PASSWORDS["alice"])
        assert blocked.status_code == 429 and "Too many failed logins" in blocked.text
        assert SESSION_COOKIE not in blocked.cookies


@pytest.mark.parametrize("target, where", [
    ("/segmentations/3?plane=p", "/segmentations/3?plane=p"), (None, "/"), ("", "/"), ("https://evil.example", "/"),
    ("//evil.example", "/"), ("/\\evil.example", "/"),
])
def test_after_logging_in_the_browser_stays_on_this_server(target, where):
    assert safe_next(target) == where


# -- the command line -------------------------------------------------------------------------------


def test_serve_listens_beyond_this_machine_only_for_a_users_file(archive, users_file, capsys):
    assert main(["serve", "--host", "0.0.0.0", "-a", archive.catalog.url]) == 2
    err = capsys.readouterr().err
    assert "--host 0.0.0.0 would let anyone who reaches this machine label ROIs as you" in err and "--users" in err
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "segdb.cli", "serve", "--host", "0.0.0.0", "--port", str(port), "--users",
               str(users_file), "-a", archive.catalog.url, "--storage-root", str(archive.storage_root)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ)
    try:
        started = server.stdout.readline()
        assert f"at http://0.0.0.0:{port} to the 2 curator(s) of {users_file}" in started, server.stderr.read()
        _wait_for_port(server, port)
        with _client() as client:
            assert client.get(f"http://127.0.0.1:{port}/").headers["location"] == "/login?next=/"
            assert log_in(client, f"http://127.0.0.1:{port}", "bob", PASSWORDS["bob"]).status_code == 303
            assert 'curating as <b id="curator">bob</b>' in client.get(f"http://127.0.0.1:{port}/").text
    finally:
        server.terminate()
        server.communicate(timeout=60)


def _wait_for_port(server: subprocess.Popen, port: int) -> None:
    """Until the server, which prints its address just before it binds, accepts connections."""
    while server.poll() is None:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"segdb serve ended: {server.stderr.read()}")


def test_serve_takes_a_users_file_or_a_curator_not_both(archive, users_file, capsys):
    assert main(["serve", "--users", str(users_file), "--curator", "alice", "-a", archive.catalog.url,
                 "--storage-root", str(archive.storage_root)]) == 2
    assert "--curator alice and --users" in capsys.readouterr().err
