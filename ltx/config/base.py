"""What every config module shares."""

from __future__ import annotations

import dataclasses
import types
import typing


class ConfigError(ValueError):
    """A checkpoint config that this implementation cannot build."""


def _fits(value, hint) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is typing.Any:
        return True
    if hint is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if origin in (tuple, list):
        if not isinstance(value, (tuple, list)):
            return False
        if not args or (len(args) == 2 and args[1] is Ellipsis):
            return not args or all(_fits(v, args[0]) for v in value)
        return len(value) == len(args) and all(_fits(v, a) for v, a in zip(value, args, strict=True))
    if origin is dict:
        return isinstance(value, dict)
    if hint in (tuple, list):  # (JSON has lists only)
        return isinstance(value, (tuple, list))
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return isinstance(value, (dict, hint))  # (a nested section: its own from_metadata checks it)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True  # (a hint this check does not model)


def check_values(cls, values: dict, section: str) -> dict:
    """`values` (settings of dataclass `cls` read from a checkpoint's `config[section]`) back, or a ConfigError
    naming each one whose JSON value has the wrong type (a number given as a string, a list for a number...)."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    wrong = [f"{k}={v!r} (expected {hints[k]})" for k, v in values.items()
             if k in names and k in hints and not _fits(v, hints[k])]  # fmt: skip
    if wrong:
        raise ConfigError(f"config[{section!r}] has settings of the wrong type: {'; '.join(wrong)}")
    return values
