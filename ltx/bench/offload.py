"""The 19B transformer under a GPU memory budget, its blocks streamed (ltx.offload), beside the all-resident model
and ltx-core 1.2.0's block streaming in the same run (`ltx bench offload`).

One transformer call (batch 1, one pass: what a sampling step makes per guidance pass) at 512x768x121 and
1024x1536x121, random bf16 weights (e2e.build). Variants: ours all resident; ours planned for 24 and 12 GiB (the cap
enforced with torch's per-process memory fraction: going over it would fail), from pinned host memory; ltx-core's
BlockStreamingWrapper as its `--offload cpu` builds it (every block pinned, two GPU slots, an LRU provider; composed
from the wheel's classes around the same weights: its builder reads a checkpoint file, and a 38 GB random file is
more than this run should write); the fp8-cast model (float8 block linears, upcast per layer) resident and planned for
12 GiB. Reported: median seconds per call, peak GPU memory, host memory pinned, the plan, the ratio to the resident
call of the same weights, the output's rel error to the resident one (0: bitwise).
"""

from __future__ import annotations

import gc

import torch

from ltx import offload
from ltx.bench.e2e import SIZES, build, inputs, timed
from ltx.offload import GiB

BUDGETS = (24, 12)


def _model(cfg, host: dict, stored=None):
    """A transformer on the CPU holding `host`'s tensors (no copy); `stored`: float8 layers per stored dtype."""
    from ltx.dit import LTX2Transformer
    from ltx.nn import install_fp8_layers

    with torch.device("meta"):
        model = LTX2Transformer(cfg)
        if stored is not None:
            model.fp8_layers = install_fp8_layers(model, stored)
    model.load_state_dict(host, strict=True, assign=True)
    return model.eval()


def _streamed(cfg, host, budget, size, stored=None):
    model = _model(cfg, host, stored)
    frames, height, width = SIZES[size]
    dtype = torch.bfloat16
    work = offload.working_bytes(frames, height, width, 24.0, cfg.inner_dim)
    plan = offload.plan(len(model.transformer_blocks), *offload.sizes(model, "transformer_blocks", dtype), work,
                        budget * GiB)  # fmt: skip
    streamer = offload.stream(model, "transformer_blocks", plan, device="cuda", finalize=lambda m, p: None)
    return model, streamer, plan


def _official_streamed(cfg, host, device):
    """ltx-core 1.2.0's BlockStreamingWrapper around our weights, as its builder makes it for --offload cpu."""
    from ltx.parity.oracle import official_module, require

    bs = "ltx_core.block_streaming."
    utils, source, pool = require(bs + "utils"), require(bs + "source"), require(bs + "pool")
    provider, sync_mod, wrapper = require(bs + "provider"), require(bs + "stream_sync"), require(bs + "wrapper")
    configurator = require("ltx_core.model.transformer").LTXModelConfigurator
    with torch.device("meta"):
        model = official_module(configurator, {"transformer": cfg.to_metadata()})
    prefix = "transformer_blocks."
    model.load_state_dict({k: v.to(device) for k, v in host.items() if not k.startswith(prefix)}, strict=False,
                          assign=True)  # fmt: skip
    blocks = {}
    for i in range(cfg.num_layers):
        mine = {k[len(f"{prefix}{i}.") :]: v for k, v in host.items() if k.startswith(f"{prefix}{i}.")}
        layout = utils.derive_layout(mine, torch.bfloat16)
        buffer = utils.alloc_buffer(utils.layout_nbytes(layout), torch.device("cpu"), pin_memory=True)
        for name, view in utils.carve_buffer(buffer, layout).items():
            view.copy_(mine[name])
        blocks[i] = source.PinnedBlock(buffer, layout)
    src = source.PinnedWeightSource(blocks)
    sync = sync_mod.create_stream_sync(device)
    slots = pool.BufferPool(src.slot_nbytes, 2, device, reuse_barrier=sync.reuse_barrier)
    prov = provider.WeightsProvider(slots, sync, device, src, [], "transformer_blocks")
    model.eval()
    pinned_bytes = sum(b.buffer.numel() for b in blocks.values())
    return wrapper.BlockStreamingWrapper(model=model, blocks=model.transformer_blocks, provider=prov,
                                         target_device=device), pinned_bytes  # fmt: skip


def _measure(fn, size, reps, budget=None):
    if budget is not None:
        offload.cap(0, budget)
    try:
        torch.cuda.reset_peak_memory_stats()
        with torch.inference_mode():
            seconds, _, out = timed(fn, reps)
        peak = torch.cuda.max_memory_allocated() / GiB
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
    return seconds, peak, out[0].float()


def run(sizes=tuple(SIZES), repeats: int = 5) -> list[dict]:
    from ltx.config import LTX2_19B
    from ltx.parity.fixtures import fp8_cast_key

    cfg, device = LTX2_19B, torch.device("cuda")
    shapes = {size: inputs(cfg, *SIZES[size], device) for size in sizes}
    reps = {size: repeats if "512" in size else max(2, repeats // 2) for size in sizes}
    rows: list[dict] = []
    ref: dict = {}

    def add(size, peer, seconds, peak, out, base="ours, all", **extra):
        before = next((r for r in rows if r["case"] == size and r["peer"].startswith(base)), None)
        row = {"case": size, "peer": peer, "seconds": seconds, "peak_gib": peak, **extra}
        if before is not None:
            row["time_ratio_vs_resident"] = seconds / before["seconds"]
        key = (size, "fp8" if "fp8" in peer else "bf16")
        ref.setdefault(key, out)
        row["rel_err_vs_resident"] = float((out - ref[key]).norm() / ref[key].norm())
        rows.append(row)
        print(row, flush=True)

    host = _resident(cfg, device, shapes, reps, add)
    _free()
    for budget in BUDGETS:
        for size in shapes:
            _budget(cfg, host, budget, size, shapes[size], reps[size], add)
    _official(cfg, host, device, shapes, reps, add)
    prefix = "model.diffusion_model."  # fp8-cast: the block linears' weights float8 (upcast per layer)
    fp8 = {k: v.to(torch.float8_e4m3fn) if fp8_cast_key(prefix + k) else v for k, v in host.items()}
    del host
    _fp8_resident(cfg, fp8, device, shapes, reps, add)
    for size in shapes:
        _budget(cfg, fp8, 12, size, shapes[size], reps[size], add, fp8=True)
    return rows


def _free() -> None:
    gc.collect()
    torch.cuda.empty_cache()


def _resident(cfg, device, shapes, reps, add) -> dict:
    """The all-resident calls (ours, ltx-core's on the same tensors); returns the weights in host memory."""
    from ltx.parity.oracle import modality

    ours, official = build(cfg, device)
    for size, (video, audio) in shapes.items():
        add(size, "ours, all resident", *_measure(lambda v=video, a=audio: ours(v, a), size, reps[size]))
        mv, ma = modality(video), modality(audio)
        add(size, "ltx-core 1.2.0, all resident",
            *_measure(lambda m=mv, n=ma: official(video=m, audio=n, perturbations=None), size, reps[size]))  # fmt: skip
    host = {k: v.to("cpu") for k, v in ours.state_dict().items()}
    return host


def _budget(cfg, host, budget, size, shape, reps, add, fp8: bool = False) -> None:
    stored = {k: v.dtype for k, v in host.items()} if fp8 else None
    model, streamer, plan = _streamed(cfg, host, budget, size, stored)
    video, audio = shape
    name = f"ours{' fp8-cast' if fp8 else ''}, {budget} GiB budget (pinned host)"
    add(size, name, *_measure(lambda: model(video, audio), size, reps, budget), plan=plan.describe(),
        host_gib=streamer.source.host_bytes / GiB if streamer else 0.0,
        base="ours fp8-cast, all" if fp8 else "ours, all")  # fmt: skip
    if streamer is not None:
        streamer.close()
    _free()


def _official(cfg, host, device, shapes, reps, add) -> None:
    from ltx.parity.oracle import modality

    wrapped, pinned_bytes = _official_streamed(cfg, host, device)
    for size, (video, audio) in shapes.items():
        mv, ma = modality(video), modality(audio)
        add(size, "ltx-core 1.2.0 --offload cpu (2 slots)",
            *_measure(lambda m=mv, n=ma: wrapped(video=m, audio=n, perturbations=None), size, reps[size]),
            host_gib=pinned_bytes / GiB)  # fmt: skip
    wrapped.teardown()
    _free()


def _fp8_resident(cfg, fp8, device, shapes, reps, add) -> None:
    model = _model(cfg, fp8, {k: v.dtype for k, v in fp8.items()}).to(device)
    for size, (video, audio) in shapes.items():
        add(size, "ours fp8-cast, all resident",
            *_measure(lambda v=video, a=audio: model(v, a), size, reps[size]), base="ours fp8-cast, all")  # fmt: skip
    _free()
