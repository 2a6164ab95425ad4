"""Strict construction of frozen config dataclasses from mappings (TOML tables).

Unknown keys are errors that suggest the nearest valid key; enum values are checked with the
allowed values listed. ``to_mapping`` turns a config back into plain data for ``run.toml``.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from crossings.errors import ConfigError, did_you_mean

__all__ = ["from_mapping", "to_mapping", "parse_enum", "load_toml"]

T = TypeVar("T")


def parse_enum(enum_type: type[enum.Enum], value: Any, *, field: str, source: str | None = None):
    """Return the member of ``enum_type`` whose value is ``value``, or raise a ConfigError.

    >>> import enum
    >>> class Solver(enum.Enum):
    ...     CG_AMG = "cg_amg"
    ...     CHOLMOD = "cholmod"
    >>> parse_enum(Solver, "cholmod", field="solver")
    <Solver.CHOLMOD: 'cholmod'>
    """
    if isinstance(value, enum_type):
        return value
    allowed = [m.value for m in enum_type]
    for member in enum_type:
        if str(member.value).lower() == str(value).strip().lower():
            return member
    choices = ", ".join(repr(a) for a in allowed)
    raise ConfigError(
        f"must be one of {choices}; got {value!r}.{did_you_mean(str(value), map(str, allowed))}",
        source=source,
        field=field,
    )


def _convert(tp: Any, value: Any, *, field: str, source: str | None):
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _convert(args[0], value, field=field, source=source)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return parse_enum(tp, value, field=field, source=source)
    if dataclasses.is_dataclass(tp) and isinstance(value, Mapping):
        return from_mapping(tp, value, source=source, prefix=f"{field}.")
    if origin is tuple and isinstance(value, (list, tuple)):
        args = typing.get_args(tp)
        inner = args[0] if args else Any
        return tuple(_convert(inner, v, field=field, source=source) for v in value)
    if tp is Path:
        return Path(value)
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float, str, bool) and not isinstance(value, tp):
        raise ConfigError(
            f"must be of type {tp.__name__}; got {value!r} ({type(value).__name__}).",
            source=source,
            field=field,
        )
    return value


def from_mapping(cls: type[T], data: Mapping[str, Any], *, source: str | None = None, prefix=""):
    """Build the frozen dataclass ``cls`` from ``data``, rejecting unknown keys.

    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Job:
    ...     cell_size: float = 1.0
    >>> from_mapping(Job, {"cell_size": 2})
    Job(cell_size=2.0)
    >>> from_mapping(Job, {"cellsize": 2})
    Traceback (most recent call last):
    ...
    crossings.errors.ConfigError: field 'cellsize': unknown key. Did you mean 'cell_size'?
    """
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            raise ConfigError(
                f"unknown key.{did_you_mean(key, fields)}".replace("key. ", "key. ", 1),
                source=source,
                field=f"{prefix}{key}",
            )
    kwargs = {
        name: _convert(hints[name], data[name], field=f"{prefix}{name}", source=source)
        for name in fields
        if name in data
    }
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required key is missing
        raise ConfigError(f"missing required key(s): {exc}", source=source) from None


def to_mapping(config: Any) -> dict[str, Any]:
    """Turn a config dataclass into plain TOML-ready data (enums to values, paths to str)."""

    def plain(value):
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, enum.Enum):
            return value.value
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, (tuple, list)):
            return [plain(v) for v in value]
        if isinstance(value, Mapping):
            return {k: plain(v) for k, v in value.items()}
        return value

    data = plain(config)
    return {k: v for k, v in data.items() if v is not None}


def load_toml(cls: type[T], path: str | Path, *, what: str) -> T:
    """Read the TOML file ``path`` into the config dataclass ``cls`` (strictly).

    ``what`` names the kind of file in the error shown when it is missing, e.g. "a plan config".
    """
    import tomllib

    from crossings.errors import InputFileError

    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "no such file", f"Give the path of {what} (TOML)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"is not valid TOML ({exc})", "Fix the syntax") from None
    return from_mapping(cls, data, source=str(path))
