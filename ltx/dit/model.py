"""The LTX-2 audio-video diffusion transformer (and its video-only variant).

forward(video, audio) -> (video velocity, audio velocity), each (B, T, 128). Attribute names are the
official ones, so `state_dict()` keys equal the checkpoint's keys under `model.diffusion_model.`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ltx.config import TransformerConfig
from ltx.dit.block import Block, BlockSkips, StreamArgs
from ltx.dit.inputs import Perturbation, Stream, keep_flags
from ltx.nn import AdaLNSingle, CaptionProjection, rope


def to_x0(latent: torch.Tensor, velocity: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    """Denoised tokens x0 = x - v * t per token, in float32, returned in the latent's dtype."""
    if timesteps.ndim == latent.ndim - 1:
        timesteps = timesteps.unsqueeze(-1)
    return (latent.float() - velocity.float() * timesteps.float()).to(latent.dtype)


def _attention_bias(strength: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """[0, 1] strengths (B, T, T) -> additive log-space bias (B, 1, T, T); 0 becomes dtype's min."""
    finfo = torch.finfo(dtype)
    bias = torch.full_like(strength, finfo.min, dtype=dtype)
    positive = strength > 0
    bias[positive] = torch.log(strength[positive].clamp(min=finfo.tiny)).to(dtype)
    return bias.unsqueeze(1)


def _context_bias(mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """Text keep-mask (B, S) of 0/1 -> additive bias (B, 1, 1, S); a float mask is taken as a bias."""
    if mask is None or torch.is_floating_point(mask):
        return mask
    return (mask - 1).to(dtype).reshape(mask.shape[0], 1, -1, mask.shape[-1]) * torch.finfo(dtype).max


@dataclass(frozen=True)
class _StreamSpec:
    """Where a stream's modules and sizes are: the two streams differ only in these."""

    name: str
    prefix: str  # "" (video) or "audio_" on module names
    channels: int
    text_dim: int
    heads: int
    max_pos: tuple[int, ...]
    cross_ss: str  # AdaLN of the AV cross-attention scale/shift rows
    cross_gate: str  # AdaLN of the AV cross-attention gate


class LTX2Transformer(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        k = cfg.adaln_rows
        vd = cfg.inner_dim
        self.patchify_proj = nn.Linear(cfg.in_channels, vd)
        self.adaln_single = AdaLNSingle(vd, k)
        if cfg.cross_attention_adaln:
            self.prompt_adaln_single = AdaLNSingle(vd, 2)
        if not cfg.caption_proj_before_connector:
            self.caption_projection = CaptionProjection(cfg.caption_channels, vd)
        self.scale_shift_table = nn.Parameter(torch.empty(2, vd))
        self.norm_out = nn.LayerNorm(vd, elementwise_affine=False, eps=cfg.norm_eps)
        self.proj_out = nn.Linear(vd, cfg.out_channels)
        if cfg.has_audio:
            ad = cfg.audio_inner_dim
            self.audio_patchify_proj = nn.Linear(cfg.audio_in_channels, ad)
            self.audio_adaln_single = AdaLNSingle(ad, k)
            if cfg.cross_attention_adaln:
                self.audio_prompt_adaln_single = AdaLNSingle(ad, 2)
            if not cfg.caption_proj_before_connector:
                self.audio_caption_projection = CaptionProjection(cfg.caption_channels, ad)
            self.audio_scale_shift_table = nn.Parameter(torch.empty(2, ad))
            self.audio_norm_out = nn.LayerNorm(ad, elementwise_affine=False, eps=cfg.norm_eps)
            self.audio_proj_out = nn.Linear(ad, cfg.audio_out_channels)
            # AV cross-attention modulation, driven by the OTHER stream's sigma.
            self.av_ca_video_scale_shift_adaln_single = AdaLNSingle(vd, 4)
            self.av_ca_audio_scale_shift_adaln_single = AdaLNSingle(ad, 4)
            self.av_ca_a2v_gate_adaln_single = AdaLNSingle(vd, 1)
            self.av_ca_v2a_gate_adaln_single = AdaLNSingle(ad, 1)
        self.transformer_blocks = nn.ModuleList(Block(i, cfg) for i in range(cfg.num_layers))

    # -- inputs ----------------------------------------------------------------------------------
    def _spec(self, audio: bool) -> _StreamSpec:
        cfg = self.cfg
        if audio:
            text = cfg.audio_cross_attention_dim if cfg.caption_proj_before_connector else cfg.caption_channels
            return _StreamSpec("audio", "audio_", cfg.audio_in_channels, text, cfg.audio_num_attention_heads,
                               cfg.audio_positional_embedding_max_pos, "av_ca_audio_scale_shift_adaln_single",
                               "av_ca_v2a_gate_adaln_single")  # fmt: skip
        text = cfg.cross_attention_dim if cfg.caption_proj_before_connector else cfg.caption_channels
        return _StreamSpec("video", "", cfg.in_channels, text, cfg.num_attention_heads,
                           cfg.positional_embedding_max_pos, "av_ca_video_scale_shift_adaln_single",
                           "av_ca_a2v_gate_adaln_single")  # fmt: skip

    @staticmethod
    def _check(s: Stream, spec: _StreamSpec) -> None:
        b, t, c, axes = s.latent.shape[0], s.latent.shape[1], spec.channels, len(spec.max_pos)
        shape = lambda x: tuple(x.shape)  # noqa: E731
        problems = []
        if s.latent.ndim != 3 or s.latent.shape[2] != c:
            problems.append(f"latent must be (B, T, {c}), got {shape(s.latent)}")
        if shape(s.timesteps) not in ((b, t), (b, t, 1)):
            problems.append(f"timesteps must be (B, T) = ({b}, {t}) or (B, T, 1), got {shape(s.timesteps)}")
        if shape(s.positions) not in ((b, axes, t, 2), (b, axes, t)):
            problems.append(f"positions must be (B, {axes}, T, 2) = ({b}, {axes}, {t}, 2), got {shape(s.positions)}")
        if s.context.ndim != 3 or s.context.shape[0] != b or s.context.shape[2] != spec.text_dim:
            problems.append(f"context must be (B, S, {spec.text_dim}) with B = {b}, got {shape(s.context)}")
        if s.context_mask is not None and s.context_mask.shape[:1] != (b,):
            problems.append(f"context_mask must be (B, S), got {shape(s.context_mask)}")
        if s.attention_mask is not None and shape(s.attention_mask) != (b, t, t):
            problems.append(f"attention_mask must be (B, T, T) = ({b}, {t}, {t}), got {shape(s.attention_mask)}")
        if torch.is_tensor(s.sigma) and s.sigma.numel() not in (1, b):
            problems.append(f"sigma must be a scalar or (B,) = ({b},), got {shape(s.sigma)}")
        if problems:
            raise ValueError(f"{spec.name} stream: " + "; ".join(problems))

    @staticmethod
    def _sigma(s: Stream) -> torch.Tensor:
        b = s.latent.shape[0]
        # a tensor keeps its dtype: the res_2s substep passes float64 sigmas, and sigma x 1000 is rounded once
        sigma = torch.as_tensor(s.sigma, device=s.latent.device)
        sigma = sigma if sigma.is_floating_point() else sigma.float()
        return sigma.reshape(-1).expand(b) if sigma.numel() == 1 else sigma.reshape(b)

    def _prepare(
        self, s: Stream, other: Stream | None, spec: _StreamSpec
    ) -> tuple[torch.Tensor, torch.Tensor, StreamArgs]:
        """Stream -> (tokens, embedded timestep, per-block constants)."""
        cfg, dtype, b = self.cfg, s.latent.dtype, s.latent.shape[0]
        module = lambda name: getattr(self, spec.prefix + name)  # noqa: E731
        x = module("patchify_proj")(s.latent)

        adaln, embedded = module("adaln_single")((s.timesteps * cfg.timestep_scale_multiplier).flatten(), dtype)
        adaln, embedded = adaln.view(b, -1, adaln.shape[-1]), embedded.view(b, -1, embedded.shape[-1])
        prompt_adaln = None
        if cfg.cross_attention_adaln:
            prompt_adaln, _ = module("prompt_adaln_single")(self._sigma(s) * cfg.timestep_scale_multiplier, dtype)
            prompt_adaln = prompt_adaln.view(b, 1, -1)

        context = s.context if cfg.caption_proj_before_connector else module("caption_projection")(s.context)
        split, float64 = cfg.rope_type == "split", cfg.frequencies_precision == "float64"
        rope_args = dict(
            heads=spec.heads, theta=cfg.positional_embedding_theta, split=split, float64=float64, dtype=dtype
        )
        args = dict(
            adaln=adaln,
            context=context.view(b, -1, x.shape[-1]),
            context_bias=_context_bias(s.context_mask, dtype),
            rope=rope(s.positions, dim=x.shape[-1], max_pos=spec.max_pos, **rope_args),
            self_bias=None if s.attention_mask is None else _attention_bias(s.attention_mask, dtype),
            prompt_adaln=prompt_adaln,
            enabled=s.enabled,
        )
        if other is not None:
            # Time-only RoPE for both AV directions, and modulation driven by the other stream's sigma.
            time = s.positions[:, 0:1]
            args["cross_rope"] = rope(
                time, dim=cfg.audio_cross_attention_dim, max_pos=(cfg.cross_rope_max_pos,), **rope_args
            )
            t = self._sigma(other) * cfg.timestep_scale_multiplier
            cross_ss, _ = getattr(self, spec.cross_ss)(t, dtype)
            gate_factor = cfg.av_ca_timestep_scale_multiplier / cfg.timestep_scale_multiplier
            cross_gate, _ = getattr(self, spec.cross_gate)(t * gate_factor, dtype)
            args["cross_ss"], args["cross_gate"] = cross_ss.view(b, 1, -1), cross_gate.view(b, 1, -1)
        return x, embedded, StreamArgs(**args)

    def _output(self, x: torch.Tensor, embedded: torch.Tensor, audio: bool) -> torch.Tensor:
        p = "audio_" if audio else ""
        table = getattr(self, p + "scale_shift_table")
        shift, scale = (table[None, None].to(x) + embedded[:, :, None]).unbind(2)
        x = getattr(self, p + "norm_out")(x)
        return getattr(self, p + "proj_out")(x * (1 + scale) + shift)

    # -- forward ---------------------------------------------------------------------------------
    def forward(
        self, video: Stream | None, audio: Stream | None = None, perturbations: Sequence[Perturbation] = ()
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Velocities for each given stream (None for a stream not given)."""
        cfg = self.cfg
        if video is None and audio is None:
            raise ValueError("give at least one of video, audio")
        if audio is not None and not cfg.has_audio:
            raise ValueError("this is the video-only transformer: it has no audio stream")
        if video is not None:
            self._check(video, self._spec(audio=False))
        if audio is not None:
            self._check(audio, self._spec(audio=True))
        if video is not None and audio is not None and video.latent.shape[0] != audio.latent.shape[0]:
            raise ValueError(f"video and audio batch sizes differ: {video.latent.shape[0]} vs {audio.latent.shape[0]}")

        vx = ve = va = ax = ae = aa = None
        if video is not None:
            vx, ve, va = self._prepare(video, audio, self._spec(audio=False))
        if audio is not None:
            ax, ae, aa = self._prepare(audio, video, self._spec(audio=True))
        batch = (video or audio).latent.shape[0]
        for i, block in enumerate(self.transformer_blocks):
            skips = BlockSkips(**{k: keep_flags(perturbations, k, i, batch) for k in BlockSkips.__dataclass_fields__})
            vx, ax = block(vx, ax, va, aa, skips)
        return (
            None if vx is None else self._output(vx, ve, audio=False),
            None if ax is None else self._output(ax, ae, audio=True),
        )
