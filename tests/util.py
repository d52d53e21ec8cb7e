"""Helpers shared by the tests."""

import json

import pytest
from safetensors.torch import save_file

from ltx import Checkpoint


def rewrite(src, dst, tensors=None, transformer_config=None, metadata=None):
    """Copy checkpoint `src` to `dst`: `tensors(dict)` edits the tensors in place,
    `transformer_config(dict)` the config's transformer section; `metadata` replaces the metadata."""
    ckpt = Checkpoint(src)
    data = {k: ckpt.tensor(k).clone() for k in ckpt.tensors}
    if tensors:
        tensors(data)
    meta = dict(ckpt.metadata) if metadata is None else metadata
    if transformer_config:
        config = json.loads(meta["config"])
        transformer_config(config["transformer"])
        meta["config"] = json.dumps(config)
    save_file(data, str(dst), metadata=meta or None)
    return dst


def failed_rows(rows):
    """Names of the parity rows that failed."""
    return {r.name for r in rows if not r.passed}


def needs_oracle(version: str):
    """Mark: compares with ltx-core `version` or newer; skips in one line when an older one (or none) is installed."""
    from ltx.parity.oracle import at_least, oracle_version

    have = oracle_version() or "none"
    return pytest.mark.skipif(not at_least(version), reason=f"needs ltx-core >= {version} as oracle (have {have})")


needs_1_2 = needs_oracle("1.2.0")  # LTX-2.5 and what changed up to 1.2.0; without ../shared the oracle is 1.0.0
