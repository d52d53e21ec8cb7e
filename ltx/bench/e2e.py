"""The full-size 19B transformer forward, ours beside ltx-core's in the same run (`ltx bench e2e`, `e2e-compiled`).

Both models hold the same random bf16 weights (ltx-core's shares our tensors), built on the GPU. Inputs stand
for a 121-frame clip at 24 fps (126 audio tokens) at 512x768 (6144 video tokens) and 1024x1536 (24576), with
1024-token text contexts, batch 1, one conditional pass. Variants: ltx-core; ours with the reference kernels
(PyTorch SDPA as ltx-core calls it); ours with the dispatcher's defaults (cuDNN attention, Triton norms and
gated residuals); ours with the Triton attention; ours with FP8 GEMMs (block linears quantised per tensor,
activations per token). Reported: median seconds, peak memory above the weights, output error vs ltx-core.
"""

from __future__ import annotations

import os
import statistics
import time

import ltx_kernels
import torch

from ltx.bench import older
from ltx.parity.oracle import official_module

SIZES = {"512x768x121": (121, 512, 768), "1024x1536x121": (121, 1024, 1536)}


def build(cfg, device):
    from ltx.dit import LTX2Transformer
    from ltx.parity.oracle import require
    from ltx.testing import fill_random

    with torch.device("meta"):
        ours = LTX2Transformer(cfg)
    ours = fill_random(ours.to_empty(device=device), torch.Generator(device).manual_seed(0)).to(torch.bfloat16)
    configurator = require("ltx_core.model.transformer").LTXModelConfigurator
    with torch.device("meta"):
        official = official_module(configurator, {"transformer": cfg.to_metadata()})
    official.load_state_dict(ours.state_dict(), strict=True, assign=True)  # the same tensors
    return ours, official.eval()


def inputs(cfg, frames, height, width, device, text_tokens=1024):
    from ltx.audio.timing import audio_token_count
    from ltx.dit import Stream
    from ltx.dit.latents import audio_positions, video_positions

    f, h, w = (frames - 1) // 8 + 1, height // 32, width // 32
    g = torch.Generator(device).manual_seed(1)
    rand = lambda *s: torch.randn(*s, generator=g, device=device, dtype=torch.bfloat16)  # noqa: E731
    tv, ta = f * h * w, audio_token_count(frames, 24.0)
    sigma = torch.tensor(0.7, device=device)
    positions = video_positions(f, h, w, 24.0, device=device).to(torch.bfloat16)  # as the pipelines pass them
    video = Stream(rand(1, tv, 128), sigma, torch.full((1, tv), 0.7, device=device), positions,
                   rand(1, text_tokens, cfg.caption_channels))  # fmt: skip
    audio = Stream(rand(1, ta, 128), sigma, torch.full((1, ta), 0.7, device=device), audio_positions(ta, device=device),
                   rand(1, text_tokens, cfg.caption_channels))  # fmt: skip
    return video, audio


def to_fp8(model):
    """A copy-free FP8 variant: every attention and feed-forward linear of the blocks becomes a ScaledFP8Linear
    (weights rounded to e4m3 with a per-tensor scale, activations quantised per token at run time)."""
    from torch import nn

    from ltx.nn.linear import ScaledFP8Linear

    for name, module in list(model.transformer_blocks.named_modules()):
        if type(module) is not nn.Linear or module.in_features % 16 or module.out_features % 16:
            continue
        new = ScaledFP8Linear(module.in_features, module.out_features, module.bias is not None, False).to(
            module.weight.device
        )
        scale = module.weight.float().abs().amax().clamp(min=1e-12) / 448
        new.weight.data = (module.weight.float() / scale).to(torch.float8_e4m3fn)
        new.weight_scale.data = scale.reshape(())
        if module.bias is not None:
            new.bias.data = module.bias.data
        parent, _, attr = name.rpartition(".")
        setattr(model.transformer_blocks.get_submodule(parent) if parent else model.transformer_blocks, attr, new)
    return model


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn, repeats: int):
    """(median seconds, peak GiB above what was allocated before, the last output); the first call not timed
    (on a machine without CUDA the peak is 0: the suites' tests run there)."""
    fn()
    sync()
    cuda = torch.cuda.is_available()
    base = torch.cuda.memory_allocated() if cuda else 0
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times, out = [], None
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        out = fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times), ((torch.cuda.max_memory_allocated() if cuda else 0) - base) / 2**30, out


def run(sizes=tuple(SIZES), repeats: int = 5) -> list[dict]:
    from ltx.config import LTX2_19B
    from ltx.parity.oracle import modality

    device = torch.device("cuda")
    ours, official = build(LTX2_19B, device)
    rows = []
    for size in sizes:
        video, audio = inputs(LTX2_19B, *SIZES[size], device)
        mv, ma = modality(video), modality(audio)
        reps = repeats if "512" in size else max(2, repeats // 2)
        variants = {
            "ltx-core": lambda: official(video=mv, audio=ma, perturbations=None),
            "ours, reference kernels": ("reference", None),
            "ours (dispatcher defaults: cuDNN attention, Triton norms)": ("auto", "auto"),
            "ours, Triton attention": ("auto", "triton"),
        }
        results = {}
        with torch.inference_mode():
            for name, variant in variants.items():
                if callable(variant):
                    t, peak, out = timed(variant, reps)
                else:
                    mode, attn = variant
                    with ltx_kernels.use(mode=mode, attention=attn or "auto"):
                        t, peak, out = timed(lambda: ours(video, audio), reps)
                results[name] = out
                rows.append({"case": size, "peer": name, "seconds": t, "peak_gib_above_weights": peak})
                print(rows[-1], flush=True)
        ref = results["ltx-core"]
        for row in rows[-len(variants) :]:
            if row["peer"] != "ltx-core":
                out = results[row["peer"]]
                row["rel_err_video"] = float((out[0].float() - ref[0].float()).norm() / ref[0].float().norm())
                row["time_ratio_vs_ltx_core"] = row["seconds"] / rows[-len(variants)]["seconds"]
    # FP8 GEMMs last: the conversion replaces our block linears (ltx-core keeps the bf16 ones it shares)
    fp8 = to_fp8(ours)
    for size in sizes:
        video, audio = inputs(LTX2_19B, *SIZES[size], device)
        with torch.inference_mode():
            t, peak, out = timed(lambda: fp8(video, audio), repeats if "512" in size else max(2, repeats // 2))
        base = next(r for r in rows if r["case"] == size and r["peer"] == "ltx-core")
        rows.append({"case": size, "peer": "ours, FP8 GEMMs (per-token activations)", "seconds": t,
                     "peak_gib_above_weights": peak, "time_ratio_vs_ltx_core": t / base["seconds"]})  # fmt: skip
        print(rows[-1], flush=True)
    return rows


def run_compiled(sizes=tuple(SIZES), repeats: int = 5, fp8: bool = True) -> list[dict]:
    """Compiled runtimes, same run, same weights: ltx-core 1.2.0 eager and with its per-block torch.compile + one
    CUDA graph over the block loop (`CompilationConfig(capture=True)`; its attention falls back to PyTorch SDPA:
    no FA3 / FA4 on this machine), ours eager (dispatcher defaults), ours with the loop captured (no compile: the
    eager kernels replayed), ours compiled + captured (ltx.runtime.accelerate), then (`fp8`) the same with the
    8-bit attention (two-level and one-level accumulation), with FP8 GEMMs, and with both. `first_call_s`: the first
    call of a compiled variant at that size (compile + capture). Errors of the velocity: `rel_err_video` against
    ltx-core 1.2.0 eager, `rel_err_vs_ours_bf16` against ours compiled + captured (both bf16). With LTX_CORE_1_0_0=DIR
    (a folder holding ltx-core 1.0.0) its eager forward too, in a process of its own, first (ltx/bench/older.py)."""
    from ltx.config import LTX2_19B
    from ltx.parity.oracle import modality, require
    from ltx.runtime import accelerate, capture_blocks

    device = torch.device("cuda")
    older_rows, older_velocities = [], {}
    site = os.environ.get(older.SITE_ENV)
    if site:  # first: its process builds its own copy of the weights, and two copies of both models do not fit
        older_rows, older_velocities = older.run(site, {size: SIZES[size] for size in sizes}, repeats)
    ours, official = build(LTX2_19B, device)
    shapes = {size: inputs(LTX2_19B, *SIZES[size], device) for size in sizes}
    reps = {size: repeats if "512" in size else max(2, repeats // 2) for size in sizes}
    mods = {id(v): (modality(v), modality(a)) for v, a in shapes.values()}  # ltx-core's inputs, built once
    calls = {
        "ltx-core 1.2.0 eager": lambda v, a: official(*mods[id(v)], perturbations=None)[0],
        "ours eager": lambda v, a: ours(v, a)[0],
    }
    rows: list[dict] = []
    outs: dict = {}

    def measure(name: str, fn) -> None:
        for size, (video, audio) in shapes.items():
            with torch.inference_mode():
                start = time.perf_counter()
                fn(video, audio)
                torch.cuda.synchronize()
                first = time.perf_counter() - start
                t, peak, out = timed(lambda v=video, a=audio: fn(v, a), reps[size])
            outs[(size, name)] = out
            rows.append({"case": size, "peer": name, "seconds": t, "peak_gib_above_weights": peak,
                         "first_call_s": first})  # fmt: skip
            print(rows[-1], flush=True)

    for name, fn in calls.items():
        measure(name, fn)
    capture_blocks(ours)
    measure("ours captured (eager kernels)", calls["ours eager"])
    del ours.run_blocks
    compiling = require("ltx_core.model.transformer.compiling")
    compiled = compiling.compile_transformer(official, compiling.CompilationConfig(capture=True))
    measure("ltx-core 1.2.0 compiled + captured", lambda v, a: compiled(*mods[id(v)], perturbations=None)[0])
    accelerate(ours)
    measure("ours compiled + captured", calls["ours eager"])
    if fp8:  # 8-bit attention, then FP8 GEMMs (last: the conversion replaces our block linears for good)
        eight = lambda v, a: _with(ltx_kernels.use(attention="int8-fp8"), ours, v, a)  # noqa: E731
        one = lambda v, a: _with(ltx_kernels.use(attention="int8-fp8-one-level"), ours, v, a)  # noqa: E731
        _recompile(ours)
        measure("ours compiled + captured, 8-bit attention", eight)
        _recompile(ours)
        measure("ours compiled + captured, 8-bit attention (one-level)", one)
        to_fp8(ours)
        _recompile(ours)
        measure("ours compiled + captured, FP8 GEMMs", calls["ours eager"])
        _recompile(ours)
        measure("ours compiled + captured, FP8 GEMMs + 8-bit attention", eight)
        _recompile(ours)
        measure("ours compiled + captured, FP8 GEMMs + 8-bit attention (one-level)", one)
    rows += older_rows
    outs.update({(size, older.NAME): v.to(device) for size, v in older_velocities.items()})
    bf16 = {size: outs[(size, "ours compiled + captured")].float() for size in sizes}
    for row in rows:
        base = next(r for r in rows if r["case"] == row["case"] and r["peer"] == "ltx-core 1.2.0 compiled + captured")
        ref = outs[(row["case"], "ltx-core 1.2.0 eager")].float()
        out = outs[(row["case"], row["peer"])].float()
        row["rel_err_video"] = float((out - ref).norm() / ref.norm())
        row["rel_err_vs_ours_bf16"] = float((out - bf16[row["case"]]).norm() / bf16[row["case"]].norm())
        row["time_ratio_vs_ltx_core"] = row["seconds"] / base["seconds"]
    return rows


def _with(context, model, video, audio):
    with context:
        return model(video, audio)[0]


def _recompile(model) -> None:
    """Compile and capture afresh (a kernel setting or a module changed: the graphs hold the old choice)."""
    from ltx.runtime import accelerate

    torch._dynamo.reset()
    model.__dict__.pop("run_blocks", None)  # (the captured loop)
    accelerate(model)
