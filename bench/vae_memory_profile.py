"""Where the full-size LTX-2 decoder's memory peak is: peak GPU memory (above the weights) inside
each stage of one untiled decode, ours and ltx-core's, same weights and latent as vae_decode.py.

    python bench/vae_memory_profile.py [--frames 121 --height 1024 --width 1536]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vae_decode import official_decoder, ours_from  # noqa: E402


def stage_peaks(model: torch.nn.Module, latent: torch.Tensor, names: list[str]) -> dict[str, float]:
    """Peak since the start of the enclosing top-level stage (nested names are cumulative)."""
    base = torch.cuda.memory_allocated()
    peaks, handles = {}, []

    def record(name):
        return lambda m, a, o: peaks.__setitem__(name, (torch.cuda.max_memory_allocated() - base) / 2**30)

    for name in names:
        module = model.get_submodule(name)
        if name.count(".") <= 1:
            handles.append(module.register_forward_pre_hook(lambda m, a: torch.cuda.reset_peak_memory_stats()))
        handles.append(module.register_forward_hook(record(name)))
    torch.cuda.reset_peak_memory_stats()
    with torch.no_grad():
        out = model(latent)
    torch.cuda.synchronize()
    peaks["whole decode"] = (torch.cuda.max_memory_allocated() - base) / 2**30
    del out
    for h in handles:
        h.remove()
    return peaks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=121)
    parser.add_argument("--height", type=int, default=1024)
    parser.add_argument("--width", type=int, default=1536)
    args = parser.parse_args()
    device, dtype = torch.device("cuda"), torch.bfloat16
    official = official_decoder(device, dtype)
    ours = ours_from(official, device, dtype)
    shape = (1, 128, (args.frames - 1) // 8 + 1, args.height // 32, args.width // 32)
    latent = torch.randn(shape, generator=torch.Generator(device).manual_seed(1), device=device, dtype=dtype)
    names = ["conv_in", *(f"up_blocks.{i}" for i in range(len(ours.up_blocks))), "conv_out.conv"]
    last = len(ours.up_blocks) - 1
    names += [f"up_blocks.{last}.res_blocks.{j}" for j in range(len(ours.up_blocks[last].res_blocks))]
    results = {}
    for label, model in (("ltx-core", official), ("ours", ours)):
        with torch.no_grad():
            model(latent)  # warm-up
        results[label] = stage_peaks(model, latent, names)
        torch.cuda.empty_cache()
    print(f"{'stage':<32} {'ltx-core GiB':>12} {'ours GiB':>9}")
    for name in [*names, "whole decode"]:
        a, b = (results[k].get(name, float("nan")) for k in ("ltx-core", "ours"))
        print(f"{name:<32} {a:>12.2f} {b:>9.2f}")


if __name__ == "__main__":
    main()
