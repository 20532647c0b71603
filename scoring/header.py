"""Which input column is which field: the data set's own header and the API's snake_case are both accepted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from experiments.columns import COLUMNS, ID


class UnusableInput(Exception):
    """The input cannot be scored at all (unreadable, required columns missing): one line says why."""


@dataclass(frozen=True)
class Header:
    """`source[field]` is the input column holding `field`; `extra` are ignored columns, named in the summary."""

    source: dict[str, str]
    extra: tuple[str, ...]

    @classmethod
    def resolve(cls, names: Sequence[str], features: Sequence[str], id_required: bool = True) -> Header:
        aliases = dict(COLUMNS) | {snake: snake for snake in COLUMNS.values()}
        source: dict[str, str] = {}
        extra: list[str] = []
        wanted = {*features, ID}
        for name in names:
            field = aliases.get(name)
            if field is None or field not in wanted:  # the label (Churn) too: ignored, named in the summary
                extra.append(name)
                continue
            if field in source:
                raise UnusableInput(f"columns {source[field]!r} and {name!r} both hold {field!r}")
            source[field] = name
        required = [*features, ID] if id_required else list(features)
        missing = [field for field in required if field not in source]
        if missing:
            original = {snake: original for original, snake in COLUMNS.items()}
            named = ", ".join(f"{field} ({original.get(field, field)})" for field in missing)
            raise UnusableInput(f"required columns missing: {named}")
        return cls(source, tuple(extra))
