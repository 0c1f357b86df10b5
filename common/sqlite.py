"""One SQLite connection shared by a service's threads: WAL, explicit transactions."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Database:
    """`tx()` is a BEGIN IMMEDIATE … COMMIT (ROLLBACK on any exception) under `lock`."""

    def __init__(self, path: str, schema: str, *, synchronous: str = "FULL", foreign_keys: bool = False) -> None:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self.lock = threading.RLock()
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(f"PRAGMA synchronous={synchronous}")
        if foreign_keys:
            self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.executescript(schema)

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def close(self) -> None:
        with self.lock:
            self.conn.close()
