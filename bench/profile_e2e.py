"""Where the full-size forward's time goes: one 19B forward (ours, dispatcher defaults) under torch.profiler,
CUDA time per kernel family. `python bench/profile_e2e.py [--size 1024x1536x121]`"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ltx.bench.e2e import SIZES, build, inputs  # noqa: E402
from ltx.config import LTX2_19B  # noqa: E402

FAMILIES = [
    ("attention", ("fmha", "flash", "attention", "cudnn", "sdpa", "_attn")),
    ("gemm", ("gemm", "sm90", "cutlass", "nvjet", "xmma")),
    ("norm / residual (triton)", ("_rms_modulate", "_gated_residual")),
    ("fp8 quant", ("_quant",)),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="1024x1536x121", choices=list(SIZES))
    args = parser.parse_args()
    ours, _ = build(LTX2_19B, torch.device("cuda"))
    video, audio = inputs(LTX2_19B, *SIZES[args.size], torch.device("cuda"))
    with torch.inference_mode():
        ours(video, audio)
        torch.cuda.synchronize()
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
            ours(video, audio)
            torch.cuda.synchronize()
    totals, names = defaultdict(float), defaultdict(float)
    for evt in prof.key_averages():
        t = evt.self_device_time_total / 1e3  # ms
        if t <= 0:
            continue
        names[evt.key] += t
        family = next((f for f, keys in FAMILIES if any(k in evt.key.lower() for k in keys)), "other elementwise")
        totals[family] += t
    total = sum(totals.values())
    print(f"{args.size}: {total:.1f} ms of CUDA kernels")
    for family, t in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"  {family:<28} {t:9.1f} ms  {100 * t / total:5.1f}%")
    print("top kernels:")
    for name, t in sorted(names.items(), key=lambda kv: -kv[1])[:18]:
        print(f"  {t:9.1f} ms  {name[:110]}")


if __name__ == "__main__":
    main()
