"""Mirror the SQLite database files to durable storage after each commit group.

In the browser the database lives in Pyodide's in-memory filesystem, where SQLite runs
unchanged (WAL mode, several connections); durability is the job of a :class:`Sink`
(the worker gives one over OPFS sync access handles). After every COMMIT the
:class:`Mirror` copies the WAL frames the commit wrote, so a commit group costs the
bytes it wrote, not the database's size; after a checkpoint it copies the database file
whole, the WAL still holding every page the copy could tear. Only when the sink has flushed does
the Writer go on to acknowledge the group.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

WAL_HEADER_BYTES = 32
"""The WAL header (magic, version, page size, checkpoint sequence, salts, checksum)."""

FRAME_HEADER_BYTES = 24
"""A WAL frame's header (page number, database size, salts, checksum)."""


class Sink(Protocol):
    """Durable storage of named files (``data.db``, ``data.db-wal``)."""

    def write(self, name: str, offset: int, data: bytes) -> None: ...

    def truncate(self, name: str, size: int) -> None: ...

    def flush(self, name: str) -> None: ...


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

    def __init__(self, db_path: Path, sink: Sink) -> None:
        self._db = db_path
        self._wal = db_path.with_name(db_path.name + "-wal")
        self._sink = sink
        self._wal_head = _read(self._wal, 0, WAL_HEADER_BYTES)
        self._wal_end = self._valid_end(self._wal_head, WAL_HEADER_BYTES)
        self.bytes_written = 0
        self.checkpoints = 0

    def _valid_end(self, head: bytes, offset: int) -> int:
        """The end of the run of frames from ``offset`` whose salts are ``head``'s."""
        if len(head) < WAL_HEADER_BYTES:
            return 0
        frame = FRAME_HEADER_BYTES + int.from_bytes(head[8:12], "big")
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
                offset += frame

    def sync(self, checkpoint: bool) -> None:
        """Copy what changed since the last sync; raise what the sink raises."""
        if checkpoint:
            data = _read(self._db)
            self._sink.write(self._db.name, 0, data)
            self._sink.truncate(self._db.name, len(data))
            self._sink.flush(self._db.name)
            self.bytes_written += len(data)
            self.checkpoints += 1
        head = _read(self._wal, 0, WAL_HEADER_BYTES)
        start = self._wal_end if head == self._wal_head else 0
        end = self._valid_end(head, max(start, WAL_HEADER_BYTES))
        if end <= start:
            return
        data = _read(self._wal, start, end - start)
        self._sink.write(self._wal.name, start, data)
        self._sink.flush(self._wal.name)
        self.bytes_written += len(data)
        self._wal_head, self._wal_end = head, end
