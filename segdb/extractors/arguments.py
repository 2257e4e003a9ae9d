"""What both extractors check in the arguments they take: ROI ids and sample windows.

ROI ids compare by type and value (``3`` and ``"3"`` are different ROIs, ``True``
is no ROI), and an id an extractor does not hold is refused by name, with the ids
it does hold.
"""

from __future__ import annotations

import numbers
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from segdb.errors import InvalidInputError

_SHOWN_IDS = 10


def is_index(value: Any) -> bool:
    """Whether ``value`` is a whole number usable as an index (``bool`` is not, though Python counts it)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def checked_window(
    start: Any,
    end: Any,
    num_samples: int | None,
    *,
    names: tuple[str, str] = ("start_frame", "end_frame"),
    allow_empty: bool = True,
) -> tuple[int, int | None]:
    """The sample window ``start:end`` as ints, ``None`` meaning the start or the end of the recording.

    Raises
    ------
    InvalidInputError
        A bound that is not a whole number or lies outside ``0..num_samples``, a start after
        the end, or (with ``allow_empty=False``) a window that holds no samples.
    """
    start_name, end_name = names
    for value, argument in ((start, start_name), (end, end_name)):
        if value is not None and not is_index(value):
            raise InvalidInputError(f"{argument} must be a whole number of samples or None; got {value!r}")
        if value is not None and num_samples is not None and not 0 <= value <= num_samples:
            raise InvalidInputError(
                f"{argument}={value} is outside 0..{num_samples} (this extractor has {num_samples} samples)"
            )
    start = 0 if start is None else int(start)
    end = num_samples if end is None else int(end)
    if end is not None and start > end:
        raise InvalidInputError(f"{start_name}={start} is after {end_name}={end}; give the earlier sample first")
    if not allow_empty and end is not None and start == end:
        raise InvalidInputError(
            f"the window {start_name}={start}, {end_name}={end} holds no samples; "
            f"{start_name} must be before {end_name}"
        )
    return start, end


def as_id_list(ids: Any, argument: str, *, single_id_ok: bool = False) -> list:
    """``ids`` as a list; a lone id is refused unless ``single_id_ok`` (it would be iterated as characters)."""
    if isinstance(ids, (str, bytes, numbers.Integral)) or not isinstance(ids, Iterable):
        if single_id_ok and isinstance(ids, (str, numbers.Integral)):
            return [ids]
        raise TypeError(f"{argument} must be a list or 1-D array of ids; got {ids!r}")
    return ids.tolist() if isinstance(ids, np.ndarray) else list(ids)


def id_token(roi_id: Any) -> tuple[str, Any]:
    """What an id compares by: its kind and value, so 3, np.int64(3) and "3" are told apart correctly."""
    if isinstance(roi_id, (bool, np.bool_)):
        return ("bool", bool(roi_id))
    if isinstance(roi_id, numbers.Integral):
        return ("int", int(roi_id))
    if isinstance(roi_id, str):
        return ("str", str(roi_id))
    return ("other", repr(roi_id))


def describe_ids(ids: Sequence[Any]) -> str:
    """Ids for an error message: a long run of consecutive ints as ``first..last``, else at most ten."""
    # numpy scalars print as np.int64(3); a reader wants 3.
    ids = [i.item() if isinstance(i, np.generic) else i for i in ids]
    if len(ids) > _SHOWN_IDS and all(is_index(i) for i in ids) and ids == list(range(ids[0], ids[0] + len(ids))):
        return f"{ids[0]}..{ids[-1]}"
    if len(ids) <= _SHOWN_IDS:
        return repr(ids)
    head = ", ".join(repr(i) for i in ids[:_SHOWN_IDS])
    return f"[{head}, … and {len(ids) - _SHOWN_IDS} more]"


class IdIndex:
    """The position of each id in a fixed list of ids."""

    def __init__(self, ids: Sequence[Any]) -> None:
        self.ids = list(ids)
        self._positions = {id_token(roi_id): position for position, roi_id in enumerate(self.ids)}

    def __len__(self) -> int:
        return len(self.ids)

    def position(self, roi_id: Any) -> int | None:
        return self._positions.get(id_token(roi_id))


def locate_ids(ids: Iterable[Any], indexes: Sequence[IdIndex]) -> tuple[list[tuple[int, int]], list[Any]]:
    """For each id, (which of ``indexes`` holds it, its position there), the first that does; and the unknown ids."""
    located: list[tuple[int, int]] = []
    unknown: list[Any] = []
    for roi_id in ids:
        for which, index in enumerate(indexes):
            position = index.position(roi_id)
            if position is not None:
                located.append((which, position))
                break
        else:
            unknown.append(roi_id)
    return located, unknown


def unknown_ids_error(noun: str, unknown: Sequence[Any], argument: str, owner: str, held: str) -> InvalidInputError:
    """The error for ids an extractor does not hold: which, where they were given, and what it does hold."""
    return InvalidInputError(f"{noun} {describe_ids(unknown)} in {argument} are not in {owner} ({held})")


def refuse_repeated(ids: Sequence[Any], argument: str) -> None:
    """Refuse ids that name the same ROI twice where each ROI must be named once."""
    tokens = [id_token(i) for i in ids]
    counts = Counter(tokens)
    if len(counts) != len(tokens):
        repeated = sorted({str(i) for i, token in zip(ids, tokens) if counts[token] > 1})
        raise InvalidInputError(f"{argument} repeats {repeated!r}; give each id once")
