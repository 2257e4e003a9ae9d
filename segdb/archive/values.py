"""Plain values the archive takes in and hands out: names, dates, ROI keys, JSON parameters.

Pure functions with no database or file access, used by the archive's modules and by the
layers above it (curation, tracking) so that every layer checks and converts alike.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import math
import re
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np

from segdb.catalog import models as m
from segdb.errors import InvalidInputError


def current_user() -> str:
    """The OS user name, who segdb records as having done a thing unless told otherwise."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


# Names sit in VARCHAR columns of this length. PostgreSQL refuses a longer value where SQLite keeps it,
# so the limit is checked on both and an SQLite archive can always move to PostgreSQL.
NAME_LENGTH: int = m.Subject.subject_name.type.length

# Characters no stored name or key may hold: controls (NUL, DEL, escapes), format characters (the
# bidirectional overrides, zero-width spaces), line and paragraph separators, private-use characters,
# lone surrogates and unassigned code points. They do not show, or reorder what follows them, so a name
# holding one could pass for another in a listing; PostgreSQL cannot store NUL or a lone surrogate at all.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"})


def check_text(label: str, value: str, *, max_length: int = NAME_LENGTH) -> None:
    """Refuse a name or key holding a character that does not show, or longer than its catalog column."""
    for position, character in enumerate(value):
        if unicodedata.category(character) in _INVISIBLE_CATEGORIES:
            described = unicodedata.name(character, "a control, private-use or unassigned character")
            raise InvalidInputError(
                f"the {label} {value[:80]!r} holds U+{ord(character):04X} ({described}) at position {position}; "
                "names and keys hold visible characters only, so that no listing can show one name as another: "
                "remove it"
            )
    if len(value) > max_length:
        raise InvalidInputError(
            f"the {label} {value[:40]!r}… is {len(value)} characters long; keep it within {max_length} "
            "(the catalog's column holds no more on PostgreSQL)"
        )


def check_name(label: str, value: Any, *, max_length: int = NAME_LENGTH) -> None:
    """Refuse a subject, session, plane, segmentation, property or trace name that cannot be part of a
    'subject/session/name' path, that holds an invisible character (see :func:`check_text`), or that is
    longer than ``max_length``."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"the {label} is {value!r}; give a non-empty name")
    check_text(label, value, max_length=max_length)
    if "/" in value or value != value.strip():
        raise InvalidInputError(
            f"the {label} {value!r} contains '/' or surrounding spaces; "
            "segdb uses 'subject/session/name' paths, so choose a name without them"
        )


def positive_finite(label: str, value: Any) -> float:
    """``value`` as a positive finite float, or an error naming ``label``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not math.isfinite(number) or number <= 0:
        raise InvalidInputError(f"{label} is {value!r}; it must be a positive number")
    return number


def parse_datetime(value: dt.datetime | dt.date | str | None) -> dt.datetime | None:
    """A session start from a datetime, a date or ISO text; a time without a zone is taken as UTC."""
    if value is None:
        return None
    if not isinstance(value, (str, dt.date)):
        raise InvalidInputError(
            f"session start {value!r} ({type(value).__name__}) is not a date or time; give a datetime, a date or "
            "ISO text like 2026-03-01T14:30"
        )
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError as exc:
            raise InvalidInputError(
                f"session start {value!r} is not an ISO date or time; write it like 2026-03-01 or 2026-03-01T14:30"
            ) from exc
    elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """A datetime read back from a database that dropped its zone, as UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value


def jsonable(value: dict[str, Any], label: str) -> dict[str, Any]:
    """``value`` as plain JSON types (numpy values and paths converted), or an error naming ``label``."""
    try:
        # allow_nan=False: PostgreSQL's JSON has no NaN or infinity (SQLite would keep them).
        return json.loads(json.dumps(value, default=_json_default, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"the {label} cannot be stored as JSON ({exc}); pass finite numbers (no NaN or infinity), strings, "
            "lists and dicts"
        ) from exc


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (Path, dt.date)):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def slug(text: str) -> str:
    """``text`` made safe as one component of a file path (at most 64 characters)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "x"
    return slug[:64]


# Every id the catalog hands out is a positive 64-bit integer; a larger number names nothing
# (and SQLite's driver cannot even send it).
LARGEST_ID = 2**63 - 1


def check_limit(limit: Any, what: str) -> None:
    """Refuse a ``limit`` (None for none) that is not a whole number from 1 to 2**63 - 1, naming ``what`` it
    counts: a driver refuses a LIMIT past 64 bits with a traceback, and SQLite reads a negative one as none."""
    if limit is not None and not (isinstance(limit, (int, np.integer)) and not isinstance(limit, (bool, np.bool_))
                                  and 1 <= limit <= LARGEST_ID):
        raise InvalidInputError(f"limit is {limit!r}; give a whole number of {what} from 1 to 2**63 - 1")


def is_catalog_id(value: Any) -> bool:
    """Whether ``value`` could be an id of a catalog row (an integer, not a bool, from 1 to 2**63 - 1)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        return False
    return 0 < int(value) <= LARGEST_ID


def id_from_text(text: str) -> int | None:
    """The id that ``text`` spells in ASCII digits, or None (str.isdigit also accepts '²' and other digits)."""
    return int(text) if text.isascii() and text.isdigit() else None


def sampling_rate(label: str, value: Any) -> float | None:
    """A sampling frequency in Hz as a positive finite float (None stays None), or an error naming ``label``."""
    if value is None:
        return None
    if isinstance(value, (str, bytes, bool, np.bool_)) or np.ndim(value) != 0:
        raise InvalidInputError(f"the sampling frequency of {label} is {value!r}; it must be a positive number of Hz")
    return positive_finite(f"the sampling frequency of {label}", value)


def time_array(label: str, values: Any) -> np.ndarray:
    """Timestamps as float64 seconds, or an error naming ``label`` when they are not numbers (text, dates, objects)."""
    try:
        array = np.asarray(values)
    except (TypeError, ValueError) as exc:  # ragged sequences
        raise InvalidInputError(f"the timestamps of {label} are not one number per sample ({exc})") from exc
    if array.dtype.kind not in "biuf":
        raise InvalidInputError(
            f"the timestamps of {label} are {array.dtype} values; give them as numbers of seconds (float), "
            "one per sample"
        )
    return array.astype(np.float64)


def roi_key_value(key: str, key_type: str) -> int | str:
    """A ROI key with the type its source gave it."""
    return int(key) if key_type == "int" else key
