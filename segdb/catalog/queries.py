"""Small statements every layer above the catalog needs, written once.

Functions here take a session and never commit: the caller owns the unit of work.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session


def get_or_create(db: Session, model: type, keys: dict[str, Any], defaults: dict[str, Any] | None = None) -> int:
    """The primary key of the ``model`` row with ``keys``, inserting it (with ``defaults``) if there is none."""
    pk = model.__mapper__.primary_key[0]
    found = db.execute(select(pk).filter_by(**keys)).scalar_one_or_none()
    if found is not None:
        return int(found)
    row = model(**keys, **(defaults or {}))
    db.add(row)
    db.flush()
    return int(getattr(row, pk.key))
