"""Relative paths of array files and their resolution under a storage root.

The catalog stores every array file as a path relative to a storage root, so an
archive can move between machines. A stored path must never lead outside that
root: a row holding ``../../etc/passwd`` or an absolute path, or a symlink that
points elsewhere, is refused both when it is written and when it is read.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from segdb.errors import IntegrityError

# A Windows drive ("C:", "c:foo") would be relative on POSIX but absolute on Windows.
_DRIVE_PREFIX = re.compile(r"^[A-Za-z]:")


def check_relative_path(relative_path: str) -> str:
    """Validate a path before it is stored in the catalog and return its normal form.

    Parameters
    ----------
    relative_path : str
        POSIX path relative to a storage root, e.g. ``"seg_000012/plane_0.h5"``.

    Returns
    -------
    str
        The path with ``.`` components and repeated or trailing slashes removed.

    Raises
    ------
    IntegrityError
        If the path is not a string, is empty, absolute, has a drive, a backslash,
        a NUL byte or a ``..`` component, or names the root itself.
    """
    if not isinstance(relative_path, str):
        raise IntegrityError(
            f"array file path {relative_path!r} is a {type(relative_path).__name__}, not a str; "
            "store paths as POSIX strings relative to the storage root"
        )

    def refuse(why: str) -> IntegrityError:
        return IntegrityError(
            f"array file path {relative_path!r} is refused: {why}; "
            "array files are stored as POSIX paths relative to the storage root, "
            "e.g. 'seg_000012/plane_0.h5'"
        )

    if relative_path == "":
        raise refuse("it is empty")
    if "\x00" in relative_path:
        raise refuse("it contains a NUL byte")
    if "\\" in relative_path:
        # A backslash is a separator on Windows: 'a\\..\\..\\x' would escape there.
        raise refuse("it contains a backslash")
    if relative_path.startswith("/"):
        raise refuse("it is absolute")
    if _DRIVE_PREFIX.match(relative_path):
        raise refuse("it starts with a drive letter")
    parts = [part for part in PurePosixPath(relative_path).parts if part != "."]
    if ".." in parts:
        raise refuse("it has a '..' component")
    if not parts:
        raise refuse("it names the storage root itself, not a file under it")
    return "/".join(parts)


def resolve_in_root(root: Path, relative_path: str) -> Path:
    """Join a stored relative path to a storage root, refusing any escape from the root.

    Symlinks are followed, so a link inside the root that points outside it is
    refused as well as ``..`` and absolute paths.

    Parameters
    ----------
    root : Path
        The storage root (need not be resolved; it is resolved here).
    relative_path : str
        Path as stored in the catalog.

    Returns
    -------
    Path
        The absolute, resolved path of the file (it need not exist yet).

    Raises
    ------
    IntegrityError
        If :func:`check_relative_path` refuses the path, or the resolved path is
        not strictly inside ``root.resolve()``.
    """
    normal = check_relative_path(relative_path)
    resolved_root = Path(root).resolve()
    resolved = (resolved_root / normal).resolve()
    if resolved == resolved_root or not resolved.is_relative_to(resolved_root):
        raise IntegrityError(
            f"array file path {relative_path!r} resolves to {str(resolved)!r}, outside the "
            f"storage root {str(resolved_root)!r} (a symlink leads out of the root); "
            "remove the symlink or move the file inside the root"
        )
    return resolved


__all__ = ["check_relative_path", "resolve_in_root"]
