"""Where the full-size forward's time goes: one 19B forward (ours, dispatcher defaults) under torch.profiler,
CUDA time per kernel family. `python bench/profile_e2e.py [--size 1024x1536x121] [--fp8] [--attention int8-fp8]`
(--fp8: the block linears as FP8 GEMMs, as `ltx bench e2e` makes them)."""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import ltx_kernels  # noqa: E402

from ltx.bench.e2e import SIZES, build, inputs, to_fp8  # noqa: E402
from ltx.config import LTX2_19B  # noqa: E402

FAMILIES = [
    ("attention", ("fmha", "flash", "attention", "cudnn", "sdpa", "_attn")),
    ("gemm", ("gemm", "sm90", "cutlass", "nvjet", "xmma")),
    ("norm / residual (triton)", ("_rms_modulate", "_gated_residual")),
    ("fp8 quant", ("_quant", "quantize")),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="1024x1536x121", choices=list(SIZES))
    parser.add_argument("--fp8", action="store_true", help="FP8 GEMMs in the blocks")
    parser.add_argument("--attention", default="auto", choices=ltx_kernels.ATTENTION_BACKENDS)
    args = parser.parse_args()
    ours, _ = build(LTX2_19B, torch.device("cuda"))
    ours = to_fp8(ours) if args.fp8 else ours
    video, audio = inputs(LTX2_19B, *SIZES[args.size], torch.device("cuda"))
    with torch.inference_mode(), ltx_kernels.use(attention=args.attention):
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
    print(f"{args.size} fp8={args.fp8} attention={args.attention}: {total:.1f} ms of CUDA kernels")
    for family, t in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"  {family:<28} {t:9.1f} ms  {100 * t / total:5.1f}%")
    print("top kernels:")
    for name, t in sorted(names.items(), key=lambda kv: -kv[1])[:18]:
        print(f"  {t:9.1f} ms  {name[:110]}")


if __name__ == "__main__":
    main()
