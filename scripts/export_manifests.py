"""Write the official LTX-2 transformer key manifests into weights/manifests/.

Each manifest lists every tensor the official ltx-core 1.0.0 model expects under
`model.diffusion_model.` for a shipped configuration: key -> [shape, dtype], with the dtype the
published file stores (bf16, or float8_e4m3fn for the fp8-cast blocks). They are built from the
official package on the meta device (no weights needed) and checked by tests/test_structure.py.

    python scripts/export_manifests.py            # rewrite the manifests
    python scripts/export_manifests.py --check    # exit 1 if a committed manifest differs
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from ltx.config import LTX2_3_22B, LTX2_19B, TransformerConfig
from ltx.parity.fixtures import fp8_cast_key

OUT = Path(__file__).resolve().parent.parent / "weights" / "manifests"
PREFIX = "model.diffusion_model."
MANIFESTS: dict[str, tuple[TransformerConfig, bool]] = {
    "ltx-2-19b.transformer": (LTX2_19B, False),
    "ltx-2-19b-fp8-cast.transformer": (LTX2_19B, True),
    "ltx-2.3-22b.transformer": (LTX2_3_22B, False),
}


def official_manifest(cfg: TransformerConfig, fp8_cast: bool) -> dict:
    from ltx_core.model.transformer import LTXModelConfigurator

    with torch.device("meta"):
        model = LTXModelConfigurator.from_config({"transformer": cfg.to_metadata()})
    tensors = {}
    for name, t in model.state_dict().items():
        key = PREFIX + name
        dtype = torch.float8_e4m3fn if fp8_cast and fp8_cast_key(key) else torch.bfloat16
        tensors[key] = [list(t.shape), str(dtype).removeprefix("torch.")]
    import ltx_core

    return {
        "source": f"ltx-core {getattr(ltx_core, '__version__', '1.0.0')} LTXModelConfigurator on the meta device",
        "config": {"transformer": cfg.to_metadata()},
        "parameters": sum(t.numel() for t in model.state_dict().values()),
        "tensors": tensors,
    }


def to_text(manifest: dict) -> str:
    """JSON with one tensor per line, so that diffs of a manifest stay readable."""
    head = {k: v for k, v in manifest.items() if k != "tensors"}
    lines = [json.dumps(head)[:-1] + ', "tensors": {']
    items = list(manifest["tensors"].items())
    for i, (key, value) in enumerate(items):
        lines.append(f"  {json.dumps(key)}: {json.dumps(value)}" + ("," if i + 1 < len(items) else ""))
    return "\n".join(lines) + "\n}}\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    stale = []
    for name, (cfg, fp8) in MANIFESTS.items():
        text = to_text(official_manifest(cfg, fp8))
        path = OUT / f"{name}.json"
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        print(f"stale manifests: {', '.join(stale)}; run python scripts/export_manifests.py", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
