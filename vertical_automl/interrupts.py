"""Ctrl-C during a run, taken at safe points.

Python raises ``KeyboardInterrupt`` wherever the main thread happens to be.
Inside a finalizer or a garbage-collection callback it is printed as
"Exception ignored" and lost, and the search carries on to the end as if
nothing had been pressed.  So, while a run works in its run folder, the first
Ctrl-C only records the request: the search raises ``KeyboardInterrupt``
itself at the next training or validation batch end (``StopOnInterrupt`` in
:mod:`.search_engine.callbacks`) or between steps (:func:`check`), which also keeps the
tuner's state files from being cut mid-write.  A second Ctrl-C interrupts at
once, as Python normally does.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

_requested = threading.Event()


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Defer Ctrl-C to the next :func:`check` inside this block.

    Main thread only: elsewhere there is no SIGINT to handle.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def request(signum: int, frame: Any) -> None:
        if _requested.is_set():
            raise KeyboardInterrupt
        _requested.set()

    previous = signal.signal(signal.SIGINT, request)
    _requested.clear()
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _requested.clear()


def check() -> None:
    """Raise the Ctrl-C that was pressed since the block began, if any."""
    if _requested.is_set():
        raise KeyboardInterrupt
