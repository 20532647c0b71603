"""A throwaway PostgreSQL cluster: Debian's binaries, `initdb` in a temp directory, one `postgres` on 127.0.0.1 and
a free port (its unix socket in the temp directory), password (SCRAM) auth, a database for MLflow; stopped and
deleted afterwards.

`initdb` and `postgres` refuse to run as root, and CI runs as root: then they run as the `postgres` system user
that Debian's package creates (`runuser -u postgres --`), in a directory handed to that user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.utils.ops_processes import HOST, stop, wait_for
from verification.server import free_port

PG_ROOT = Path("/usr/lib/postgresql")  # Debian's layout: /usr/lib/postgresql/<major>/bin
UNPRIVILEGED_USER = "postgres"  # created by Debian's postgresql package
DATABASE = "mlflow"
ROLE = "mlflow"
STARTUP_SECONDS = 30.0


class PostgresMissing(AssertionError):
    pass


def pg_bin() -> Path:
    """The newest installed major version's bin directory; fails with the install command, never skips."""
    found = sorted(PG_ROOT.glob("*/bin/initdb"), key=lambda path: int(path.parent.parent.name))
    if not found:
        raise PostgresMissing(
            f"no PostgreSQL under {PG_ROOT}: apt-get install -y --no-install-recommends postgresql (.ci/run does)"
        )
    return found[-1].parent


@dataclass(frozen=True)
class Postgres:
    port: int
    directory: Path
    process: subprocess.Popen[bytes]
    passfile: Path  # libpq's PGPASSFILE: clients get the password from it, never from a command line

    def uri(self, driver: str = "psycopg2") -> str:
        return f"postgresql+{driver}://{ROLE}@{HOST}:{self.port}/{DATABASE}"

    @property
    def client_env(self) -> dict[str, str]:
        return {"PGPASSFILE": str(self.passfile)}

    def log(self) -> str:
        return (self.directory / "postgres.log").read_text(encoding="utf-8", errors="replace")


def _as_unprivileged(command: Sequence[str]) -> list[str]:
    return ["runuser", "-u", UNPRIVILEGED_USER, "--", *command] if os.geteuid() == 0 else list(command)


def _hand_over(path: Path) -> None:
    if os.geteuid() == 0:
        user = pwd.getpwnam(UNPRIVILEGED_USER)
        os.chown(path, user.pw_uid, user.pw_gid)


def _run(command: Sequence[str], env: Mapping[str, str] | None = None) -> None:
    done = subprocess.run(list(command), capture_output=True, text=True, timeout=60, check=False, env=env)
    assert done.returncode == 0, f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}{done.stderr}"


@contextlib.contextmanager
def running_postgres() -> Iterator[Postgres]:
    """A fresh cluster with role and database `mlflow`, accepting connections; stopped and deleted after."""
    binaries = pg_bin()
    # Not pytest's tmp_path: its parents are 0700 root, which the unprivileged user cannot traverse.
    directory = Path(tempfile.mkdtemp(prefix="churnguard-postgres-"))
    process: subprocess.Popen[bytes] | None = None
    try:
        _hand_over(directory)
        password = secrets.token_hex(16)
        pwfile = directory / "initdb-password"
        pwfile.write_text(password + "\n", encoding="utf-8")
        pwfile.chmod(0o600)
        _hand_over(pwfile)
        data, sockets = directory / "data", directory / "sockets"
        initdb = [str(binaries / "initdb"), "-D", str(data), "-U", ROLE, "--auth=scram-sha-256",
                  f"--pwfile={pwfile}", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"]  # fmt: skip
        _run(_as_unprivileged(initdb))
        pwfile.unlink()
        sockets.mkdir()
        _hand_over(sockets)
        port = free_port()
        passfile = directory / "pgpass"
        passfile.write_text(f"{HOST}:{port}:*:{ROLE}:{password}\n", encoding="utf-8")
        passfile.chmod(0o600)  # libpq ignores a password file others can read
        log = directory / "postgres.log"
        server = [str(binaries / "postgres"), "-D", str(data), "-h", HOST, "-p", str(port), "-k", str(sockets)]
        with log.open("wb") as sink:
            process = subprocess.Popen(
                _as_unprivileged(server),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        postgres = Postgres(port, directory, process, passfile)
        env = {**os.environ, **postgres.client_env}
        ready = [str(binaries / "pg_isready"), "-q", "-h", HOST, "-p", str(port), "-U", ROLE]

        def accepting() -> bool:
            assert process is not None
            assert process.poll() is None, f"postgres exited with {process.returncode}:\n{postgres.log()}"
            return subprocess.run(ready, env=env, timeout=10, check=False).returncode == 0

        wait_for(accepting, STARTUP_SECONDS, f"PostgreSQL to accept connections on {HOST}:{port}", interval=0.1)
        _run([str(binaries / "createdb"), "-h", HOST, "-p", str(port), "-U", ROLE, DATABASE], env)
        yield postgres
    finally:
        if process is not None:
            # SIGINT is PostgreSQL's "fast" shutdown (SIGTERM would wait for every client to disconnect).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
            stop(process)
        shutil.rmtree(directory, ignore_errors=True)
