"""Progress bars for long work (ingest, verify, trace extraction)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def progress_bar(
    progress: bool | Callable[[int], None] | None, *, total: int, desc: str, unit: str
) -> Iterator[Callable[[int], None]]:
    """Yield a ``tick(n)`` function that advances a bar by ``n``.

    ``progress`` is True (always show), False (never), None (show on a terminal
    only), or a callable that receives every tick instead of a bar.
    """
    if callable(progress) and not isinstance(progress, bool):
        yield progress
        return
    show = sys.stderr.isatty() if progress is None else bool(progress)
    if not show:
        yield lambda n: None
        return
    from tqdm.auto import tqdm

    scale = unit == "B"
    with tqdm(total=total, desc=desc, unit=unit, unit_scale=scale, leave=False, file=sys.stderr) as bar:
        yield bar.update
