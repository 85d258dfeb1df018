"""The SQLite database: schema, migrations, connections and the table catalog.

One database file in WAL mode. The :class:`Store` owns

* the single **write connection** (used only by ``engine/writer.py``),
* a **point-read connection** used synchronously on the event loop for short,
  bounded primary-key reads,
* a **read pool** of connections used from worker threads for statements that may
  run long (Query/Scan pages), so they never stall the event loop,
* the **catalog**: every live table's :class:`TableInfo`, loaded at start and kept in
  step by the writer after each committed DDL change.

Automatic checkpoints are off on the write connection; :meth:`Store.checkpoint` runs
one from a worker thread and :meth:`Store.close` truncates the WAL at shutdown.

A write transaction that cannot COMMIT (a full disk: :func:`is_disk_full`) is rolled
back whole, so the connection is ready for the next one. ``Store.faults`` injects
that failure for tests (``engine/faults.py``).
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Generator, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import orjson

from dynoxide_streams.engine.faults import Faults
from dynoxide_streams.engine.tables import TableInfo

T = TypeVar("T")

SCHEMA_VERSION = 5

BOUNDED_ROWS = 100
"""A read of at most this many rows may run on the event loop (see run_read)."""
LOOP_ROWS = 128
"""A stepwise read (run_read_steps) reads up to this many rows on the event loop ..."""
LOOP_BYTES = 128 * 1024
"""... or up to this many item bytes, before it moves to a worker thread."""

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE tables (
        tid INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        spec BLOB NOT NULL,
        item_count INTEGER NOT NULL DEFAULT 0,
        size_bytes INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE items (
        tid INTEGER NOT NULL,
        h INTEGER NOT NULL,
        pk BLOB NOT NULL,
        sk BLOB NOT NULL,
        size INTEGER NOT NULL,
        item BLOB NOT NULL,
        PRIMARY KEY (tid, h, pk, sk)
    ) WITHOUT ROWID;
    CREATE TABLE dropped_tables (tid INTEGER PRIMARY KEY);
    """,
    2: """
    CREATE TABLE index_items (
        tid INTEGER NOT NULL,
        iid INTEGER NOT NULL,
        ih INTEGER NOT NULL,
        ipk BLOB NOT NULL,
        isk BLOB NOT NULL,
        pk BLOB NOT NULL,
        sk BLOB NOT NULL,
        size INTEGER NOT NULL,
        item BLOB NOT NULL,
        PRIMARY KEY (tid, iid, ih, ipk, isk, pk, sk)
    ) WITHOUT ROWID;
    CREATE TABLE index_stats (
        tid INTEGER NOT NULL,
        iid INTEGER NOT NULL,
        item_count INTEGER NOT NULL DEFAULT 0,
        size_bytes INTEGER NOT NULL DEFAULT 0,
        backfill_h INTEGER,
        backfill_pk BLOB,
        backfill_sk BLOB,
        PRIMARY KEY (tid, iid)
    );
    CREATE TABLE dropped_indexes (
        tid INTEGER NOT NULL,
        iid INTEGER NOT NULL,
        PRIMARY KEY (tid, iid)
    );
    """,
    3: """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
    CREATE TABLE streams (
        sid INTEGER PRIMARY KEY AUTOINCREMENT,
        arn TEXT NOT NULL UNIQUE,
        tid INTEGER NOT NULL,
        table_name TEXT NOT NULL,
        label TEXT NOT NULL,
        view_type TEXT NOT NULL,
        key_schema BLOB NOT NULL,
        created REAL NOT NULL,
        status TEXT NOT NULL,
        disabled_at REAL,
        next_seq INTEGER NOT NULL,
        trim_seq INTEGER NOT NULL
    );
    CREATE TABLE shards (
        sid INTEGER NOT NULL,
        ordinal INTEGER NOT NULL,
        shard_id TEXT NOT NULL,
        parent_id TEXT,
        start_seq INTEGER NOT NULL,
        end_seq INTEGER,
        opened_at REAL NOT NULL,
        records INTEGER NOT NULL,
        PRIMARY KEY (sid, ordinal)
    );
    CREATE TABLE stream_records (
        sid INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        created REAL NOT NULL,
        record BLOB NOT NULL,
        PRIMARY KEY (sid, seq)
    ) WITHOUT ROWID;
    """,
    4: """
    CREATE TABLE ttl_index (
        tid INTEGER NOT NULL,
        expires REAL NOT NULL,
        h INTEGER NOT NULL,
        pk BLOB NOT NULL,
        sk BLOB NOT NULL,
        PRIMARY KEY (tid, expires, h, pk, sk)
    ) WITHOUT ROWID;
    CREATE TABLE ttl_backfill (
        tid INTEGER PRIMARY KEY,
        h INTEGER,
        pk BLOB,
        sk BLOB
    );
    """,
    5: """
    CREATE TABLE trigger_mappings (
        uuid TEXT PRIMARY KEY,
        config BLOB NOT NULL
    );
    CREATE TABLE trigger_checkpoints (
        uuid TEXT NOT NULL,
        shard_id TEXT NOT NULL,
        lane INTEGER NOT NULL,
        position TEXT NOT NULL,
        finished INTEGER NOT NULL DEFAULT 0,
        window BLOB,
        PRIMARY KEY (uuid, shard_id, lane)
    );
    CREATE TABLE trigger_dead_letters (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        uuid TEXT NOT NULL,
        created REAL NOT NULL,
        body BLOB NOT NULL
    );
    """,
}


def items_after(
    conn: sqlite3.Connection, tid: int, after: Sequence[Any] | None, limit: int
) -> list[tuple[int, bytes, bytes, bytes]]:
    """Up to ``limit`` ``(h, pk, sk, item)`` rows of table ``tid`` in storage-key order,
    after the key ``after`` (``(h, pk, sk)``), or from the first with None: the one
    query every chunked pass over a table's items (backfills, restores) pages with."""
    if after is None:
        return conn.execute(
            "SELECT h, pk, sk, item FROM items WHERE tid = ? ORDER BY h, pk, sk LIMIT ?",
            (tid, limit),
        ).fetchall()
    return conn.execute(
        "SELECT h, pk, sk, item FROM items WHERE tid = ? AND (h, pk, sk) > (?, ?, ?) "
        "ORDER BY h, pk, sk LIMIT ?",
        (tid, *after, limit),
    ).fetchall()


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's ``SQLITE_FULL``: the disk (or the database) is full."""
    return (
        isinstance(exc, sqlite3.Error)
        and getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    )


def finish_steps(steps: Generator[int, None, T]) -> T:
    """Run ``steps`` to its end and return its return value."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            result: T = done.value
            return result


class StoreError(Exception):
    """The database cannot be opened (newer schema, corrupt file, unwritable dir)."""


class SchemaTooNew(StoreError):
    pass


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, cached_statements=512
    )
    conn.execute("PRAGMA busy_timeout = 10000")
    # A page cache that holds a typical developer table, so writes with random keys
    # stay flat as the table grows (allocated lazily: idle memory is unaffected).
    conn.execute("PRAGMA cache_size = -65536")
    conn.execute("PRAGMA mmap_size = 268435456")
    return conn


class Store:
    """The open database. Create with :meth:`open`; close with :meth:`close`."""

    def __init__(self, path: Path, temp_dir: Path | None, read_pool_size: int) -> None:
        self.path = path
        self._wal_path = path.with_name(path.name + "-wal")
        self._temp_dir = temp_dir
        self.faults = Faults()
        try:
            self.write_conn = _connect(str(path))
        except sqlite3.DatabaseError as exc:  # not a database at all, or unreadable
            raise StoreError(f"cannot open database {path}: {exc}") from None
        try:
            self._configure_writer()
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self.write_conn.close()
            raise StoreError(f"cannot open database {path}: {exc}") from None
        self.point_conn = _connect(str(path))
        self._pool = [_connect(str(path)) for _ in range(read_pool_size)]
        self._pool_free = list(self._pool)
        self._pool_limiter = anyio.Semaphore(read_pool_size)
        self.tables: dict[str, TableInfo] = {}
        self._load_catalog()
        # the browser engine (Pyodide: no threads) sets these; see browser/runtime.py
        self.threads = True
        """False: every read and checkpoint runs on the calling task, never a thread."""
        self.after_commit: Callable[[bool], None] | None = None
        """Called after each COMMIT (``False``) and checkpoint (``True``) to make it
        durable elsewhere; an exception it raises fails the callers like a failed COMMIT."""

    @classmethod
    def open(cls, data_dir: Path | None, *, read_pool_size: int = 3) -> Store:
        """Open (creating if needed) ``data_dir/data.db``; ``None`` = throwaway database."""
        temp_dir: Path | None = None
        if data_dir is None:
            shm = Path("/dev/shm")
            temp_dir = Path(
                tempfile.mkdtemp(prefix="dynoxide-streams-", dir=shm if shm.is_dir() else None)
            )
            data_dir = temp_dir
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create data directory {data_dir}: {exc.strerror}") from None
        return cls(data_dir / "data.db", temp_dir, read_pool_size)

    # ------------------------------------------------------------------ set-up

    def _configure_writer(self) -> None:
        conn = self.write_conn
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise StoreError(f"cannot switch {self.path} to WAL mode")
        conn.execute(
            "PRAGMA synchronous = NORMAL" if self._temp_dir is None else "PRAGMA synchronous = OFF"
        )
        conn.execute("PRAGMA wal_autocheckpoint = 0")

    def _migrate(self) -> None:
        conn = self.write_conn
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"database {self.path} has schema version {version}, newer than this "
                f"server's {SCHEMA_VERSION}; upgrade dynoxide-streams"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _MIGRATIONS[target].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {target}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def _load_catalog(self) -> None:
        rows = self.write_conn.execute(
            "SELECT tid, name, spec, item_count, size_bytes FROM tables"
        ).fetchall()
        stats: dict[int, dict[int, tuple[int, int]]] = {}
        for tid, iid, count, size in self.write_conn.execute(
            "SELECT tid, iid, item_count, size_bytes FROM index_stats"
        ):
            stats.setdefault(tid, {})[iid] = (count, size)
        for tid, name, spec, count, size in rows:
            table = TableInfo(tid, name, orjson.loads(spec), count, size)
            table.load_indexes(stats.get(tid, {}))
            self.tables[name] = table

    # ------------------------------------------------------------------- reads

    def get_item_row(self, tid: int, key: tuple[int, bytes, bytes]) -> tuple[bytes, int] | None:
        """The stored JSON and size of one item, read on the calling thread."""
        row = self.point_conn.execute(
            "SELECT item, size FROM items WHERE tid = ? AND h = ? AND pk = ? AND sk = ?",
            (tid, *key),
        ).fetchone()
        return None if row is None else (row[0], row[1])

    async def run_read(self, fn: Callable[[sqlite3.Connection], T], *, bounded: bool = False) -> T:
        """Run the read-only ``fn(connection)`` and return its result.

        ``bounded=True`` promises that ``fn`` does a small, bounded amount of work (a
        page of at most ``BOUNDED_ROWS`` rows): it then runs right here on the event
        loop's point-read connection, which costs far less than a thread hop. Anything
        else runs on a pooled connection in a worker thread, so it never stalls the
        loop; concurrent readers are bounded by the pool size and callers beyond it wait.
        """
        if bounded or not self.threads:
            return fn(self.point_conn)
        async with self._pool_limiter:
            conn = self._pool_free.pop()
            try:
                return await anyio.to_thread.run_sync(fn, conn)
            finally:
                self._pool_free.append(conn)

    async def run_read_steps(
        self, fn: Callable[[sqlite3.Connection], Generator[int, None, T]]
    ) -> T:
        """Run the read-only generator ``fn(connection)`` to its return value.

        The generator yields the byte size of every row it reads. It starts on the event
        loop, on a pooled connection held for the whole read; once it has read
        ``LOOP_ROWS`` rows or ``LOOP_BYTES`` bytes without finishing, the same generator
        (same statement, same snapshot) continues in a worker thread, so a small read
        costs no thread hop and a large one never stalls the loop. The generator is
        closed on every exit, which must reset its statements.
        """
        try:
            self._pool_limiter.acquire_nowait()
        except anyio.WouldBlock:
            await self._pool_limiter.acquire()
        conn = self._pool_free.pop()
        try:
            steps = fn(conn)
            try:
                rows = size = 0
                try:
                    while rows < LOOP_ROWS and size < LOOP_BYTES:
                        size += next(steps)
                        rows += 1
                except StopIteration as done:
                    result: T = done.value
                    return result
                if not self.threads:
                    return finish_steps(steps)
                return await anyio.to_thread.run_sync(finish_steps, steps)
            finally:
                steps.close()
        finally:
            self._pool_free.append(conn)
            self._pool_limiter.release()

    # ------------------------------------------------------------- maintenance

    def free_bytes(self) -> int:
        """Free space on the filesystem holding the database, for this process."""
        return shutil.disk_usage(self.path.parent).free

    def wal_bytes(self) -> int:
        """Current size of the WAL file (0 if absent)."""
        try:
            return self._wal_path.stat().st_size
        except FileNotFoundError:
            return 0

    async def checkpoint(self) -> None:
        """Checkpoint the WAL on the write connection, in a worker thread.

        Only the writer calls this, between transactions: with no write in flight the
        checkpoint completes and the next write transaction restarts the WAL. Raises
        ``sqlite3.Error`` when it cannot (a full disk); the WAL then keeps every
        committed transaction and the checkpoint can simply be tried again.
        """

        def run() -> None:
            self.faults.hit("checkpoint")
            self.write_conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

        if self.threads:
            await anyio.to_thread.run_sync(run)
        else:
            run()
        if self.after_commit is not None:
            self.after_commit(True)

    def close(self) -> None:
        """Checkpoint and truncate the WAL, close every connection, drop a temp dir."""
        for conn in [self.point_conn, *self._pool]:
            conn.close()
        with contextlib.suppress(sqlite3.Error):
            self.write_conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.write_conn.close()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` on the write connection (writer only).

        All or nothing: if the block or the COMMIT raises (SQLite may fail a COMMIT
        with ``SQLITE_FULL``), the whole transaction is rolled back and the error
        re-raised.
        """
        conn = self.write_conn
        if conn.in_transaction:  # a ROLLBACK that failed last time: finish it now
            conn.execute("ROLLBACK")
        changes = conn.total_changes
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            if conn.total_changes != changes:  # only a COMMIT with something to write
                self.faults.hit("commit")  # can meet a full disk
            conn.execute("COMMIT")
        except BaseException:
            # SQLite may already have rolled back (a failed COMMIT sometimes does)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if self.after_commit is not None and conn.total_changes != changes:
            self.after_commit(False)
