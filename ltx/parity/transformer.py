"""Transformer parity: the same file through our loader and ltx-core's, the same inputs, every
block's video and audio outputs and the final outputs compared.

Inputs are real shapes: a pixel clip size gives the latent grid, the patchified token counts and the
official token positions; a conditioning mask makes timesteps differ per token; batch 2 with a
different sigma per sample and per modality. Passes: base, STG (self-attention -> value on chosen
blocks and samples), modality isolation (a2v/v2a off), masks (text mask + [0,1] self-attention
mask), and a frozen audio stream (the guider's step skip).

Memory: the models run one after the other and block outputs go to the CPU as they are produced,
so a checkpoint is on the device once at a time (a 19B bf16 file fits in 80 GB). In low precision
the float32 reference is the official model with its weights cast up one block at a time.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

import torch

from ltx.audio.timing import audio_token_count
from ltx.checkpoint import Checkpoint
from ltx.config import TransformerConfig
from ltx.dit import Perturbation, Stream, load_transformer, to_x0, transformer_config
from ltx.dit.latents import VIDEO_SCALE, audio_positions, video_positions
from ltx.parity.compare import Row, compare_exact, compare_lowp
from ltx.parity.oracle import OfficialTransformer, official_positions, require


@dataclass(frozen=True)
class ClipShape:
    """The clip the inputs stand for: pixel frames (1 + 8k), H and W (multiples of 32), fps."""

    frames: int = 17
    height: int = 128
    width: int = 192
    fps: float = 24.0
    text_tokens: int = 16
    batch: int = 2

    @property
    def latent(self) -> tuple[int, int, int]:
        return (self.frames - 1) // VIDEO_SCALE[0] + 1, self.height // VIDEO_SCALE[1], self.width // VIDEO_SCALE[2]


@dataclass(frozen=True)
class Case:
    name: str
    video: Stream | None
    audio: Stream | None
    perturbations: tuple[Perturbation, ...] = ()


def build_cases(cfg: TransformerConfig, shape: ClipShape, seed: int = 0) -> list[Case]:
    """Deterministic float32 CPU inputs for every pass."""
    g = torch.Generator().manual_seed(seed)
    randn = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    b, (f, h, w) = shape.batch, shape.latent
    tv, ta, s = f * h * w, audio_token_count(shape.frames, shape.fps), shape.text_tokens
    text_v = cfg.cross_attention_dim if cfg.caption_proj_before_connector else cfg.caption_channels
    text_a = cfg.audio_cross_attention_dim if cfg.caption_proj_before_connector else cfg.caption_channels

    # Conditioning masks: sample 0's first latent frame is a clean image (mask 0), sample 1's is
    # conditioned with strength 0.7 (mask 0.3); sample 1's first audio tokens are given (mask 0).
    v_mask = torch.ones(b, tv)
    v_mask[:, : h * w] = torch.linspace(0.0, 0.3, b).view(b, 1) if b > 1 else 0.0
    a_mask = torch.ones(b, ta)
    a_mask[1:, :4] = 0.0
    v_sigma = torch.linspace(0.8, 0.35, b)
    a_sigma = torch.linspace(0.6, 0.9, b)
    keyframes = None
    if cfg.use_keyframes_abs_pos_embedding:  # LTX-2.5: the first latent frame, and sample 1's last one too
        keyframes = torch.zeros(b, tv)
        keyframes[:, : h * w] = 1.0
        keyframes[1:, -h * w :] = 1.0
    video = Stream(
        latent=randn(b, tv, cfg.in_channels),
        sigma=v_sigma,
        timesteps=v_mask * v_sigma[:, None],
        positions=video_positions(f, h, w, shape.fps, batch=b),
        context=randn(b, s, text_v),
        keyframes_mask=keyframes,
    )
    audio = None
    if cfg.has_audio:
        audio = Stream(
            latent=randn(b, ta, cfg.audio_in_channels),
            sigma=a_sigma,
            timesteps=a_mask * a_sigma[:, None],
            positions=audio_positions(ta, batch=b),
            context=randn(b, s, text_a),
        )

    text_mask = torch.ones(b, s, dtype=torch.int64)
    text_mask[1:, -s // 4 :] = 0
    strength = torch.rand(b, tv, tv, generator=g)
    strength = torch.where(strength < 0.2, 0.0, torch.where(strength > 0.7, 1.0, strength))
    strength[:, range(tv), range(tv)] = 1.0
    last = cfg.num_layers - 1
    cases = [
        Case("base", video, audio),
        Case(
            "stg",
            video,
            audio,
            (
                Perturbation("video_self_attn", blocks=(min(1, last),), samples=(0,)),
                *([Perturbation("audio_self_attn", blocks=(0, last))] if audio else []),
            ),
        ),  # fmt: skip
        Case(
            "masks",
            replace(video, context_mask=text_mask, attention_mask=strength),
            audio and replace(audio, context_mask=text_mask),
        ),  # fmt: skip
    ]
    if audio is not None:
        cases.append(Case("isolation", video, audio, (Perturbation("a2v", samples=(b - 1,)), Perturbation("v2a"))))
        cases.append(Case("audio_frozen", video, replace(audio, enabled=False)))
    return cases


def cast_case(case: Case, dtype: torch.dtype, device: torch.device, round_to: torch.dtype | None = None) -> Case:
    """The inputs in `dtype` on `device`: latent and text in `dtype` (first rounded to `round_to`, so
    a float32 reference sees exactly the low-precision run's values); positions, timesteps, sigma
    and masks stay float32. (The official pipelines pass bf16 video positions, which makes RoPE's
    high frequencies noise in bf16; the model comparison gives both sides float32 positions so that
    the low-precision check measures the model's arithmetic, not that rounding.)"""

    def stream(s: Stream | None) -> Stream | None:
        if s is None:
            return None
        to = lambda t: None if t is None else t.to(device)  # noqa: E731
        return replace(
            s,
            latent=s.latent.to(round_to or dtype).to(device, dtype),
            context=s.context.to(round_to or dtype).to(device, dtype),
            positions=to(s.positions),
            sigma=to(s.sigma),
            timesteps=to(s.timesteps),
            context_mask=to(s.context_mask),
            attention_mask=to(s.attention_mask),
            keyframes_mask=to(s.keyframes_mask),
        )

    return replace(case, video=stream(case.video), audio=stream(case.audio))


def capture(
    forward: Callable[[Case], tuple[torch.Tensor | None, torch.Tensor | None]],
    blocks: Sequence[torch.nn.Module],
    unpack: Callable,
    x0: Callable,
    cases: Sequence[Case],
) -> dict[str, torch.Tensor]:
    """Run every case; collect each block's (video, audio) output and the final outputs, on CPU."""
    out: dict[str, torch.Tensor] = {}
    current = [""]

    def keep(name: str, t: torch.Tensor | None) -> None:
        if t is not None:
            out[f"{current[0]}/{name}"] = t.detach().float().cpu()

    def hook(i: int):
        def fn(_module, _args, output):
            vx, ax = unpack(output)
            keep(f"block{i:02d}.video", vx)
            keep(f"block{i:02d}.audio", ax)

        return fn

    handles = [block.register_forward_hook(hook(i)) for i, block in enumerate(blocks)]
    try:
        with torch.no_grad():
            for case in cases:
                current[0] = case.name
                v, a = forward(case)
                keep("out.video", v)
                keep("out.audio", a)
                if v is not None:
                    keep("x0.video", x0(case.video.latent, v, case.video.timesteps))
                if a is not None:
                    keep("x0.audio", x0(case.audio.latent, a, case.audio.timesteps))
    finally:
        for handle in handles:
            handle.remove()
    return out


def _official_x0(latent, velocity, timesteps):
    to_denoised = require("ltx_core.utils").to_denoised
    return to_denoised(latent, velocity, timesteps if timesteps.ndim == 3 else timesteps.unsqueeze(-1))


def run_official(official: OfficialTransformer, cases: Sequence[Case]) -> dict[str, torch.Tensor]:
    unpack = lambda o: tuple(None if s is None else s.x for s in o)  # noqa: E731
    return capture(lambda c: official(c.video, c.audio, c.perturbations), official.blocks, unpack, _official_x0, cases)


def run_ours(model, cases: Sequence[Case]) -> dict[str, torch.Tensor]:
    return capture(
        lambda c: model(c.video, c.audio, c.perturbations), model.transformer_blocks, lambda o: o, to_x0, cases
    )


@contextmanager
def float32_blocks(model: torch.nn.Module, blocks: Sequence[torch.nn.Module], dtype: torch.dtype):
    """Run a low-precision model in float32 with one block in float32 at a time (bf16 -> fp32 -> bf16
    is lossless), so the float32 reference needs one extra block of memory, not a second model."""

    def up(block, _args):
        block.float()

    def down(block, _args, _out):
        block.to(dtype)

    handles = [h for b in blocks for h in (b.register_forward_pre_hook(up), b.register_forward_hook(down))]
    for name, p in model.named_parameters():
        if not name.startswith("transformer_blocks."):
            p.data = p.data.float()
    try:
        yield
    finally:
        for h in handles:
            h.remove()
        model.to(dtype)


def _free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _seconds_since(start: float, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return round(time.perf_counter() - start, 2)


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _record_peak(device: torch.device, stats: dict, key: str) -> None:
    """Peak device memory since the last reset, then reset for the next phase."""
    if device.type == "cuda":
        stats[key] = max(stats.get(key, 0.0), round(torch.cuda.max_memory_allocated(device) / 2**30, 2))
        torch.cuda.reset_peak_memory_stats(device)


def positions_rows(group: str, shape: ClipShape) -> list[Row]:
    f, h, w = shape.latent
    ta = audio_token_count(shape.frames, shape.fps)
    ref_v, ref_a = official_positions(f, h, w, shape.fps, ta, shape.batch)
    ours = {
        "positions.video": video_positions(f, h, w, shape.fps, batch=shape.batch),
        "positions.audio": audio_positions(ta, batch=shape.batch),
    }
    return compare_exact(group, ours, {"positions.video": ref_v, "positions.audio": ref_a}, tol=0.0)


def transformer_parity(
    path: str | os.PathLike,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    shape: ClipShape = ClipShape(),
    group: str | None = None,
    seed: int = 0,
    edit_ours: Callable[[torch.nn.Module], None] | None = None,
    stats: dict | None = None,
    av_modulation: str = "own-timesteps",
    audio_only: bool = False,
) -> list[Row]:
    """Rows for every compared tensor. `edit_ours` changes our model after loading (the tests use it
    to show that a wrong weight is caught); `stats` receives each side's load time and, on CUDA,
    its peak memory. `av_modulation`: the A/V cross-attention AdaLN rule both sides compute ("own-timesteps"
    as ltx-core >= 1.1.4, "other-sigma" as 1.0.0). `audio_only`: both sides build the audio-only model (text to
    audio) from the file and run the audio stream alone."""
    device = torch.device(device)
    stats = {} if stats is None else stats
    ckpt = Checkpoint(path)
    cfg = transformer_config(ckpt)
    group = group or os.path.basename(str(path))
    cases = build_cases(cfg, shape, seed)
    if audio_only:  # the passes that mean something without video
        cases = [replace(c, video=None) for c in cases if c.name in ("base", "stg", "masks")]
    rows = positions_rows(group, shape)

    _reset_peak(device)
    start = time.perf_counter()
    official = OfficialTransformer(path, device, dtype, cfg.has_audio, av_modulation, audio_only)
    stats["official_load_s"] = _seconds_since(start, device)
    lowp_cases = [cast_case(c, dtype, device) for c in cases]
    ref = run_official(official, lowp_cases)
    ref32 = None
    if dtype != torch.float32:
        with float32_blocks(official.model, official.blocks, dtype):
            ref32 = run_official(official, [cast_case(c, torch.float32, device, round_to=dtype) for c in cases])
    del official
    _free(device)
    _record_peak(device, stats, "official_peak_gib")

    start = time.perf_counter()
    ours = load_transformer(ckpt, device=device, dtype=dtype, av_modulation=av_modulation, audio_only=audio_only)
    stats["ours_load_s"] = _seconds_since(start, device)
    if edit_ours is not None:
        edit_ours(ours)
    got = run_ours(ours, lowp_cases)
    _record_peak(device, stats, "ours_peak_gib")
    del ours
    _free(device)
    if ref32 is None:
        return rows + compare_exact(group, got, ref)
    return rows + compare_lowp(group, got, ref, ref32)
