"""A throwaway PostgreSQL server for the tests of workers on several machines, and a database per test.

``VAUTOML_TEST_POSTGRES`` (an SQLAlchemy URL, as ``--storage`` takes it)
names a server to use; ``.ci/run`` starts one with this module
(``python tests/postgres_server.py start DIR``) so every test shares it.
Without it the tests start their own cluster from the installed PostgreSQL
binaries (about a second), or skip saying what is missing.  Each test gets
a fresh database on that server, so tests (and xdist workers) never see
each other's studies.

The cluster checks passwords on TCP (``scram-sha-256``): a wrong password in
``--storage`` must be refused by the server, as a real one would, not let
in by ``trust``.  ``initdb`` refuses to run as root, so as root every
server command runs as the ``postgres`` user (Debian's package creates it).
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # psycopg loads only where a test connects
    import psycopg

ENV = "VAUTOML_TEST_POSTGRES"
USER = "vautoml"
START_ATTEMPTS = 3  # a free port can be taken between finding it and the server binding it


def postgres_bin() -> Path | None:
    """The folder of the newest installed PostgreSQL's server binaries (Debian's layout, else ``PATH``)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    initdb = found[-1] if found else shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def server_user() -> str | None:
    """Who runs the server: this user, or ``postgres`` for root (which initdb refuses); ``None`` if there is none."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid()).pw_name
    try:
        return pwd.getpwnam("postgres").pw_name
    except KeyError:
        return None


def why_no_cluster() -> str | None:
    """Why this machine cannot start a throwaway cluster, or ``None`` when it can."""
    if postgres_bin() is None:
        return "PostgreSQL's server binaries (initdb) are not installed: apt-get install postgresql"
    if server_user() is None:
        return "running as root and there is no 'postgres' user to run the server as"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed: pip install 'psycopg[binary]'"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Cluster:
    """A PostgreSQL cluster of its own in ``folder`` (data, socket, log), listening on 127.0.0.1 only."""

    folder: Path
    password: str
    port: int = 0

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{USER}:{self.password}@127.0.0.1:{self.port}/postgres"

    @classmethod
    def create(cls, folder: Path) -> Cluster:
        """Initialise a cluster in ``folder`` (made writable by the server's user) and start it on a free port."""
        folder.mkdir(parents=True, exist_ok=True)
        cluster = cls(folder, secrets.token_hex(8))
        password_file = folder / "password"
        password_file.write_text(cluster.password + "\n")
        password_file.chmod(0o600)
        if os.geteuid() == 0:
            shutil.chown(folder, user=server_user())
            shutil.chown(password_file, user=server_user())
        cluster._server(
            "initdb",
            "-D",
            str(folder / "data"),
            "-U",
            USER,
            f"--pwfile={password_file}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
        )
        cluster.start()
        return cluster

    def start(self) -> None:
        """Start the server, on its old port if it had one (a restart keeps every stored URL valid)."""
        for attempt in range(START_ATTEMPTS):
            port = self.port or free_port()
            try:
                self._pg_ctl(
                    "start",
                    "-o",
                    f"-p {port} -k {self.folder} -c listen_addresses=127.0.0.1",
                    "-l",
                    str(self.folder / "server.log"),
                )
            except RuntimeError:
                if self.port or attempt == START_ATTEMPTS - 1:
                    raise
                continue
            self.port = port
            return

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: connections are cut, as when a database host goes down)."""
        self._pg_ctl("stop", "-m", mode)

    def remove(self) -> None:
        """Stop the server if it runs and delete the folder (a server that already died leaves a stale pid file)."""
        if (self.folder / "data" / "postmaster.pid").exists():
            try:
                self.stop("immediate")
            except RuntimeError:
                pass
        shutil.rmtree(self.folder, ignore_errors=True)

    def _pg_ctl(self, action: str, *options: str) -> None:
        self._server("pg_ctl", "-D", str(self.folder / "data"), "-w", "-t", "60", *options, action)

    def _server(self, program: str, *args: str) -> None:
        command = [str(postgres_bin() / program), *args]
        if os.geteuid() == 0:
            command = ["su", server_user(), "-s", "/bin/sh", "-c", shlex.join(command)]
        done = subprocess.run(command, capture_output=True, text=True, cwd=self.folder, timeout=120)
        if done.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{shlex.join(command)} failed: {done.stdout}{done.stderr}{tail}".strip())


def with_database(url: str, database: str) -> str:
    """``url`` (SQLAlchemy's form, password kept) naming another database on the same server."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=database).render_as_string(hide_password=False)


def connect(url: str, **options: Any) -> psycopg.Connection:
    """A psycopg connection to the database an SQLAlchemy ``postgresql+psycopg://`` URL names."""
    import psycopg
    from sqlalchemy.engine import make_url

    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(plain, connect_timeout=10, **options)


@contextmanager
def cluster_or_skip() -> Iterator[Cluster]:
    """A new cluster in a fresh folder under the system's temporary folder, removed afterwards; or skip."""
    reason = why_no_cluster()
    if reason is not None:
        pytest.skip(f"no PostgreSQL server for this test: {reason}")
    # Not pytest's tmp_path: it is private to this user (0700), and the server may run as another.
    folder = Path(tempfile.mkdtemp(prefix="vautoml-pg-"))
    try:
        yield Cluster.create(folder)
    finally:
        Cluster(folder, "").remove()  # also after a failed start: the folder holds the log that said why


# Named apart from their functions: a test module imports the functions (they must be in its namespace) and its
# tests take the fixtures by name, without a parameter shadowing an import.
@pytest.fixture(scope="session", name="postgres_server")
def postgres_server_fixture() -> Iterator[str]:
    """The URL of a server the tests may create databases on: ``VAUTOML_TEST_POSTGRES``, or a cluster of our own."""
    if os.environ.get(ENV):
        yield os.environ[ENV]
        return
    with cluster_or_skip() as cluster:
        yield cluster.url


@pytest.fixture(name="postgres_url")
def postgres_url_fixture(postgres_server: str) -> Iterator[str]:
    """The URL of a new, empty database for this test alone, dropped after it."""
    name = f"vautoml_test_{secrets.token_hex(6)}"
    with connect(postgres_server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(postgres_server, name)
    finally:
        with connect(postgres_server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(name="own_postgres")
def own_postgres_fixture() -> Iterator[Cluster]:
    """A cluster for this test alone, for tests that stop and start the server (never a shared one)."""
    with cluster_or_skip() as cluster:
        yield cluster


def main(argv: list[str]) -> int:
    """``start FOLDER``: start a cluster and print the shell line that exports its URL; ``stop FOLDER``: remove it."""
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print("usage: python tests/postgres_server.py start|stop FOLDER", file=sys.stderr)
        return 2
    action, folder = argv[0], Path(argv[1])
    if action == "stop":
        Cluster(folder, "").remove()
        return 0
    reason = why_no_cluster()
    if reason is not None:
        print(f"no PostgreSQL cluster for the tests: {reason}", file=sys.stderr)
        return 1
    cluster = Cluster.create(folder)
    print(f"export {ENV}={shlex.quote(cluster.url)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
