"""Hugging Face model folders (Gemma-3, T5) loaded strictly into transformers' own classes: weights
from `model.safetensors` or the shards its index lists, no downloads, clear errors for what is missing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

from ltx.checkpoint import CheckpointError, CheckpointSet, load_state


def read_json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise CheckpointError(
            f"{path.parent}: no {path.name}, so this is not a {what} folder in the Hugging Face layout"
        )
    try:
        return json.loads(path.read_text())
    except ValueError as e:
        raise CheckpointError(f"{path}: not valid JSON ({e})") from None


def weight_files(folder: Path, what: str) -> CheckpointSet:
    """The folder's safetensors weights: the shards of model.safetensors.index.json, or model.safetensors."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(read_json(index, what).get("weight_map", {}).values()))
        if not shards:
            raise CheckpointError(f"{index}: lists no weight files")
        missing = [s for s in shards if not (folder / s).is_file()]
        if missing:
            raise CheckpointError(
                f"{folder}: the {what} is incomplete: {len(missing)} of {len(shards)} weight shards are missing "
                f"({', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}); download the whole folder"
            )
        return CheckpointSet([folder / s for s in shards], folder)
    if (folder / "model.safetensors").is_file():
        return CheckpointSet([folder / "model.safetensors"], folder)
    raise CheckpointError(
        f"{folder}: no model.safetensors or model.safetensors.index.json; the {what} weights must be safetensors"
    )


def find_file(folder: Path, name: str, what: str) -> Path:
    """`name` in the folder or below it (the first in sorted order)."""
    found = sorted(folder.rglob(name))
    if not found:
        raise CheckpointError(f"{folder}: no {name} in this {what} folder or below it")
    return found[0]


def check_folder(folder: str | os.PathLike, what: str, hint: str) -> Path:
    path = Path(folder)
    if not path.is_dir():
        raise CheckpointError(f"{path}: no such {what} folder. {hint}")
    return path


def load_into(
    module: nn.Module,
    files: CheckpointSet,
    prefixes: tuple[str, ...],
    *,
    device: str | torch.device,
    dtype: torch.dtype,
    what: str,
    ignore: tuple[str, ...] = (),
    aliases: dict[str, str] | None = None,
) -> nn.Module:
    """Fill `module` (built on meta) from the first of `prefixes` under which the folder holds its first
    key. Keys under that prefix starting with one of `ignore` (a vision tower, a decoder) belong to other
    models; keys outside the prefix too. `aliases`: state name -> the name of the tensor it is tied to,
    used when the folder stores only that one."""
    names, aliases = list(module.state_dict()), aliases or {}
    probe = next(n for n in names if n not in aliases)
    prefix = next((p for p in prefixes if p + probe in files.tensors), None)
    if prefix is None:
        raise CheckpointError(
            f"{files.path}: holds no {what} weights (looked for {probe!r} under {', '.join(map(repr, prefixes))})"
        )
    keys = {}
    for name in names:
        key = prefix + name
        keys[name] = prefix + aliases[name] if key not in files.tensors and name in aliases else key
    owned = {k for k in files.tensors if k.startswith(prefix) and not k[len(prefix) :].startswith(ignore)}
    return load_state(module, files, keys, owned, device=device, dtype=dtype, what=what)
