"""Mirror the SQLite database files to durable storage after each commit group.

In the browser the database lives in Pyodide's in-memory filesystem, where SQLite runs
unchanged (WAL mode, several connections); durability is the job of a :class:`Sink`
(the worker gives one over OPFS sync access handles). After every COMMIT the
:class:`Mirror` copies the WAL frames the commit wrote, so a commit group costs the
bytes it wrote, not the database's size; after a checkpoint it copies the database pages
those frames carried (the only pages a checkpoint writes), the WAL still holding every
page the copy could tear. Only when the sink has flushed does the Writer go on to
acknowledge the group.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import structlog

from dynoxide_streams.errors import InternalServerError

log = structlog.get_logger("dynoxide_streams.browser")

WAL_HEADER_BYTES = 32
"""The WAL header (magic, version, page size, checkpoint sequence, salts, checksum)."""

FRAME_HEADER_BYTES = 24
"""A WAL frame's header (page number, database size, salts, checksum)."""


class Sink(Protocol):
    """Durable storage of named files (``data.db``, ``data.db-wal``)."""

    def write(self, name: str, offset: int, data: bytes) -> None: ...

    def truncate(self, name: str, size: int) -> None: ...

    def flush(self, name: str) -> None: ...

    def restore(self, name: str, path: str) -> None:
        """Write the durable copy of ``name`` to ``path`` (none or empty: remove it)."""
        ...


class StorageSyncFailed(InternalServerError):
    """A commit group that could not be made durable (a quota error, for example):
    its writes are refused, and the engine reopens the database from the last synced
    state so they do not remain. On the wire DynamoDB's InternalServerError (500),
    which the AWS SDKs retry."""

    name = "InternalServerError"


SYNC_FAILED = (
    "Internal server error: the write could not be saved to the browser's storage "
    "({error}), so it was not applied; free storage and retry"
)


def _read(path: Path, offset: int = 0, size: int = -1) -> bytes:
    try:
        with path.open("rb") as file:
            file.seek(offset)
            return file.read(size)
    except FileNotFoundError:
        return b""


class Mirror:
    """Keeps ``sink`` equal to the database files at ``db_path`` after each sync.

    Assumes the sink holds what the files hold when the mirror is made (they were
    restored from it, or both are empty). The WAL is followed by its frames, not its
    size: after a checkpoint SQLite rewrites it from the start in place (new salts in
    the header, old frames left behind), so the mirror copies the frames that carry
    the header's salts from where it stopped, and a new header restarts it at the
    first frame. Frames with other salts are ones SQLite ignores too.
    """

    def __init__(
        self, db_path: Path, sink: Sink, on_failure: Callable[[], None] | None = None
    ) -> None:
        self._db = db_path
        self._on_failure = on_failure
        self.failed: str | None = None
        self._wal = db_path.with_name(db_path.name + "-wal")
        self._sink = sink
        self._dirty: set[int] = set()
        self._page_size = 0
        self._wal_head = _read(self._wal, 0, WAL_HEADER_BYTES)
        self._wal_end = self._valid_end(self._wal_head, WAL_HEADER_BYTES)
        self.bytes_written = 0
        self.db_bytes_written = 0
        self.checkpoints = 0

    def _valid_end(self, head: bytes, offset: int) -> int:
        """The end of the run of frames from ``offset`` whose salts are ``head``'s;
        their page numbers join ``_dirty`` (a checkpoint will write those pages)."""
        if len(head) < WAL_HEADER_BYTES:
            return 0
        self._page_size = int.from_bytes(head[8:12], "big")
        frame = FRAME_HEADER_BYTES + self._page_size
        salts = head[16:24]
        with self._wal.open("rb") as file:
            while True:
                file.seek(offset)
                header = file.read(FRAME_HEADER_BYTES)
                if len(header) < FRAME_HEADER_BYTES or header[8:16] != salts:
                    return offset
                file.seek(offset + frame - 1)
                if not file.read(1):
                    return offset
                self._dirty.add(int.from_bytes(header[0:4], "big"))
                offset += frame

    def sync(self, checkpoint: bool) -> None:
        """Copy what changed since the last sync. If the sink fails, cut the durable
        WAL back to the last synced state, call ``on_failure`` and raise
        :class:`StorageSyncFailed`; every later sync then refuses too (the engine
        must reopen from the sink)."""
        if self.failed is not None:
            raise StorageSyncFailed(SYNC_FAILED.format(error=self.failed))
        try:
            self._sync(checkpoint)
        except Exception as exc:
            self.failed = f"{type(exc).__name__}: {exc}"[:200]
            log.warning("storage sync failed; the commit group is refused", error=self.failed)
            self._cut_back()
            if self._on_failure is not None:
                self._on_failure()
            raise StorageSyncFailed(SYNC_FAILED.format(error=self.failed)) from None

    def _cut_back(self) -> None:
        """Drop WAL frames a failed sync may have written: back to the last synced
        end, or to nothing if the WAL had restarted (everything before the restart
        is in the synced database file: a restart follows a synced checkpoint)."""
        head = _read(self._wal, 0, WAL_HEADER_BYTES)
        keep = self._wal_end if head == self._wal_head else 0
        try:
            self._sink.truncate(self._wal.name, keep)
            self._sink.flush(self._wal.name)
        except Exception as exc:  # the reopen then reads what the sink has
            log.warning(
                "storage cut-back failed; reopening from what the storage has",
                error=f"{type(exc).__name__}: {exc}"[:200],
            )

    def _copy_checkpointed_pages(self) -> None:
        """After a checkpoint: write to the sink the database pages that WAL frames
        carried since the WAL last restarted (the only pages a checkpoint writes), and
        the file's size. A page stays in the set until the WAL restarts, so a
        checkpoint that could not finish is completed by a later one."""
        size = self._db.stat().st_size if self._db.exists() else 0
        page = self._page_size
        written = 0
        if page:
            with self._db.open("rb") as file:
                for number in sorted(self._dirty):
                    offset = (number - 1) * page
                    if offset >= size:
                        continue
                    file.seek(offset)
                    data = file.read(page)
                    self._sink.write(self._db.name, offset, data)
                    written += len(data)
        else:  # no WAL seen yet: the file as it is
            data = _read(self._db)
            self._sink.write(self._db.name, 0, data)
            written = len(data)
        self._sink.truncate(self._db.name, size)
        self._sink.flush(self._db.name)
        self.bytes_written += written
        self.db_bytes_written += written
        self.checkpoints += 1

    def restore(self) -> None:
        """Put the sink's copies back in place of the local files."""
        for path in (self._db, self._wal):
            self._sink.restore(path.name, str(path))
        self._db.with_name(self._db.name + "-shm").unlink(missing_ok=True)
        self.failed = None
        self._dirty.clear()
        self._wal_head = _read(self._wal, 0, WAL_HEADER_BYTES)
        self._wal_end = self._valid_end(self._wal_head, WAL_HEADER_BYTES)

    def _sync(self, checkpoint: bool) -> None:
        if checkpoint:
            self._copy_checkpointed_pages()
        head = _read(self._wal, 0, WAL_HEADER_BYTES)
        if head != self._wal_head and len(head) == WAL_HEADER_BYTES:
            # a restarted WAL: the checkpoint before it was complete, and its sync
            # wrote every page of the old frames; the new frames start a new set
            self._dirty.clear()
        start = self._wal_end if head == self._wal_head else 0
        end = self._valid_end(head, max(start, WAL_HEADER_BYTES))
        if end <= start:
            return
        data = _read(self._wal, start, end - start)
        self._sink.write(self._wal.name, start, data)
        self._sink.flush(self._wal.name)
        self.bytes_written += len(data)
        self._wal_head, self._wal_end = head, end
