"""Write a full-size LTX-2 checkpoint with random weights, in the official layout.

The keys, shapes and stored dtypes come from the official manifests in weights/manifests/ (made
from ltx-core by export_manifests.py), the `config` metadata from the same manifests; the values are
drawn as for the tiny parity checkpoints (ltx.parity.fixtures.random_value), except the vocoders'
constants (anti-aliasing filters, STFT and mel bases), which get their true values. Several
manifests joined by "+" make one file. The file is streamed tensor by tensor, so writing a 38 GB
file needs one tensor of RAM, not 38 GB.

    python scripts/make_random_checkpoint.py ltx-2-19b.transformer /data/ltx-2-19b-random.safetensors --device cuda
    python scripts/make_random_checkpoint.py ltx-2.3-22b.transformer out.safetensors --layers 8   # 8 blocks
    python scripts/make_random_checkpoint.py ltx-2.vae vae.safetensors
    python scripts/make_random_checkpoint.py ltx-2.audio_vae+ltx-2.3.vocoder audio.safetensors
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from ltx.checkpoint import DTYPES
from ltx.parity.fixtures import constant_value, random_value

MANIFESTS = Path(__file__).resolve().parent.parent / "weights" / "manifests"
_NAMES = {v: k for k, v in DTYPES.items()}


def plan(manifests: str, layers: int | None) -> tuple[dict, list[tuple[str, list[int], torch.dtype]]]:
    config, tensors = {}, {}
    for name in manifests.split("+"):
        data = json.loads((MANIFESTS / f"{name}.json").read_text())
        config |= data["config"]
        tensors |= data["tensors"]
    entries = []
    for key, (shape, dtype) in tensors.items():
        parts = key.split(".")
        if layers is not None and parts[2:3] == ["transformer_blocks"] and int(parts[3]) >= layers:
            continue
        entries.append((key, shape, getattr(torch, dtype)))
    if layers is not None and "transformer" in config:
        config["transformer"]["num_layers"] = layers
    return config, entries


def write(path: Path, config: dict, entries, device: str, seed: int, model_version: str) -> int:
    header: dict = {"__metadata__": {"config": json.dumps(config), "model_version": model_version}}
    offset = 0
    for key, shape, dtype in entries:
        nbytes = torch.Size(shape).numel() * dtype.itemsize
        header[key] = {"dtype": _NAMES[dtype], "shape": shape, "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    gen = torch.Generator(device=device).manual_seed(seed)
    with open(path, "wb") as f:
        f.write(len(raw).to_bytes(8, "little") + raw)
        for key, shape, dtype in entries:
            value = constant_value(key, config)
            if value is None:
                value = random_value(key, torch.Size(shape), gen, device=device)
            value = value.to(dtype)
            f.write(value.contiguous().cpu().reshape(-1).view(torch.uint8).numpy().tobytes())
    return offset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest", help="manifests in weights/manifests/ joined by '+', e.g. ltx-2-19b.transformer")
    parser.add_argument("output", type=Path)
    parser.add_argument("--layers", type=int, help="keep only the first N blocks")
    parser.add_argument("--device", default="cpu", help="where to draw the random numbers")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not args.output.parent.is_dir():
        parser.error(f"output {args.output}: the folder {args.output.parent} does not exist; make it first")
    version = {"ltx-2.3": "2.3.0", "ltx-2.5": "2.5.0", "ltx-video-0.9.1": "0.9.1", "ltx-video-0.9.5": "0.9.5"}
    names = args.manifest.split("+")
    version = next((v for k, v in version.items() if any(n.startswith(k) for n in names)), "2.0.0")
    config, entries = plan(args.manifest, args.layers)
    start = time.perf_counter()
    nbytes = write(args.output, config, entries, args.device, args.seed, version)
    print(f"wrote {args.output}: {len(entries)} tensors, {nbytes / 1e9:.1f} GB in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
