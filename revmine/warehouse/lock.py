"""One writer per warehouse, and staging folders that a killed run cannot leave behind for good.

    WAREHOUSE/_lock                     held (flock) by the run that writes: commit, catalog, clean-up
    WAREHOUSE/_staging/<run_id>.lock    held by the run staging into _staging/<run_id>

flock is released by the kernel when its process dies, so a lock can never outlive a killed run, and
a staging folder whose lock nobody holds belongs to a dead run. A remote warehouse (gs://, s3://) has
no flock: there `_lock` is an object naming the run that writes (`RemoteLock`), which a killed run
leaves behind; every run stages under it, so the staging folders it finds are dead runs'.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import shutil
import time
from typing import Optional

from apache_beam.io.filesystems import FileSystems

from revmine.schemas.names import is_url

LOCK = "_lock"
STAGED_MARKER = "_STAGED.json"  # a finished stage waiting for its commit (luigi LoadDump): never cleaned


class WarehouseBusy(RuntimeError):
    """Another process holds the warehouse."""


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


class RemoteLock:
    """WAREHOUSE/_lock in a remote warehouse: an object naming the run that writes. A run that finds one
    waits for it to go (`wait`) or refuses, naming its holder. An object store cannot tell that the holder
    died, so a killed run's lock stays until someone deletes it, which the refusal says; and two runs that
    look in the same second can both take it, since Beam's file systems have no create-if-absent. It still
    keeps apart the runs that overlap by more than an instant, which is how two runs into a bucket meet."""

    POLL_SECONDS = 5.0

    def __init__(self, path: str, wait: bool = False, holder: Optional[dict] = None):
        self.path, self.wait, self.holder = path, wait, holder or {}
        self.mine: Optional[bytes] = None

    def _held(self) -> Optional[bytes]:
        if not FileSystems.exists(self.path):
            return None
        with FileSystems.open(self.path, compression_type="uncompressed") as fh:
            return fh.read()

    def acquire(self) -> "RemoteLock":
        while (held := self._held()) is not None:
            if not self.wait:
                raise WarehouseBusy(f"{self.path.rsplit('/', 1)[0]} is in use ({_describe(held)}); wait for that run "
                                    f"to finish, or write to another --out. If that run is dead, delete {self.path}")
            time.sleep(self.POLL_SECONDS)
        info = dict(self.holder, pid=os.getpid(), host=os.uname().nodename,
                    since=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
        self.mine = json.dumps(info).encode()
        with FileSystems.create(self.path, mime_type="application/json", compression_type="uncompressed") as fh:
            fh.write(self.mine)
        return self

    def release(self) -> None:
        if self.mine is not None and self._held() == self.mine:  # never another run's, taken in the same instant
            FileSystems.delete([self.path])
        self.mine = None

    def __enter__(self) -> "RemoteLock":
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
    """The single-writer lock of a warehouse: a flock, or a lock object in a remote one."""
    if is_url(warehouse):
        return RemoteLock(warehouse.rstrip("/") + "/" + LOCK, wait=wait, holder=holder)
    return FileLock(os.path.join(warehouse, LOCK), wait=wait, holder=holder)


def staging_lock_path(stage_dir: str) -> str:
    return stage_dir.rstrip("/") + ".lock"


def staging_lock(stage_dir: str, run_id: str):
    """Held while a run writes its staging folder, so that clean-up can tell live runs from dead ones."""
    if is_url(stage_dir):
        return contextlib.nullcontext()
    return FileLock(staging_lock_path(stage_dir), wait=False, holder={"run": run_id})


def clean_dead_staging(staging_root: str) -> list[str]:
    """Remove staging folders of runs that died (their lock is free and they never finished staging)."""
    if is_url(staging_root):
        return _clean_remote_staging(staging_root)
    if not os.path.isdir(staging_root):
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


def _clean_remote_staging(staging_root: str) -> list[str]:
    """In a remote warehouse, under its lock: every run stages while it holds the lock, so any staging folder
    there is a dead run's, but a finished stage waiting for its commit (its marker)."""
    root = staging_root.rstrip("/") + "/"
    (found,) = FileSystems.match([root + "**"])
    runs: dict = {}
    for meta in found.metadata_list:
        runs.setdefault(meta.path[len(root):].split("/", 1)[0], []).append(meta.path)
    removed = []
    for run_id, paths in sorted(runs.items()):
        if any(p.endswith("/" + STAGED_MARKER) for p in paths):
            continue
        FileSystems.delete(paths)  # an object store has no folders: without its objects, the run's is gone
        removed.append(root + run_id)
    return removed
