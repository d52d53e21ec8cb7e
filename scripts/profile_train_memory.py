"""Where a 19B LoRA training step's peak GPU memory goes (device tool): ours at 512x768x49 with gradient
checkpointing and the blocks' inputs in host memory (the setting whose memory ratio to ltx-trainer misses 0.8x), with
the reference ops in eager mode (readable frames; the compiled blocks run the same ops), rank 32 on ltx-trainer's
targets. Two warm-up steps, then one step recorded by the CUDA allocator's history. Printed: what stays allocated
between steps (base weights, LoRA parameters, AdamW moments), the step's peak above that, and the allocations live at
the peak grouped by the innermost Python frame of our code (or torch's, or none: the autograd engine's own).
Usage: python scripts/profile_train_memory.py > memory.txt"""

from collections import defaultdict

import torch

from ltx.bench import train as suite
from ltx.bench.e2e import build
from ltx.config import LTX2_19B

GiB = 2**30
SIZE = "512x768x49"


def where(frames: list[dict]) -> str:
    """The innermost frame of ours (ltx/, ltx_kernels/), else of torch, else none, as file:line function."""
    for markers in (("/ltx/", "/ltx_kernels/"), ("/torch/",)):
        for f in frames:  # (innermost first)
            name = f.get("filename", "")
            hit = next((m for m in markers if m in name), None)
            if hit and "cuda/memory" not in name:
                return f"{hit.strip('/')}/{name.split(hit)[-1]}:{f.get('line')} {f.get('name')}"
    return "(no Python frame: the autograd engine's backward)"


def live_at_peak(events: list[dict]) -> tuple[int, dict]:
    """Replays alloc / free events; returns (peak bytes allocated in the trace, {addr: (size, frames)} at the peak)."""
    live, now, peak, at = {}, 0, 0, -1
    for i, e in enumerate(events):
        if e["action"] == "alloc":
            live[e["addr"]] = e["size"]
            now += e["size"]
            if now > peak:
                peak, at = now, i
        elif e["action"] == "free_completed" and e["addr"] in live:
            now -= live.pop(e["addr"])
    state = {}
    for e in events[: at + 1]:
        if e["action"] == "alloc":
            state[e["addr"]] = (e["size"], e.get("frames", []))
        elif e["action"] == "free_completed":
            state.pop(e["addr"], None)
    return peak, state


def main() -> None:
    device = torch.device("cuda")
    ours, official = build(LTX2_19B, device)
    del official
    weights = torch.cuda.memory_allocated()
    step_for, _ = suite.ours_trainer(ours, 32, device)
    step = step_for(suite.batch(LTX2_19B, *suite.SIZES[SIZE], device), True, "reference", offload=True)
    for _ in range(2):
        step()
    torch.cuda.synchronize()
    lora = [p for p in ours.parameters() if p.requires_grad]
    lora_bytes = sum(p.numel() * p.element_size() for p in lora)
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    torch.cuda.memory._record_memory_history(max_entries=3_000_000, stacks="python")
    step()
    torch.cuda.synchronize()
    snapshot = torch.cuda.memory._snapshot()
    torch.cuda.memory._record_memory_history(enabled=None)
    peak = torch.cuda.max_memory_allocated()
    print(
        f"{SIZE}, checkpointing, block inputs in host memory, eager reference ops, LoRA rank 32 ({len(lora)} tensors)"
    )
    print(f"  base weights (bf16)                      {weights / GiB:7.2f} GiB")
    print(f"  LoRA parameters (float32)                {lora_bytes / GiB:7.2f} GiB")
    print(f"  between steps, above the weights         {(base - weights) / GiB:7.2f} GiB (LoRA + AdamW moments + rest)")
    print(f"  step peak above the weights              {(peak - weights) / GiB:7.2f} GiB (the bench's peak_gib)")
    events = snapshot["device_traces"][0]
    traced, state = live_at_peak(events)
    print(f"  allocated during the step, live at its peak {traced / GiB:7.2f} GiB ({len(events)} events)")
    groups: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for size, frames in state.values():
        g = groups[where(frames)]
        g[0] += size
        g[1] += 1
    print("\n  live at the peak, by where it was allocated:")
    for key, (size, count) in sorted(groups.items(), key=lambda kv: -kv[1][0])[:30]:
        print(f"  {size / 2**20:9.1f} MiB  x{count:<5d} {key[:150]}")


if __name__ == "__main__":
    main()
