"""One writer per warehouse, and staging folders that a killed run cannot leave behind for good.

    WAREHOUSE/_lock                     held (flock) by the run that writes: commit, catalog, clean-up
    WAREHOUSE/_staging/<run_id>.lock    held by the run staging into _staging/<run_id>

flock is released by the kernel when its process dies, so a lock can never outlive a killed run, and
a staging folder whose lock nobody holds belongs to a dead run. Remote warehouses (gs://, s3://) have
no such locks: run one writer there (the luigi jobs serialise their commits).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import shutil
from typing import Optional

LOCK = "_lock"
STAGED_MARKER = "_STAGED.json"  # a finished stage waiting for its commit (luigi LoadDump): never cleaned


class WarehouseBusy(RuntimeError):
    """Another process holds the warehouse."""


def _is_remote(path: str) -> bool:
    return "://" in path


class FileLock:
    """An exclusive flock on `path`; `wait=False` fails at once with who holds it."""

    def __init__(self, path: str, wait: bool = False, holder: Optional[dict] = None):
        self.path, self.wait, self.holder = path, wait, holder or {}
        self.fd: Optional[int] = None

    def acquire(self) -> "FileLock":
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if self.wait else fcntl.LOCK_NB))
        except BlockingIOError:
            held_by = _describe(os.read(fd, 4096))
            os.close(fd)
            raise WarehouseBusy(f"{os.path.dirname(self.path)} is in use ({held_by}); wait for that run to finish, "
                                "or write to another --out") from None
        os.ftruncate(fd, 0)
        info = dict(self.holder, pid=os.getpid(), since=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
        os.write(fd, json.dumps(info).encode())
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> "FileLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _describe(raw: bytes) -> str:
    try:
        info = json.loads(raw.decode("utf-8"))
        return ", ".join(f"{k} {v}" for k, v in info.items())
    except (ValueError, AttributeError):
        return "held by another process"


def warehouse_lock(warehouse: str, wait: bool = False, **holder):
    """The single-writer lock of a local warehouse (a no-op for remote ones)."""
    if _is_remote(warehouse):
        return contextlib.nullcontext()
    return FileLock(os.path.join(warehouse, LOCK), wait=wait, holder=holder)


def staging_lock_path(stage_dir: str) -> str:
    return stage_dir.rstrip("/") + ".lock"


def staging_lock(stage_dir: str, run_id: str):
    """Held while a run writes its staging folder, so that clean-up can tell live runs from dead ones."""
    if _is_remote(stage_dir):
        return contextlib.nullcontext()
    return FileLock(staging_lock_path(stage_dir), wait=False, holder={"run": run_id})


def clean_dead_staging(staging_root: str) -> list[str]:
    """Remove staging folders of runs that died (their lock is free and they never finished staging)."""
    if _is_remote(staging_root) or not os.path.isdir(staging_root):
        return []
    removed = []
    for name in sorted(os.listdir(staging_root)):
        path = os.path.join(staging_root, name)
        if name.endswith(".lock") and not os.path.isdir(path[: -len(".lock")]):
            path = path[: -len(".lock")]  # the lock of a run that died before it wrote anything
        elif not os.path.isdir(path) or os.path.exists(os.path.join(path, STAGED_MARKER)):
            continue
        lock = FileLock(staging_lock_path(path))
        try:
            lock.acquire()
        except WarehouseBusy:
            continue  # a live run
        try:
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
        finally:
            lock.release()
            os.remove(staging_lock_path(path))
    if not os.listdir(staging_root):
        os.rmdir(staging_root)
    return removed
