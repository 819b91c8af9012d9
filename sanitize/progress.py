"""How long stages report progress: the caller passes a factory, the library never draws.

    with progress("warm-up", total) as advance:
        ...; advance(n)

`silent` is the library's default. The CLI passes `cli_common.rich_progress` (bars with an ETA
on stderr); a notebook may pass its own (tqdm, a logger).
"""
from __future__ import annotations

import contextlib
from typing import Callable, ContextManager, Iterator

Advance = Callable[[int], None]
Progress = Callable[[str, int], ContextManager[Advance]]
Log = Callable[[str], None]


@contextlib.contextmanager
def silent(description: str, total: int) -> Iterator[Advance]:
    yield lambda n: None


def no_log(message: str) -> None:
    """The library's default log: messages go nowhere unless the caller passes a callback."""
