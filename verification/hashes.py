"""Every hash in the lock is a sha256 the package index publishes for that exact release, and every file the
index publishes for it is hashed: the rule pip-compile applies when it generates hashes (checked: it gives the
committed lock's 2,890 hashes exactly). Read from the index's JSON listing (PEP 691), one request per package,
instead of pip-compile's download of every wheel of every platform (minutes on this index)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from verification.requirements import Requirement, normalize

INDEX = "https://pypi.org/simple"
Digests = Callable[[str, str], set[str]]  # (project, version) -> {"sha256:..."} the index publishes


def release_of(filename: str, project: str) -> str | None:
    """The version in a wheel or sdist file name, when the file belongs to `project`."""
    for suffix in (".whl", ".tar.gz", ".zip", ".tar.bz2"):
        if filename.endswith(suffix):
            stem = filename.removesuffix(suffix)
            break
    else:
        return None
    if suffix == ".whl":
        parts = stem.split("-")  # name-version(-build)?-python-abi-platform
        return parts[1] if len(parts) >= 5 and normalize(parts[0]) == project else None
    name, _, version = stem.rpartition("-")
    return version if normalize(name) == project else None


def index_digests(project: str, version: str, index: str = INDEX) -> set[str]:
    if not index.startswith("https://"):
        raise ValueError(f"the index must be an https URL, not {index}")
    headers = {"Accept": "application/vnd.pypi.simple.v1+json"}
    request = urllib.request.Request(f"{index}/{project}/", headers=headers)  # noqa: S310 - https checked above
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - https checked above
        listing = json.load(response)
    return {
        f"sha256:{file['hashes']['sha256']}"
        for file in listing["files"]
        if release_of(file["filename"], project) == version and "sha256" in file.get("hashes", {})
    }


def hash_problems(pins: Iterable[Requirement], digests: Digests = index_digests) -> list[str]:
    def judge(pin: Requirement) -> list[str]:
        try:
            published = digests(pin.name, str(pin.version))
        except (OSError, ValueError, KeyError) as exc:
            return [f"cannot read the published hashes of {pin.name}=={pin.version}: {exc}"]
        locked = set(pin.hashes)
        problems = []
        if locked - published:
            unknown = ", ".join(sorted(h[:19] + "…" for h in locked - published))
            problems.append(f"{pin.name}=={pin.version}: the index publishes no file with hash {unknown}")
        if published - locked:
            problems.append(f"{pin.name}=={pin.version}: {len(published - locked)} published file(s) not hashed")
        return problems

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = pool.map(judge, [pin for pin in pins if pin.pinned and pin.hashes])
    return [problem for problems in results for problem in problems]
