"""The users file of a lab server and `segdb serve adduser`: salted scrypt hashes with their parameters, a
file only its owner reads, written whole or not at all, and one line for each way it can be wrong."""

from __future__ import annotations

import io
import stat

import pytest

from segdb.cli import build_parser, main
from segdb.errors import InvalidInputError
from segdb.web.users import hash_password, password_matches, read_users, tomllib


def adduser(monkeypatch, *arguments: str, password: str = "correct horse") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    return main(["serve", "adduser", *arguments, "--password-stdin"])


def test_a_hash_is_salted_carries_its_parameters_and_checks_only_its_password():
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second and first.startswith("scrypt$32768$8$1$")
    assert password_matches("correct horse", first) and password_matches("correct horse", second)
    assert not password_matches("correct horsE", first) and not password_matches("", first)


def test_adduser_creates_a_file_only_its_owner_reads(tmp_path, monkeypatch, capsys):
    path = tmp_path / "users.toml"
    assert adduser(monkeypatch, "--users", str(path), "alice") == 0
    assert "added curator alice" in capsys.readouterr().out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert adduser(monkeypatch, "--users", str(path), "bob", password="another one") == 0
    stored = tomllib.loads(path.read_text())["curators"]
    assert sorted(stored) == ["alice", "bob"] and "correct horse" not in path.read_text()
    users = read_users(path)
    assert users.check("alice", "correct horse") and users.check("bob", "another one")
    assert not users.check("alice", "another one") and not users.check("carol", "correct horse")
    assert [p.name for p in tmp_path.iterdir()] == ["users.toml"]


def test_adduser_refuses_a_curator_already_there_unless_replacing(tmp_path, monkeypatch, capsys):
    path = tmp_path / "users.toml"
    adduser(monkeypatch, "--users", str(path), "alice")
    path.chmod(0o640)
    assert adduser(monkeypatch, "--users", str(path), "alice", password="a new password") == 2
    assert f"curator 'alice' is already in the users file {path}; give --replace" in capsys.readouterr().err
    assert read_users(path).check("alice", "correct horse")
    assert adduser(monkeypatch, "--users", str(path), "alice", "--replace", password="a new password") == 0
    users = read_users(path)
    assert users.check("alice", "a new password") and not users.check("alice", "correct horse")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


@pytest.mark.parametrize("name, password, message", [
    ("pipeline:suite2p", "correct horse", "reserved for pipelines' own decisions; choose another curator name"),
    ("ali\u200bce", "correct horse", "holds U+200B"),
    (" alice", "correct horse", "is not usable; choose another curator name"),
    ("alice", "short", "has 5 characters; give at least 8"),
])
def test_adduser_refuses_a_name_or_password_a_curator_cannot_have(tmp_path, monkeypatch, capsys, name, password,
                                                                 message):
    path = tmp_path / "users.toml"
    assert adduser(monkeypatch, "--users", str(path), name, password=password) == 2
    assert message in capsys.readouterr().err and not path.exists()


def test_adduser_asks_twice_and_writes_nothing_when_the_two_differ(tmp_path, monkeypatch, capsys):
    answers = iter(["correct horse", "correct hose"])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
    path = tmp_path / "users.toml"
    assert main(["serve", "adduser", "--users", str(path), "alice"]) == 2
    assert "the two passwords differ; nothing was written" in capsys.readouterr().err and not path.exists()


@pytest.mark.parametrize("text, message", [
    ("[curators\nalice = 1", "is not TOML (Expected ']'"),
    ('[curators]\nalice = "md5$0123"', "the entry for curator 'alice' is not usable (it is not of the form "
                                       "scrypt$N$r$p$salt$hash); set its password again with `segdb serve adduser "
                                       "--users {path} --replace alice`"),
    ('[curators]\nalice = "scrypt$1000$8$1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"', "N=1000, r=8, p=1 are not usable"),
    ('[curators]\nalice = "scrypt$16384$8$1$!!$!!"', "salt and hash are not base64"),
    ('alice = "scrypt$16384$8$1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"', "holds alice outside a [curators] table"),
])
def test_a_damaged_users_file_is_one_line_naming_the_file_the_entry_and_the_fix(tmp_path, text, message):
    path = tmp_path / "users.toml"
    path.write_text(text)
    with pytest.raises(InvalidInputError) as raised:
        read_users(path)
    assert f"the users file {path}" in str(raised.value) and message.format(path=path) in str(raised.value)
    assert "\n" not in str(raised.value)


def test_replace_mends_a_damaged_entry(tmp_path, monkeypatch):
    path = tmp_path / "users.toml"
    path.write_text('[curators]\nalice = "md5$0123"\n')
    assert adduser(monkeypatch, "--users", str(path), "alice", "--replace") == 0
    assert read_users(path).check("alice", "correct horse")


def test_serve_still_runs_the_server_and_adduser_is_its_own_action():
    parser = build_parser()
    served = parser.parse_args(["serve", "-a", "lab", "--users", "users.toml", "--host", "0.0.0.0"])
    assert (served.handler.__name__, served.archive, served.users, served.host) == (
        "run_serve", "lab", "users.toml", "0.0.0.0")
    added = parser.parse_args(["serve", "adduser", "--users", "users.toml", "alice"])
    assert (added.handler.__name__, added.name, added.users) == ("run_adduser", "alice", "users.toml")


def test_serve_without_a_users_file_says_how_to_make_one(tmp_path, capsys):
    missing = tmp_path / "users.toml"
    assert main(["serve", "--users", str(missing), "-a", str(tmp_path / "lab")]) == 2
    assert f"`segdb serve adduser --users {missing} NAME`" in capsys.readouterr().err
