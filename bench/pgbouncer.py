#!/usr/bin/env python
"""A private PgBouncer in transaction mode for the benchmarks (run by hand; never by the tests).

    .venv/bin/python bench/pgbouncer.py postgres://postgres@127.0.0.1:5432/tally_bench   # until Ctrl-C

    from pgbouncer import start
    pool = start("postgres://postgres@127.0.0.1:5432/tally_bench")
    pool.url      # postgres://postgres@127.0.0.1:<port>/tally_bench       workers, commands
    pool.web_url  # postgres://postgres@127.0.0.1:<port>/tally_bench_web   gunicorn
    pool.stop()

Starts Debian's ``pgbouncer`` binary (``apt-get install pgbouncer``; the system service is
never used) as a process of its own, in its own session, with an ini written to a temporary
folder, listening on 127.0.0.1 on a free port, ``pool_mode = transaction``. The children must
run with ``DATABASE_POOLER=transaction`` (config/settings/base.py, docs/deploy.md).

Two database entries point at the same PostgreSQL database, as docs/deploy.md describes for
production: ``<db>`` for the workers and ``<db>_web`` for the web processes, whose
``connect_query`` also sets the web's statement and lock timeouts. Both set
``pgtrigger.ignore`` (what the settings otherwise pass as a startup option, which PgBouncer
does not accept). Server connections: ``pool_size`` per entry (default 10), clients up to
``max_client_conn`` (1000).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

WEB_TIMEOUTS = "SET statement_timeout = 30000; SET lock_timeout = 10000"
SESSION_DEFAULTS = "SET pgtrigger.ignore = '{}'"


def binary() -> str:
    for candidate in (shutil.which("pgbouncer"), "/usr/sbin/pgbouncer"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError("pgbouncer is not installed (Debian: apt-get install -y pgbouncer)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _has_user(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _quote(value: str) -> str:
    """A value of a [databases] connection string: single-quoted, quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


@dataclass
class PgBouncer:
    proc: subprocess.Popen
    port: int
    folder: Path
    url: str
    web_url: str
    _stopped: bool = field(default=False, repr=False)

    def stop(self, grace: float = 5.0) -> None:
        """Stop this pgbouncer (its own process group, nothing else) and remove its folder."""
        if self._stopped:
            return
        self._stopped = True
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)  # 1.18: SIGTERM shuts down at once, SIGINT waits
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        shutil.rmtree(self.folder, ignore_errors=True)

    def show(self, what: str = "POOLS") -> list[tuple]:
        """``SHOW POOLS`` / ``SHOW STATS`` … from the admin console."""
        import psycopg

        parts = urlsplit(self.url)
        with psycopg.connect(host="127.0.0.1", port=self.port, dbname="pgbouncer",
                             user=unquote(parts.username or "postgres"), autocommit=True) as conn:
            return conn.execute(f"SHOW {what}").fetchall()

    def __enter__(self) -> PgBouncer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start(server_url: str, *, pool_size: int = 10, max_client_conn: int = 1000, port: int | None = None,
          timeout: float = 15.0) -> PgBouncer:
    """Start a transaction-mode PgBouncer in front of the database ``server_url`` names."""
    parts = urlsplit(server_url)
    dbname = parts.path.lstrip("/")
    user = unquote(parts.username or "postgres")
    if not dbname:
        raise ValueError(f"{server_url}: no database name")
    port = port or free_port()
    folder = Path(tempfile.mkdtemp(prefix="tally-pgbouncer-"))
    target = f"host={parts.hostname or '127.0.0.1'} port={parts.port or 5432} dbname={dbname} user={user}"
    if parts.password:
        target += f" password={_quote(unquote(parts.password))}"
    (folder / "userlist.txt").write_text(f'"{user}" "{unquote(parts.password or "")}"\n')
    (folder / "pgbouncer.ini").write_text(f"""\
[databases]
{dbname} = {target} connect_query={_quote(SESSION_DEFAULTS)}
{dbname}_web = {target} connect_query={_quote(SESSION_DEFAULTS + "; " + WEB_TIMEOUTS)}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {folder / "userlist.txt"}
pool_mode = transaction
default_pool_size = {pool_size}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = {max_client_conn}
max_db_connections = 0
server_reset_query =
server_lifetime = 3600
server_idle_timeout = 600
idle_transaction_timeout = 0
ignore_startup_parameters = extra_float_digits
admin_users = {user}
stats_users = {user}
logfile = {folder / "pgbouncer.log"}
pidfile = {folder / "pgbouncer.pid"}
log_connections = 0
log_disconnections = 0
""")
    log = open(folder / "stdout.log", "w")  # noqa: SIM115 - closed with the process
    cmd = [binary(), str(folder / "pgbouncer.ini")]
    if os.geteuid() == 0:  # pgbouncer refuses to run as root: -u drops to an unprivileged user
        import pwd

        account = next((name for name in ("postgres", "nobody") if _has_user(name)), None)
        if account is None:
            raise RuntimeError("pgbouncer refuses root and no 'postgres' or 'nobody' user exists")
        entry = pwd.getpwnam(account)
        for path in (folder, *folder.iterdir()):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        cmd[1:1] = ["-u", account]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    netloc = (f"{parts.username}{':' + parts.password if parts.password else ''}@" if parts.username else "") \
        + f"127.0.0.1:{port}"
    pool = PgBouncer(proc=proc, port=port, folder=folder,
                     url=urlunsplit((parts.scheme, netloc, f"/{dbname}", "", "")),
                     web_url=urlunsplit((parts.scheme, netloc, f"/{dbname}_web", "", "")))
    atexit.register(pool.stop)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            text = (folder / "pgbouncer.log").read_text() if (folder / "pgbouncer.log").exists() else ""
            pool.stop()
            raise RuntimeError(f"pgbouncer exited {proc.returncode}: {text[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if time.monotonic() > deadline:
                pool.stop()
                raise TimeoutError(f"pgbouncer did not listen on 127.0.0.1:{port} within {timeout} s") from None
            time.sleep(0.1)
    return pool


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(__doc__)
        return 2
    pool = start(argv[0])
    print(f"pgbouncer {pool.proc.pid} (transaction mode): DATABASE_URL={pool.url} (web: {pool.web_url}) "
          f"DATABASE_POOLER=transaction; Ctrl-C stops it")
    try:
        pool.proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        pool.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
