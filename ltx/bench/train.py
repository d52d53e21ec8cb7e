"""One LoRA training step of the 19B (rank 32, ltx-trainer's default targets to_q/to_k/to_v/to_out.0, text-to-video
with audio), ours beside ltx-trainer 1.2.0's step in the same run (`ltx bench train`).

ltx-trainer's step as its trainer runs it, composed from the wheels (its strategy classes need pydantic, which the
GPU image lacks): ltx-core's LTXModel in bf16 (the same tensors as ours), peft's LoRA with the trainer's LoraConfig
(adapters float32, peft's default), accelerate's bf16 mixed precision (the forward under autocast), the model's own
gradient checkpointing when on, the loss, backward, clipping at 1.0, AdamW. Both sides train on one batch prepared
by `ltx.train.flow.prepare` (proven bitwise equal to the trainer's strategy on the CPU, `ltx parity --parts
train`) and take its masked loss. Same LoRA A on both sides, B zero: the first step's loss is the base model's.

Ours runs four ways: with the fused kernels (their backward the reference's, recomputed in Python per call site),
with the reference ops throughout (autograd's own backward), compiled (`ltx train` with compile: true: every
block's forward and backward through inductor), and compiled with the checkpointed blocks' inputs in pinned host
memory (offload_activations: true), to show which a training step should take. AdamW as `ltx train` makes it
(torch's fused one on CUDA); ltx-trainer's is torch's default.
Reported per size and checkpointing setting: median seconds per step (after one step that allocates the optimizer's
state, and one more), peak GPU memory above the shared weights, the ratios to ltx-trainer's, the first step's loss
on each side.
"""

from __future__ import annotations

import contextlib
import gc
import statistics
import time

import ltx_kernels
import torch

from ltx.bench.e2e import build, sync

SIZES = {"512x768x49": (49, 512, 768), "512x768x121": (121, 512, 768)}
GiB = 2**30


def batch(cfg, frames, height, width, device, text_tokens=1024, seed=1):
    """Latents (normalised), audio latents and the text features after the connectors, bf16, batch 1."""
    from ltx.audio.timing import audio_token_count

    g = torch.Generator(device).manual_seed(seed)
    rand = lambda *s: torch.randn(*s, generator=g, device=device, dtype=torch.bfloat16)  # noqa: E731
    f, h, w = (frames - 1) // 8 + 1, height // 32, width // 32
    return {"video": rand(1, 128, f, h, w), "audio": rand(1, 8, audio_token_count(frames, 24.0), 16),
            "video_context": rand(1, text_tokens, cfg.caption_channels),
            "audio_context": rand(1, text_tokens, cfg.caption_channels),
            "mask": torch.ones(1, text_tokens, dtype=torch.long, device=device)}  # fmt: skip


def _prepared(x, seed=7):
    from ltx.train.flow import prepare

    g = torch.Generator(x["video"].device).manual_seed(seed)
    return prepare(x["video"], x["video_context"], context_mask=x["mask"], audio_latent=x["audio"],
                   audio_context=x["audio_context"], first_frame_p=0.1, generator=g)  # fmt: skip


def _allocated(peak: bool = False) -> int:
    if not torch.cuda.is_available():  # (the suite's test runs it on the CPU: no memory figures there)
        return 0
    return torch.cuda.max_memory_allocated() if peak else torch.cuda.memory_allocated()


def _measure(step, reps, weights_bytes, warmup: int = 2):
    first = step()  # allocates the optimizer's state
    for _ in range(warmup - 1):
        step()
    sync()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(reps):
        sync()
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times), (_allocated(peak=True) - weights_bytes) / GiB, first


def _checkpointing(model, on: bool) -> None:
    from ltx.train.trainer import checkpoint_blocks

    for block in model.transformer_blocks:
        block.__dict__.pop("forward", None)  # back to the class's forward
    if on:
        checkpoint_blocks(model)


def _free() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _update(value: torch.Tensor, optimizer, params) -> float:
    """The rest of a step, as ltx-trainer's: backward, clipping at 1.0, AdamW."""
    optimizer.zero_grad(set_to_none=True)
    value.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimizer.step()
    return value.item()


def _restarter(params: list):
    """A function putting the LoRA and an optimizer back to their start: every setting begins from the base model
    (B = 0), so its first loss compares across the two sides."""
    start = [p.detach().to("cpu", copy=True) for p in params]  # (host: the bench's copy is not the step's memory)

    def restart(optimizer) -> None:
        with torch.no_grad():
            for p, value in zip(params, start, strict=True):
                p.copy_(value)
        optimizer.state.clear()

    return restart


def ours_trainer(model, rank: int, device):
    """LoRA put on our model from outside; returns (step_for(batch, checkpointing, kernels, offload), the initial
    LoRA A by layer); kernels "auto" (the fused kernels, their backward the reference's recomputed in Python) or
    "reference" (plain torch ops throughout, autograd's own backward); offload: "" (none), "activations" (the
    checkpointed blocks' inputs in host memory) or "activations+optimizer" (AdamW's moments there too)."""
    from ltx.train.activations import HostActivations
    from ltx.train.flow import loss
    from ltx.train.lora import add_lora, lora_parameters
    from ltx.train.trainer import make_optimizer

    adapters = add_lora(model, rank, rank, generator=torch.Generator(device).manual_seed(0))
    init = {name: a.lora_A.weight.detach().clone() for name, a in adapters.items()}
    params = lora_parameters(adapters)
    restart = _restarter(params)
    model.train()

    def step_for(x, checkpointing: bool, kernels: str = "auto", offload: str = ""):
        _checkpointing(model, checkpointing)
        # as `ltx train` makes it: fused on CUDA; its moments in host memory with offload_optimizer
        optimizer = make_optimizer("adamw", params, 1e-4, offload="optimizer" in offload)
        restart(optimizer)
        saving = HostActivations() if "activations" in offload else contextlib.nullcontext()

        def step():
            p = _prepared(x)
            with ltx_kernels.use(mode=kernels), saving:  # "reference": plain torch ops and their own backward
                v, a = model(p.video, p.audio)
                return _update(loss(v.float(), a.float(), p).mean(), optimizer, params)

        return step

    return step_for, init


def official_trainer(official, rank: int, init: dict, device):
    """ltx-trainer's step around ltx-core's model: peft's LoRA (A copied from `init`), bf16 autocast, the model's own
    checkpointing; returns step_for(batch, checkpointing)."""
    from ltx.parity.oracle import modality
    from ltx.parity.train import peft_lora
    from ltx.train.flow import loss

    wrapped, _ = peft_lora(official, rank, rank, init)
    params = [p for p in wrapped.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    restart = _restarter(params)
    wrapped.train()

    def step_for(x, checkpointing: bool):
        official.set_gradient_checkpointing(checkpointing)
        restart(optimizer)

        def step():
            p = _prepared(x)
            with torch.autocast(device.type, dtype=torch.bfloat16):  # accelerate's mixed_precision="bf16"
                v, a = wrapped(video=modality(p.video), audio=modality(p.audio), perturbations=None)
            return _update(loss(v.float(), a.float(), p).mean(), optimizer, params)

        return step

    return step_for


OFFICIAL = "ltx-trainer 1.2.0 (composed)"
REFERENCE = "ours, reference kernels"
COMPILED = "ours, compiled blocks (inductor, fwd + bwd)"
OFFLOADED = "ours, compiled, block inputs in host memory"
OFFLOADED_ALL = "ours, compiled, block inputs and AdamW moments in host memory"
OURS = ("ours", REFERENCE, COMPILED, OFFLOADED, OFFLOADED_ALL)


def run(sizes=None, repeats: int = 5, rank: int = 32, cfg=None, device: str = "cuda", text_tokens: int = 1024,
        compiled: bool = True, peers: tuple[str, ...] = OURS + (OFFICIAL,),
        checkpointing: tuple[bool, ...] = (True, False)) -> list[dict]:  # fmt: skip
    """`peers`: the variants to run, `checkpointing`: the settings to run them with (all by default)."""
    from ltx.config import LTX2_19B

    cfg, device, sizes = cfg or LTX2_19B, torch.device(device), sizes or SIZES
    ours, official = build(cfg, device)
    weights = _allocated()
    batches = {size: batch(cfg, *sizes[size], device, text_tokens) for size in sizes}
    settings = [(size, on) for size in sizes for on in checkpointing]
    rows, results = [], {}

    def attempt(name, size, on, step):
        try:
            seconds, peak, first = _measure(step, repeats, weights)
            row = {"case": size, "peer": name, "checkpointing": on, "seconds": seconds, "peak_gib": peak,
                   "first_loss": first}  # fmt: skip
        except torch.OutOfMemoryError:
            row = {"case": size, "peer": name, "checkpointing": on, "error": "out of memory"}
        results[(name, size, on)] = row
        rows.append(row)
        print(row, flush=True)
        _free()

    step_for, init = ours_trainer(ours, rank, device)
    for size, on in settings:
        if "ours" in peers:
            attempt("ours", size, on, step_for(batches[size], on))
        if REFERENCE in peers:
            attempt(REFERENCE, size, on, step_for(batches[size], on, "reference"))
    if compiled and {COMPILED, OFFLOADED, OFFLOADED_ALL} & set(peers):  # last: compiling changes the model
        from torch._dynamo.utils import counters

        from ltx.runtime import compile_blocks

        compile_blocks(ours)
        counters.clear()
        for size, on in settings:
            for name, offload in ((COMPILED, ""), (OFFLOADED, "activations"), (OFFLOADED_ALL, "activations+optimizer")):
                if name in peers and (on or not offload):  # (offloading moves the checkpointed blocks' inputs)
                    attempt(name, size, on, step_for(batches[size], on, "reference", offload))
                    rows[-1]["compiled_graphs"] = counters["stats"]["unique_graphs"]  # (0: it ran eager)
    del step_for, ours
    _free()
    if OFFICIAL in peers:
        step_for = official_trainer(official, rank, init, device)
        for size, on in settings:
            attempt(OFFICIAL, size, on, step_for(batches[size], on))
    for row in rows:
        ref = results.get((OFFICIAL, row["case"], row["checkpointing"]))
        if row["peer"] in OURS and "error" not in row and ref and "error" not in ref:
            row["time_ratio_vs_ltx_trainer"] = row["seconds"] / ref["seconds"]
            row["first_loss_ltx_trainer"] = ref["first_loss"]
            if ref["peak_gib"] > 0:
                row["memory_ratio_vs_ltx_trainer"] = row["peak_gib"] / ref["peak_gib"]
    return rows
