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

from testkit.net import HOST, free_port
from testkit.process import STOP_SECONDS, Managed, clean_env, running, start

PG_ROOT = Path("/usr/lib/postgresql")  # Debian's layout: /usr/lib/postgresql/<major>/bin
UNPRIVILEGED_USER = "postgres"  # created by Debian's postgresql package
DATABASE = "mlflow"
ROLE = "mlflow"
STARTUP_SECONDS = 30.0
POLL_SECONDS = 0.1


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


@dataclass
class Postgres(Managed):
    port: int
    directory: Path
    passfile: Path  # libpq's PGPASSFILE: clients get the password from it, never from a command line

    def uri(self, driver: str = "psycopg2") -> str:
        return f"postgresql+{driver}://{ROLE}@{HOST}:{self.port}/{DATABASE}"

    @property
    def client_env(self) -> dict[str, str]:
        return {"PGPASSFILE": str(self.passfile)}

    def stop(self, timeout: float = STOP_SECONDS) -> int:
        # SIGINT first: PostgreSQL's "fast" shutdown (SIGTERM, "smart", would wait for every client to go).
        if self.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout)
        return super().stop(timeout)


def _as_unprivileged(command: Sequence[str]) -> list[str]:
    return ["runuser", "-u", UNPRIVILEGED_USER, "--", *command] if os.geteuid() == 0 else list(command)


def _hand_over(path: Path) -> None:
    if os.geteuid() == 0:
        user = pwd.getpwnam(UNPRIVILEGED_USER)
        os.chown(path, user.pw_uid, user.pw_gid)


def _run(command: Sequence[str], env: Mapping[str, str] | None = None) -> None:
    done = subprocess.run(list(command), capture_output=True, text=True, timeout=60, check=False, env=env)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}{done.stderr}")


def _initdb(binaries: Path, directory: Path) -> str:
    """The cluster in `directory`/data, owned by the unprivileged user; the role's password."""
    _hand_over(directory)
    password = secrets.token_hex(16)
    pwfile = directory / "initdb-password"
    pwfile.write_text(password + "\n", encoding="utf-8")
    pwfile.chmod(0o600)
    _hand_over(pwfile)
    _run(_as_unprivileged([
        str(binaries / "initdb"), "-D", str(directory / "data"), "-U", ROLE, "--auth=scram-sha-256",
        f"--pwfile={pwfile}", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync",
    ]))  # fmt: skip
    pwfile.unlink()
    (directory / "sockets").mkdir()
    _hand_over(directory / "sockets")
    return password


@contextlib.contextmanager
def running_postgres() -> Iterator[Postgres]:
    """A fresh cluster with role and database `mlflow`, accepting connections; stopped and deleted after."""
    binaries = pg_bin()
    # Not pytest's tmp_path: its parents are 0700 root, which the unprivileged user cannot traverse.
    directory = Path(tempfile.mkdtemp(prefix="churnguard-postgres-"))
    try:
        password = _initdb(binaries, directory)
        port = free_port()
        passfile = directory / "pgpass"
        passfile.write_text(f"{HOST}:{port}:*:{ROLE}:{password}\n", encoding="utf-8")
        passfile.chmod(0o600)  # libpq ignores a password file others can read
        command = [str(binaries / "postgres"), "-D", str(directory / "data"), "-h", HOST, "-p", str(port),
                   "-k", str(directory / "sockets")]  # fmt: skip
        managed = start("postgres", _as_unprivileged(command), log_path=directory / "postgres.log",
                        env=clean_env(), cwd=directory)  # fmt: skip
        postgres = Postgres(managed.name, managed.process, managed.log_path, port, directory, passfile)
        env = clean_env(postgres.client_env)
        ready = [str(binaries / "pg_isready"), "-q", "-h", HOST, "-p", str(port), "-U", ROLE]

        def accepting() -> bool:
            return subprocess.run(ready, env=env, timeout=10, check=False).returncode == 0

        with running(postgres, accepting, STARTUP_SECONDS, f"connections on {HOST}:{port}", POLL_SECONDS):
            _run([str(binaries / "createdb"), "-h", HOST, "-p", str(port), "-U", ROLE, DATABASE], env)
            yield postgres
    finally:
        shutil.rmtree(directory, ignore_errors=True)
