"""DATABASE_POOLER=transaction (decision 0038): what the settings switch changes, and the close's
lock, which must not be left in a pooled session."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from config.cob import runner
from config.settings.base import database_config

URL = "postgres://tally:secret@pooler.internal:6432/tally"


def test_unset_keeps_direct_connections_as_they_were(monkeypatch):
    monkeypatch.delenv("DATABASE_POOLER", raising=False)
    config = database_config(URL, web=True)
    assert not config.get("DISABLE_SERVER_SIDE_CURSORS")
    assert config["OPTIONS"]["prepare_threshold"] == 5  # the purchase's booking is prepared (decision 0039)
    assert "-c pgtrigger.ignore={}" in config["OPTIONS"]["options"]
    assert "-c statement_timeout=" in config["OPTIONS"]["options"]


@pytest.mark.parametrize("web", [True, False])
def test_transaction_pooler_settings(monkeypatch, web):
    monkeypatch.setenv("DATABASE_POOLER", "transaction")
    monkeypatch.setenv("DB_CONN_MAX_AGE", "60")
    config = database_config(URL, web=web)
    assert config["DISABLE_SERVER_SIDE_CURSORS"] is True  # .iterator() reads through a client cursor
    assert config["OPTIONS"]["prepare_threshold"] is None  # psycopg never prepares a statement
    assert config["OPTIONS"]["server_side_binding"] is False  # client-side binding cursors
    assert "options" not in config["OPTIONS"]  # PgBouncer refuses the startup parameter
    assert config["CONN_MAX_AGE"] == 60  # the connection to the pooler is kept
    assert (config["HOST"], config["PORT"], config["NAME"]) == ("pooler.internal", 6432, "tally")


def test_none_is_the_same_as_unset(monkeypatch):
    monkeypatch.setenv("DATABASE_POOLER", "none")
    assert database_config(URL)["OPTIONS"]["options"].startswith("-c pgtrigger.ignore={}")
    assert database_config(URL, pooler="transaction")["DISABLE_SERVER_SIDE_CURSORS"] is True


def test_an_unknown_pooler_is_refused(monkeypatch):
    monkeypatch.setenv("DATABASE_POOLER", "session")
    with pytest.raises(ImproperlyConfigured, match="DATABASE_POOLER"):
        database_config(URL)


def _close_lock_holders() -> list[tuple[int, bool]]:
    key = runner.ADVISORY_LOCK_KEY
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # the test's transaction would keep its first view
        cursor.execute("""
            SELECT l.pid, a.backend_xmin IS NULL AND a.backend_xid IS NULL
            FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s AND l.objsubid = 1
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())""",
                       [key >> 32, key & 0xFFFFFFFF])
        return cursor.fetchall()


def test_the_close_lock_is_a_transaction_lock_on_its_own_connection(db):
    assert _close_lock_holders() == []
    assert runner._try_lock()
    try:
        holders = _close_lock_holders()
        own_pid = connection.cursor().connection.info.backend_pid
        assert len(holders) == 1 and holders[0][0] != own_pid
        assert holders[0][1], "the held transaction keeps neither a snapshot nor a transaction id"
        with connection.cursor() as cursor:
            cursor.execute("SELECT mode FROM pg_locks WHERE locktype = 'advisory' AND pid = %s", [holders[0][0]])
            assert cursor.fetchone() == ("ExclusiveLock",)
        others: list[bool] = []
        thread = threading.Thread(target=lambda: others.append(runner._try_lock()))
        thread.start()
        thread.join()
        assert others == [False]  # a second close (another thread, another connection) is refused
    finally:
        runner._unlock()
    assert _close_lock_holders() == []
    runner._unlock()  # a second release is harmless
