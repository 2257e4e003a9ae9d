"""The users file of a lab server: which curators may log in to `segdb serve`, with their password hashes.

A TOML file with one table, ``[curators]``, mapping each curator name to the scrypt hash of their
password, as ``scrypt$N$r$p$salt$hash`` (salt and hash in URL-safe base64), so the parameters travel
with each hash. `segdb serve adduser` writes it; nobody needs to edit it by hand. It holds no password
and is created readable by its owner only.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import os
import secrets
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from segdb.curation import current_curator
from segdb.errors import ConflictError, InvalidInputError, NotFoundError

#: scrypt's cost: 2**15 x 8 x 1 takes about 0.1 s and 32 MiB, too slow for guessing, quick for a login.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
SALT_BYTES, HASH_BYTES = 16, 32
SCHEME = "scrypt"
TABLE = "curators"
MIN_PASSWORD_LENGTH = 8
# Large enough for any cost a lab would choose, small enough that a damaged file cannot exhaust memory.
_MAX_SCRYPT_MEMORY = 1 << 30


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password`` with its parameters, as the users file keeps it."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, HASH_BYTES)
    return "$".join([SCHEME, str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(digest)])


def password_matches(password: str, stored: str) -> bool:
    """Whether ``password`` is the one ``stored`` (a :func:`hash_password` string) was made from; the
    comparison takes the same time however many characters agree."""
    n, r, p, salt, digest = parse_hash(stored)
    return hmac.compare_digest(_scrypt(password, salt, n, r, p, len(digest)), digest)


def parse_hash(stored: str) -> tuple[int, int, int, bytes, bytes]:
    """(N, r, p, salt, hash) of a stored hash; ValueError saying what is wrong with one in another format."""
    parts = stored.split("$") if isinstance(stored, str) else []
    if len(parts) != 6 or parts[0] != SCHEME:
        raise ValueError("it is not of the form scrypt$N$r$p$salt$hash")
    try:
        n, r, p = (int(part) for part in parts[1:4])
        salt, digest = _unb64(parts[4]), _unb64(parts[5])
    except ValueError:
        raise ValueError("its N, r and p are not whole numbers or its salt and hash are not base64") from None
    if n < 2 or n & (n - 1) or r < 1 or p < 1 or 128 * r * (n + p + 2) > _MAX_SCRYPT_MEMORY:
        raise ValueError(f"its scrypt parameters N={n}, r={r}, p={p} are not usable (N a power of 2, within 1 GiB)")
    if len(salt) < 8 or len(digest) < 16:
        raise ValueError("its salt or hash is too short")
    return n, r, p, salt, digest


def check_curator_name(name: str) -> str:
    """``name`` if a curator may be called so (the rules of :func:`segdb.curation.current_curator`)."""
    if not name or not name.strip():
        raise InvalidInputError(f"the curator name {name!r} is empty; give the name the curator's labels carry")
    try:
        return current_curator(name)
    except InvalidInputError as error:
        reason = str(error).removesuffix("; set SEGDB_CURATOR to your name")
        raise InvalidInputError(f"{reason}; choose another curator name") from None


@dataclass(frozen=True)
class Users:
    """The curators of a users file and their password hashes (checked when the file is read)."""

    path: Path
    hashes: dict[str, str]

    def check(self, name: str, password: str) -> bool:
        """Whether ``name`` is a curator here and ``password`` is theirs. An unknown name costs the same
        hashing time as a known one, so the answer's timing does not tell which names exist."""
        stored = self.hashes.get(name)
        if stored is None:
            password_matches(password, _decoy())
            return False
        return password_matches(password, stored)


def read_users(path: str | os.PathLike, *, replacing: str | None = None) -> Users:
    """The users file at ``path``; a missing, unreadable or damaged one is one line naming the file, the entry
    and the fix. The entry of curator ``replacing`` (about to get a new password) may be damaged."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(f"the users file {path} does not exist; create it with "
                            f"`segdb serve adduser --users {path} NAME`") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInputError(f"cannot read the users file {path} ({error}); check its permissions") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InvalidInputError(f"the users file {path} is not TOML ({error}); fix that line, or move the file "
                                f"away and add the curators again with `segdb serve adduser --users {path} NAME`"
                                ) from None
    table = document.get(TABLE, {})
    strays = sorted(set(document) - {TABLE})
    if strays or not isinstance(table, dict):
        raise InvalidInputError(f"the users file {path} holds {', '.join(strays) or TABLE} outside a [{TABLE}] "
                                f"table of NAME = \"scrypt$...\" lines; write it with "
                                f"`segdb serve adduser --users {path} NAME`")
    for name, stored in table.items():
        if name == replacing:
            continue
        try:
            check_curator_name(name)
            parse_hash(stored)
        except (ValueError, InvalidInputError) as error:
            raise InvalidInputError(f"the users file {path}: the entry for curator {name!r} is not usable ({error}); "
                                    f"set its password again with `segdb serve adduser --users {path} --replace "
                                    f"{name}`") from None
    return Users(path, dict(table))


def add_user(path: str | os.PathLike, name: str, password: str, *, replace: bool = False) -> Users:
    """Add curator ``name`` with ``password`` to the users file (created, readable by its owner only, if missing);
    refuses a name already there unless ``replace``."""
    path = Path(path)
    name = check_curator_name(name)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInputError(f"the password for {name!r} has {len(password)} characters; give at least "
                                f"{MIN_PASSWORD_LENGTH}")
    hashes = read_users(path, replacing=name if replace else None).hashes if path.exists() else {}
    if name in hashes and not replace:
        raise ConflictError(f"curator {name!r} is already in the users file {path}; give --replace to set a new "
                            "password")
    hashes[name] = hash_password(password)
    _write_atomically(path, _toml(hashes))
    return Users(path, hashes)


def _toml(hashes: dict[str, str]) -> str:
    lines = ["# segdb serve --users: curator name = scrypt hash of their password.",
             "# Written by `segdb serve adduser`; it holds no password.", f"[{TABLE}]"]
    # A JSON string (ASCII, escaped) is a TOML basic string.
    lines += [f"{json.dumps(name)} = {json.dumps(stored)}" for name, stored in sorted(hashes.items())]
    return "\n".join(lines) + "\n"


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it into place: a reader sees the old
    file or the new one, never half of one. A new file is readable by its owner only; an existing one
    keeps its mode."""
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o600
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            os.fchmod(file.fileno(), mode)
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=length,
                          maxmem=_MAX_SCRYPT_MEMORY + (1 << 20))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (ValueError, TypeError) as error:
        raise ValueError(str(error)) from None


@functools.cache
def _decoy() -> str:
    """A hash of nothing anyone can type, checked for unknown names."""
    return hash_password(secrets.token_urlsafe(32))
