"""Where the LTX-Video transformer's forward spends its time on the GPU (device tool): ours compiled (blocks, no
capture, so the profiler sees every kernel), one forward at 768x512x121, kernels grouped by kind.
Usage: python scripts/profile_ltxv.py [2B|13B] > profile.txt"""

import sys

import torch
from torch.profiler import ProfilerActivity, profile

from ltx.bench import ltxv as suite
from ltx.config.ltxv import LTXV_2B, LTXV_13B
from ltx.pipelines.ltxv_conditions import pixel_positions
from ltx.runtime import compile_blocks

KINDS = (("attention", ("flash", "fmha", "attention", "cudnn", "sdpa")), ("gemm", ("gemm", "nvjet", "sm90", "cutlass")),
         ("norm / modulation / other", ("",)))  # fmt: skip


def main(name: str = "13B") -> None:
    cfg = {"2B": LTXV_2B, "13B": LTXV_13B}[name]
    device = torch.device("cuda")
    ours = compile_blocks(suite.build_transformers(cfg, device)[0])
    f, h, w = 16, 16, 24
    latent = torch.randn(1, f * h * w, cfg.in_channels, device=device, dtype=torch.bfloat16)
    positions = pixel_positions(f, h, w, (8, 32, 32), cfg.causal_temporal_positioning).float()
    positions[0] /= suite.FPS
    context, mask = suite.text(cfg.caption_channels, device)
    t = torch.full((1, 1), 0.7, device=device)
    args = (latent, positions[None].to(device), context, t)
    with torch.inference_mode():
        for _ in range(3):
            ours(*args, context_mask=mask)
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            ours(*args, context_mask=mask)
            torch.cuda.synchronize()
    events = [e for e in prof.key_averages() if e.device_time_total > 0]
    total = sum(e.device_time_total for e in events)
    kinds = dict.fromkeys([k for k, _ in KINDS], 0.0)
    for e in events:
        kind = next(k for k, keys in KINDS if any(s in e.key.lower() for s in keys))
        kinds[kind] += e.device_time_total
    print(f"{name} compiled blocks, one forward, 768x512x121: {total / 1e3:.1f} ms of kernels")
    for kind, us in kinds.items():
        print(f"  {kind:28s} {us / 1e3:8.1f} ms  {100 * us / total:5.1f} %")
    print()
    for e in sorted(events, key=lambda e: -e.device_time_total)[:30]:
        print(f"{e.device_time_total / 1e3:8.2f} ms  x{e.count:<4d} {e.key[:110]}")


if __name__ == "__main__":
    main(*sys.argv[1:])
