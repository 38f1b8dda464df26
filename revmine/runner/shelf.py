"""Models loaded once per process and lent to one worker at a time.

A worker's setup loads the aligner, the intent classifier and the summarizer: 5-10 s of a CPU run. A
process that runs the pipeline more than once (a luigi worker going through dates, a notebook, the test
suite) used to load them again for every run. Beam's `apache_beam.utils.shared.Shared` shares an object
between the DoFns of one pipeline, but its handle is made with the pipeline, so the next run gets a new
one; and these models keep caches that are not safe to use from two threads at once. So a worker borrows
its models while it is set up (`borrowing`) and gives them back in teardown (`give_back`); the next
worker, of this run or a later one, gets them with their caches emptied, so a run's rows never depend on
what the process ran before. The shelf keeps the model given back last of each kind (aligner, intent,
summarizer): a process holds at most one idle model of each. `clear()` drops them.
"""
from __future__ import annotations

import contextlib
import contextvars
import threading
from typing import Any, Callable, Hashable, Iterator

_idle: dict[str, tuple[Hashable, Any]] = {}  # kind -> (key, model)
_lock = threading.Lock()
_borrowed: contextvars.ContextVar = contextvars.ContextVar("borrowed", default=None)


def model(kind: str, key: Hashable, load: Callable[[], Any]) -> Any:
    """The idle `kind` model loaded for `key`, when a worker is borrowing and the shelf has it; else `load()`.
    Outside `borrowing` this is `load()`: a model built by a benchmark or a test is never shelved."""
    borrowed = _borrowed.get()
    if borrowed is None:
        return load()
    with _lock:
        idle = _idle.get(kind)
        got = _idle.pop(kind)[1] if idle is not None and idle[0] == key else None
    if got is None:
        got = load()
    else:
        clear = getattr(got, "clear_caches", None)
        if clear is not None:
            clear()
    borrowed[kind] = (key, got)
    return got


@contextlib.contextmanager
def borrowing() -> Iterator[dict]:
    """Models built inside come from the shelf where it has them; the dict yielded lists what was borrowed,
    for `give_back`."""
    borrowed: dict[str, tuple[Hashable, Any]] = {}
    token = _borrowed.set(borrowed)
    try:
        yield borrowed
    finally:
        _borrowed.reset(token)


def give_back(borrowed: dict) -> None:
    """Shelve what a worker borrowed; each kind's model replaces the one shelved before."""
    with _lock:
        _idle.update(borrowed)
    borrowed.clear()


def clear() -> None:
    """Drop every idle model (its memory goes back once nothing else holds it)."""
    with _lock:
        _idle.clear()


def idle() -> dict[str, Hashable]:
    """The shelved models' keys by kind."""
    with _lock:
        return {kind: key for kind, (key, _) in _idle.items()}
