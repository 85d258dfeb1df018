"""One process per data directory: an exclusive ``flock`` on ``<data dir>/lock``.

Two servers writing one database would each keep its own catalog and Writer, so every
command that opens a data directory (``serve``, ``sidecar``, the embedded
:class:`~dynoxide_streams.server.Server`, and later ``mcp``) first takes
:meth:`DataDirLock.acquire`. The lock is ``flock(LOCK_EX | LOCK_NB)`` on an open file
description, so:

* the kernel releases it when the holder dies, however it dies (``kill -9`` included):
  no stale lock is ever left to clean up;
* a second ``acquire`` in the same process is refused too (``flock`` locks belong to
  the open file, not the process).

The file holds the holder's ``{"pid": …, "port": …}`` (the port once it is bound:
:meth:`DataDirLock.record_port`), so a refused process can say who holds the directory.
The file is never deleted: unlinking it while another process waits on the old inode
would let two processes hold "the" lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import Any

from dynoxide_streams.engine.store import StoreError

LOCK_FILE = "lock"


class DataDirInUse(StoreError):
    """Another process (or another server in this one) holds the data directory."""

    def __init__(self, data_dir: Path, pid: int | None, port: int | None) -> None:
        self.data_dir, self.pid, self.port = data_dir, pid, port
        holder = "another process" if pid is None else f"process {pid}"
        if port is not None:
            holder += f" (port {port})"
        super().__init__(
            f"data directory {data_dir} is in use by {holder}: stop it, or give another --data-dir"
        )


class DataDirLock:
    """The held lock on one data directory; :meth:`release` (or process exit) frees it."""

    def __init__(self, data_dir: Path, fd: int) -> None:
        self.data_dir = data_dir
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, data_dir: Path) -> DataDirLock:
        """Lock ``data_dir`` (created if missing) for this process and record its PID.

        Raises DataDirInUse naming the holder's PID and port when it is held, and
        StoreError when the directory or its lock file cannot be created."""
        data_dir = Path(data_dir)
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create data directory {data_dir}: {exc.strerror}") from None
        try:
            fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot lock data directory {data_dir}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise DataDirInUse(
                data_dir, _int(holder.get("pid")), _int(holder.get("port"))
            ) from None
        except OSError as exc:
            os.close(fd)
            raise StoreError(f"cannot lock data directory {data_dir}: {exc.strerror}") from None
        lock = cls(data_dir, fd)
        lock._write({"pid": os.getpid(), "port": None})
        return lock

    def record_port(self, port: int) -> None:
        """Add the port this process listens on to what a refused process is told."""
        self._write({"pid": os.getpid(), "port": port})

    def release(self) -> None:
        """Free the lock (idempotent); the holder information is cleared first."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the last descriptor of the open file releases the flock

    def _write(self, holder: dict[str, Any]) -> None:
        assert self._fd is not None
        data = json.dumps(holder).encode()
        with contextlib.suppress(OSError):  # the lock holds without its description
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, data, 0)

    def __enter__(self) -> DataDirLock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
