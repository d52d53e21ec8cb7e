"""Duration head parity: a tiny `duration_head.*` file in the official layout, loaded by our loader and
by ltx-pipelines 1.2.0's DurationPredictor (ltx-core's DurationHead through its builder and key ops).

The official predictor takes one prompt at a time: our batch of two runs against its two batch-1
runs, stage by stage (input projections, pooler, MLP, seconds), with the video context, the audio
context and both; the frame counts are compared at several frame rates and clamp ranges (float32).
Batch 2 against batch 1 is not bitwise in float32 (a matrix product rounds differently for another
number of rows, ~1e-7 relative); the `single/` rows run one prompt on both sides and are exact.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import torch

from ltx.duration import DurationHeadConfig, load_duration_head, predict_frames
from ltx.parity.compare import Row, compare_exact, compare_lowp
from ltx.parity.fixtures import _save, random_value
from ltx.parity.hooks import capture
from ltx.parity.oracle import official_module, require

# Widths of the tiny 2.0 transformer's connectors; two queries so that the pooled flatten matters.
TINY_DURATION = DurationHeadConfig(
    cross_attention_dim=40, audio_cross_attention_dim=30, pooler_hidden_dim=16, num_queries=2, mlp_hidden=12
)
STAGES = ("video_input_proj", "audio_input_proj", "attention_pooler", "mlp_hidden", "mlp_out")
# (fps, min seconds, max seconds): the default clamp, and ranges that make each clamp branch fire.
FRAME_CASES = ((24.0, 1.0, 20.0), (25.0, 1.0, 20.0), (30.0, 0.05, 0.2), (24.0, 5.0, 6.0), (12.5, 0.01, 100.0))


def write_tiny_duration_head(path: str | Path, cfg: DurationHeadConfig = TINY_DURATION, seed: int = 0) -> Path:
    """A duration-head file: the official module's `duration_head.*` keys, `config` metadata."""
    config = cfg.to_metadata()
    module = official_module(require("ltx_core.duration_head").DurationHeadConfigurator, config)
    gen = torch.Generator().manual_seed(seed)
    tensors = {}
    for k, v in module.state_dict().items():
        value = random_value(k, v.shape, gen)
        if k.endswith("modality_emb") or k.endswith("query_tokens"):  # learned tokens: O(1)
            value = torch.randn(v.shape, generator=gen)
        tensors["duration_head." + k] = value.contiguous()
    return _save(tensors, path, {"config": json.dumps(config)})


def duration_inputs(cfg: DurationHeadConfig, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "video": torch.randn(2, 7, cfg.cross_attention_dim, generator=g),
        "audio": torch.randn(2, 5, cfg.audio_cross_attention_dim, generator=g),
    }


class OfficialDuration:
    """ltx-pipelines' DurationPredictor (and the DurationHead it holds) for a file."""

    def __init__(self, path, device: torch.device, dtype: torch.dtype):
        blocks = require("ltx_pipelines.utils.blocks")
        self.predictor = blocks.DurationPredictor.from_checkpoint(str(path), dtype=dtype, device=device)
        if self.predictor is None:
            raise RuntimeError(f"ltx-pipelines found no duration head in {path}")
        self.head = self.predictor._head

    def run(self, video, audio, prefix: str) -> dict[str, torch.Tensor]:
        """Each sample on its own (the predictor's batch is 1), concatenated."""
        batch = (video if video is not None else audio).shape[0]
        parts = [
            capture(self.head, _stages(video, audio), lambda i=i: self.head(_row(video, i), _row(audio, i)), prefix)
            for i in range(batch)
        ]
        return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}

    def frames(self, video, audio, fps: float, lo: float, hi: float) -> list[int]:
        batch = (video if video is not None else audio).shape[0]
        with torch.no_grad():
            return [
                self.predictor(_row(video, i), _row(audio, i), frame_rate=fps, min_seconds=lo, max_seconds=hi)
                for i in range(batch)
            ]


def _row(x: torch.Tensor | None, i: int) -> torch.Tensor | None:
    return None if x is None else x[i : i + 1]


def _stages(video, audio) -> list[str]:
    skip = {"video_input_proj"} if video is None else {"audio_input_proj"} if audio is None else set()
    return [s for s in STAGES if s not in skip]


def duration_parity(
    path: str | os.PathLike,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    group: str | None = None,
    seed: int = 0,
    edit_ours: Callable | None = None,
) -> list[Row]:
    """Rows for every stage of every input case, plus one row per frame-rate case (frame counts).
    `edit_ours(head)` changes our loaded head (tests: the comparison must then fail downstream)."""
    device = torch.device(device)
    group = group or os.path.basename(str(path))
    ours = load_duration_head(path, device=device, dtype=dtype)
    if edit_ours is not None:
        edit_ours(ours)
    inputs = {k: v.to(device, dtype) for k, v in duration_inputs(ours.cfg, seed).items()}
    video, audio = inputs["video"], inputs["audio"]
    cases = {"both": (video, audio), "video": (video, None), "audio": (None, audio), "single": (video[:1], audio[:1])}

    def run_official(run_dtype: torch.dtype) -> dict[str, torch.Tensor]:
        official = OfficialDuration(path, device, run_dtype)
        out = {}
        for name, (v, a) in cases.items():
            cast = [None if x is None else x.to(run_dtype) for x in (v, a)]
            out |= official.run(*cast, name)
        return out

    got = {}
    for name, (v, a) in cases.items():
        got |= capture(ours, _stages(v, a), lambda v=v, a=a: ours(v, a), name)
    ref = run_official(dtype)
    if dtype != torch.float32:
        return compare_lowp(group, got, ref, run_official(torch.float32))
    rows = compare_exact(group, got, ref)
    official = OfficialDuration(path, device, dtype)
    for fps, lo, hi in FRAME_CASES:
        mine = predict_frames(ours, video, audio, fps, min_seconds=lo, max_seconds=hi)
        theirs = official.frames(video, audio, fps, lo, hi)
        diff = float(max(abs(x - y) for x, y in zip(mine, theirs, strict=True)))
        rows.append(Row(group, f"frames@{fps}fps[{lo},{hi}]s {mine}", (len(mine),), diff, diff, 0.0, diff == 0.0))
    return rows


def duration_manifest(cfg: DurationHeadConfig | None = None) -> dict:
    """Every key of a duration-head file of this config (the defaults: LTX-2.5's 4096 / 2048 connector
    widths), from ltx-core's DurationHead on the meta device."""
    cfg = cfg or DurationHeadConfig()
    with torch.device("meta"):
        module = official_module(require("ltx_core.duration_head").DurationHeadConfigurator, cfg.to_metadata())
    return {
        "source": "ltx-core 1.2.0 DurationHeadConfigurator on the meta device",
        "config": cfg.to_metadata(),
        "parameters": sum(p.numel() for p in module.parameters()),
        "tensors": {"duration_head." + k: [list(t.shape), "bfloat16"] for k, t in module.state_dict().items()},
    }
