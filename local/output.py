"""Standard output per thread, for functions called in-process.

A Lambda function prints its logs and metrics (EMF) on standard output. The local mode calls two
functions in one process, on several threads at once: the consumer on the poller's thread and the
read API on the web server's request threads. ``contextlib.redirect_stdout`` swaps the
process-wide ``sys.stdout``, so two threads redirecting at once restore each other's target and
the console ends up in a log file. `ThreadOutput`, installed once as ``sys.stdout`` before the
functions are imported (Powertools' Logger keeps the stream it finds at import), sends each
thread's output where that thread asked, and everything else where it went before.
"""

from __future__ import annotations

import contextlib
import io
import sys
import threading
from collections.abc import Iterator
from typing import TextIO


class ThreadOutput(io.TextIOBase):
    def __init__(self, default: TextIO) -> None:
        super().__init__()
        self.default = default
        self._local = threading.local()
        self._lock = threading.Lock()  # one writer at a time per target file

    def _target(self) -> TextIO:
        target: TextIO | None = getattr(self._local, "target", None)
        return target if target is not None else self.default

    def write(self, text: str) -> int:
        with self._lock:
            return self._target().write(text)

    def flush(self) -> None:
        with self._lock:
            self._target().flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self._target().isatty()

    @property  # what the replaced stream says (TextIOBase's attribute would say None)
    def encoding(self) -> str:  # type: ignore[override]
        return self.default.encoding

    @contextlib.contextmanager
    def routed(self, target: TextIO) -> Iterator[None]:
        previous = getattr(self._local, "target", None)
        self._local.target = target
        try:
            yield
        finally:
            self._local.target = previous


@contextlib.contextmanager
def installed() -> Iterator[ThreadOutput]:
    """``sys.stdout`` becomes a `ThreadOutput` over the current one, until the block ends."""
    previous = sys.stdout
    output = ThreadOutput(previous)
    sys.stdout = output
    try:
        yield output
    finally:
        sys.stdout = previous


def to(target: TextIO | None) -> contextlib.AbstractContextManager[object]:
    """This thread's standard output goes to ``target`` for the block (None: unchanged).

    Per thread when a `ThreadOutput` is installed; otherwise a plain redirect (one caller, as
    in a test that invokes a function directly)."""
    if target is None:
        return contextlib.nullcontext()
    if isinstance(sys.stdout, ThreadOutput):
        return sys.stdout.routed(target)
    return contextlib.redirect_stdout(target)
