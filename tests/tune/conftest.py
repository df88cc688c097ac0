"""A real PostgreSQL server for the tuner's distributed tests: a throwaway cluster.

``postgres_url`` is ``$ORCHBENCH_TEST_POSTGRES`` when set (``.ci/run`` may start one),
else a cluster this fixture makes itself with Debian's ``postgresql`` binaries
(``/usr/lib/postgresql/*/bin``): ``initdb`` in a temporary directory, ``pg_ctl start``
on a free loopback port with its socket in that directory, stopped and removed at the
end of the session. ``initdb`` refuses to run as root, so as root the cluster belongs to
the ``postgres`` user (``runuser``). Without the binaries the tests skip with the reason;
under CI (``$CI`` or ``$ORCHBENCH_REQUIRE_POSTGRES`` set, as ``.ci/run`` does) they fail
instead, so CI never silently skips them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def _pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_owner(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") or os.environ.get("ORCHBENCH_REQUIRE_POSTGRES"):
        pytest.fail(f"PostgreSQL is required in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL (``postgresql://orchbench@127.0.0.1:PORT/postgres``) for the session."""
    given = os.environ.get("ORCHBENCH_TEST_POSTGRES")
    if given:
        yield given
        return
    pg_bin = _pg_bin()
    if pg_bin is None:
        _unavailable("no PostgreSQL server binaries (apt-get install postgresql)")
    assert pg_bin is not None
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        _unavailable("running as root without runuser: initdb refuses root")
    root = Path(tempfile.mkdtemp(prefix="orchbench-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, user="postgres")
    data, port = root / "data", _free_port()
    try:
        subprocess.run(
            _as_owner([str(pg_bin / "initdb"), "-D", str(data), "-A", "trust", "-U",
                       "orchbench", "-E", "UTF8", "--no-sync"]),
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            _as_owner([str(pg_bin / "pg_ctl"), "-D", str(data), "-l", str(root / "log"),
                       "-w", "-t", "60", "-o", options, "start"]),
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        log = (root / "log").read_text() if (root / "log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        _unavailable(f"the throwaway PostgreSQL cluster did not start: {exc} {log[-500:]}")
    try:
        yield f"postgresql://orchbench@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_owner([str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w",
                       "stop"]),
            capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_db(postgres_url: str) -> Iterator[str]:
    """A fresh database on the session's server for one test (dropped afterwards)."""
    import uuid

    import sqlalchemy

    from orchbench.tune._storage import driver_url

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(driver_url(postgres_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    base = postgres_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
