"""API keys: held only as SHA-256 digests, compared in constant time, never logged.

Two roles: `predict` (prediction and model endpoints) and `admin` (reload; admin keys may also predict).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from starlette.datastructures import Headers


class Role(StrEnum):
    PREDICT = "predict"
    ADMIN = "admin"


class KeyFileError(Exception):
    """The keys file cannot be used; the service refuses to start rather than run open by mistake."""


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


@dataclass(frozen=True)
class KeyRing:
    """(digest, roles) pairs. Empty means authentication is off."""

    entries: tuple[tuple[bytes, frozenset[Role]], ...] = ()

    @property
    def enabled(self) -> bool:
        return bool(self.entries)

    @classmethod
    def build(cls, predict_keys: Iterable[str], admin_keys: Iterable[str], keys_file: Path | None) -> KeyRing:
        entries = [(digest(k), frozenset({Role.PREDICT})) for k in predict_keys if k]
        entries += [(digest(k), frozenset({Role.PREDICT, Role.ADMIN})) for k in admin_keys if k]
        if keys_file is not None:
            entries += list(_read_keys_file(keys_file))
        return cls(tuple(entries))

    def roles_for(self, presented: str) -> frozenset[Role] | None:
        """The roles of a presented key, or None. Every stored digest is compared, so timing reveals nothing."""
        candidate = digest(presented)
        found: frozenset[Role] | None = None
        for stored, roles in self.entries:
            if hmac.compare_digest(candidate, stored):
                found = roles
        return found


def _read_keys_file(path: Path) -> Iterable[tuple[bytes, frozenset[Role]]]:
    """Lines `ROLE SHA256-HEX` (`#` comments): the host never needs the plain keys."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise KeyFileError(f"cannot read keys file {path}: {exc.strerror}") from exc
    for number, raw in enumerate(lines, start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2 or parts[0] not in {"predict", "admin"} or len(parts[1]) != 64:
            raise KeyFileError(f"{path}:{number}: expected `predict|admin <sha256 hex>`")
        try:
            key_digest = bytes.fromhex(parts[1])
        except ValueError as exc:
            raise KeyFileError(f"{path}:{number}: the digest is not hexadecimal") from exc
        roles = {Role.PREDICT, Role.ADMIN} if parts[0] == "admin" else {Role.PREDICT}
        yield key_digest, frozenset(roles)


def presented_key(headers: Headers) -> str | None:
    """`Authorization: Bearer KEY` or `X-API-Key: KEY`."""
    authorization = headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return headers.get("x-api-key") or None
