"""Counting the round trips a piece of code makes to PostgreSQL: the test's connection goes
through a TCP proxy that reads the messages the client sends (PostgreSQL's wire protocol) and
counts those after which the client waits for the server: a simple Query, a Sync, or a Flush
request not sent right behind a Sync (psycopg sends the two together when a pipeline ends).
Statements queued in one pipeline count once; the count does not depend on timing."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection

from accounts import outbox


class _Proxy(threading.Thread):
    def __init__(self, target: tuple[str, int] | str) -> None:
        super().__init__(daemon=True)
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.counting = False
        self.round_trips = 0
        self.statements: list[str] = []  # what was sent while counting, to read when a count is off
        self._buffer = b""
        self._last = b""
        self._stopping = threading.Event()

    def _connect(self) -> socket.socket:
        if isinstance(self.target, str):  # a Unix socket (the embedded PostgreSQL)
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.target)
            return upstream
        return socket.create_connection(self.target)

    def run(self) -> None:
        self.listener.settimeout(30)
        client, _address = self.listener.accept()
        upstream = self._connect()
        selector = selectors.DefaultSelector()
        selector.register(client, selectors.EVENT_READ, upstream)
        selector.register(upstream, selectors.EVENT_READ, client)
        try:
            while not self._stopping.is_set():
                for key, _events in selector.select(timeout=0.1):
                    data = key.fileobj.recv(1 << 16)  # type: ignore[union-attr]
                    if not data:
                        return
                    if key.fileobj is client and self.counting:
                        self._read(data)
                    key.data.sendall(data)
        finally:
            client.close()
            upstream.close()
            self.listener.close()

    def _read(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= 5:
            length = int.from_bytes(self._buffer[1:5], "big")
            if len(self._buffer) < 1 + length:
                return
            kind, body = self._buffer[:1], self._buffer[5:1 + length]
            self._buffer = self._buffer[1 + length:]
            if kind in (b"Q", b"P"):
                text = body[:-1] if kind == b"Q" else body[body.index(b"\0") + 1:]
                self.statements.append(text.split(b"\0")[0][:80].decode(errors="replace"))
            if kind in (b"Q", b"S") or (kind == b"H" and self._last != b"S"):
                self.round_trips += 1
            self._last = kind

    def start_counting(self) -> None:
        self.round_trips, self.statements, self._buffer, self._last = 0, [], b"", b""
        self.counting = True

    def stop(self) -> None:
        self._stopping.set()


@contextlib.contextmanager
def counted_round_trips() -> Iterator[_Proxy]:
    """Reconnect Django's default connection through a counting proxy for the block (use in a
    ``transaction=True`` test: the connection is closed and opened again); the count starts
    with the block, the connection being set up already."""
    settings = connection.settings_dict
    host, port = settings["HOST"] or "127.0.0.1", int(settings["PORT"] or 5432)
    target: tuple[str, int] | str = f"{host}/.s.PGSQL.{port}" if host.startswith("/") else (host, port)
    proxy = _Proxy(target)
    proxy.start()
    connection.close()
    saved = settings["HOST"], settings["PORT"]
    settings["HOST"], settings["PORT"] = "127.0.0.1", str(proxy.port)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        proxy.start_counting()
        yield proxy
    finally:
        connection.close()
        settings["HOST"], settings["PORT"] = saved
        proxy.stop()
        proxy.join(10)


@contextlib.contextmanager
def counted_commits() -> Iterator[list[str]]:
    """The commits the block makes: psycopg's ``commit()`` with a transaction open (otherwise
    it sends nothing), a COMMIT statement (sent with the statements before it), and any
    statement run outside a transaction (it commits on its own). The outbox's delivery task,
    which runs on a worker after commit (eagerly here), is left out."""
    commits: list[str] = []
    commit = psycopg.Connection.commit

    def counted(self):
        if self.pgconn.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            commits.append("commit()")
        return commit(self)

    def statements(execute, sql, params, many, context):
        if sql == "COMMIT" or not connection.in_atomic_block:
            commits.append(sql)
        return execute(sql, params, many, context)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(psycopg.Connection, "commit", counted)
        patch.setattr(outbox, "enqueue_quietly", lambda task, ids: None)
        with connection.execute_wrapper(statements):
            yield commits
