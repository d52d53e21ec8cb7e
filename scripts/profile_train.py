"""Where a 19B LoRA training step spends its GPU time (device tool): ours (fused kernels; reference ops) and
ltx-trainer's composed step (ltx/bench/train.py) at 512x768x49 without checkpointing and 512x768x121 with, one
profiled step after two warm-up steps, kernels grouped by kind and the top 25 by time, plus the wall time of the step.
Usage: python scripts/profile_train.py > profile.txt"""

import time

import torch
from torch.profiler import ProfilerActivity, profile

from ltx.bench import train as suite
from ltx.bench.e2e import build
from ltx.config import LTX2_19B

KINDS = (("attention", ("flash", "fmha", "attention", "cudnn", "sdpa", "attn")),
         ("gemm", ("gemm", "nvjet", "sm90", "cutlass", "cublas")))  # fmt: skip


def kind(name: str) -> str:
    low = name.lower()
    found = next((k for k, keys in KINDS if any(s in low for s in keys)), None)
    if found:
        return found
    return "torch elementwise / reductions / copies" if name.startswith("void ") else "triton (ours)"


CASES = (("512x768x49", False), ("512x768x121", True))


def report(name: str, step) -> None:
    for _ in range(2):
        step()
    torch.cuda.synchronize()
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as prof:
        step()
        torch.cuda.synchronize()
    wall = time.perf_counter() - start
    events = [
        e
        for e in prof.key_averages()
        if e.device_time_total > 0 and e.device_type.name == "CUDA" and not e.key.startswith("Optimizer.")
    ]  # (an annotation over kernels counted already)
    total = sum(e.device_time_total for e in events)
    kinds: dict[str, float] = {}
    for e in events:
        kinds[kind(e.key)] = kinds.get(kind(e.key), 0.0) + e.device_time_total
    print(f"\n== {name}: {total / 1e3:.1f} ms of kernels, {wall * 1e3:.1f} ms wall (profiled)")
    for group, us in kinds.items():
        print(f"  {group:34s} {us / 1e3:8.1f} ms  {100 * us / total:5.1f} %")
    for e in sorted(events, key=lambda e: -e.device_time_total)[:25]:
        print(f"{e.device_time_total / 1e3:8.2f} ms  x{e.count:<5d} {e.key[:110]}")


def main() -> None:
    device = torch.device("cuda")
    ours, official = build(LTX2_19B, device)
    batches = {size: suite.batch(LTX2_19B, *suite.SIZES[size], device) for size, _ in CASES}
    step_for, init = suite.ours_trainer(ours, 32, device)
    for size, on in CASES:
        report(f"ours {size} checkpointing={on}", step_for(batches[size], on))
        report(f"ours, reference kernels {size} checkpointing={on}", step_for(batches[size], on, "reference"))
    del step_for, ours
    step_for = suite.official_trainer(official, 32, init, device)
    for size, on in CASES:
        report(f"ltx-trainer (composed) {size} checkpointing={on}", step_for(batches[size], on))


if __name__ == "__main__":
    main()
