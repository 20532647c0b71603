"""tox's inline plugin: the suite's envs share one virtualenv built once from the lock.

lint, types, tests and verify all install exactly `requirements.txt`, so building it four times bought nothing but
about a minute per env (each install with bytecode compilation). tox 4 recreates an env whose directory was made
by another env name; this runner leaves the name out of that comparison, the idea of masenf's
tox-ignore-env-name-mismatch, written for tox-uv's runner. Everything else tox compares before reusing an env
(the interpreter and the deps, the lock itself) still forces a rebuild when it changes. Setting the env up holds a
file lock, so under `tox -p` one env builds it while the others wait, then find it ready.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from filelock import FileLock
from tox.plugin import impl
from tox.tox_env.api import ToxEnv
from tox.tox_env.info import Info
from tox.tox_env.register import ToxEnvRegister
from tox_uv._run import UvVenvRunner


class _InfoWithoutEnvName(Info):
    @contextmanager
    def compare(self, value: Any, section: str, sub_section: str | None = None) -> Iterator[tuple[bool, Any | None]]:
        if section == ToxEnv.__name__ and isinstance(value, dict):
            value = {key: item for key, item in value.items() if key != "name"}
        with super().compare(value, section, sub_section) as outcome:
            yield outcome


class SharedUvVenvRunner(UvVenvRunner):
    @staticmethod
    def id() -> str:
        return "shared-uv-venv"

    @property
    def cache(self) -> Info:
        return _InfoWithoutEnvName(self.env_dir)

    def setup(self) -> None:
        self.env_dir.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(self.env_dir.with_name(f"{self.env_dir.name}.lock")):
            super().setup()


@impl
def tox_register_tox_env(register: ToxEnvRegister) -> None:
    register.add_run_env(SharedUvVenvRunner)
