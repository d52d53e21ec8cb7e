"""The LTX-2 audio-video diffusion transformer (2.0, 2.3, 2.5) and its video-only and audio-only variants.

forward(video, audio) -> (video velocity, audio velocity), each (B, T, 128). Attribute names are the
official ones, so `state_dict()` keys equal the checkpoint's keys under `model.diffusion_model.`.

One block, per stream x (video or audio), with rms(x) = RMSNorm without weight and per-token modulation
rows m = the block's scale_shift_table + the stream's AdaLN of its timesteps:

  1. self-attention   x += attn1(rms(x) * (1 + m.scale) + m.shift, rope) * m.gate         rows SELF_ATTN
  2. text attention   x += attn2(rms(x), text)                                              2.0: no modulation
                      x += attn2(rms(x) * (1 + m.scale) + m.shift, text * (1 + p.scale) + p.shift) * m.gate
                                                                                            2.3+: rows TEXT_ATTN,
                      p = prompt_scale_shift_table (+ the prompt AdaLN of sigma unless use_prompt_adaln_single=False)
  3. audio <-> video  vn, an = rms(video), rms(audio)         (both taken before either direction runs)
                      video += a2v(vn * (1 + sv) + hv, an * (1 + sa) + ha) * gate_v       rows A2V of both tables
                      audio += v2a(an * (1 + sa') + ha', vn * (1 + sv') + hv') * gate_a   rows V2A of both tables
                      The 5-row AV tables hold [scale, shift] for a2v, [scale, shift] for v2a, then the gate.
                      Their scale/shift AdaLN reads each stream's own per-token timesteps ("own-timesteps",
                      ltx-core >= 1.1.4) or the other stream's sigma ("other-sigma", ltx-core 1.0.0); the
                      gate AdaLN always reads the other stream's sigma.
  4. feed-forward     x += ff(rms(x) * (1 + m.scale) + m.shift) * m.gate                    rows FEED_FORWARD
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import ltx_kernels
import torch
import torch.nn.functional as F
from torch import nn

from ltx.config import TransformerConfig
from ltx.dit.inputs import Perturbation, Stream, keep_flags
from ltx.nn import AdaLNSingle, Attention, CaptionProjection, FeedForward, Rope, rope

# Rows of a block's per-stream modulation table (6 rows, 9 with the 2.3 text-attention AdaLN): shift, scale, gate.
SELF_ATTN, FEED_FORWARD, TEXT_ATTN = slice(0, 3), slice(3, 6), slice(6, 9)
# Rows of the 5-row AV tables driven by the scale/shift AdaLN: scale, shift per direction; row 4 is the gate.
A2V, V2A = slice(0, 2), slice(2, 4)

# Which timesteps drive the AV cross-attention scale/shift AdaLN (the gate always takes the other sigma).
AV_MODULATIONS = ("own-timesteps", "other-sigma")  # ltx-core >= 1.1.4, ltx-core 1.0.0


class ShiftScaleGate(NamedTuple):
    shift: torch.Tensor
    scale: torch.Tensor
    gate: torch.Tensor


def modulation(table: torch.Tensor, adaln: torch.Tensor, rows: slice) -> tuple[torch.Tensor, ...]:
    """table[rows] + the same rows of the AdaLN output adaln (B, T, k*D): one (B, T, D) tensor per row."""
    b, t = adaln.shape[:2]
    out = table[rows][None, None].to(device=adaln.device, dtype=adaln.dtype)
    out = out + adaln.reshape(b, t, table.shape[0], -1)[:, :, rows]
    return out.unbind(dim=2)


def _rms(x: torch.Tensor, eps: float) -> torch.Tensor:
    return F.rms_norm(x, (x.shape[-1],), eps=eps)


def _keep(out: torch.Tensor, flags: tuple[bool, ...] | None) -> torch.Tensor:
    """`out` with the samples whose flag is False zeroed (a skipped residual); unchanged without flags."""
    if flags is None:
        return out
    keep = torch.ones(len(flags), device=out.device, dtype=out.dtype)
    for i, flag in enumerate(flags):
        if not flag:
            keep[i].fill_(0)  # a fill on the device: no host-to-device copy (a captured CUDA graph cannot hold one)
    return out * keep.view(-1, *[1] * (out.ndim - 1))


@dataclass(frozen=True)
class StreamArgs:
    """What every block needs about one stream besides its tokens; fixed for the whole forward."""

    adaln: torch.Tensor  # (B, T or 1, k*D) per-token modulation rows
    context: torch.Tensor  # (B, S, D) projected text
    context_bias: torch.Tensor | None  # additive text mask (B, 1, 1, S)
    rope: Rope
    self_bias: torch.Tensor | None = None  # additive self-attention bias (B, 1, T, T)
    prompt_adaln: torch.Tensor | None = None  # (B, 1, 2*D): 2.3 text K/V modulation from sigma
    cross_rope: Rope | None = None  # time-only RoPE for the AV cross-attention
    av_scale_shift: torch.Tensor | None = None  # (B, T or 1, 4*D) AV scale/shift AdaLN
    av_gate: torch.Tensor | None = None  # (B, 1, D) AV gate AdaLN (the other stream's sigma)
    enabled: bool = True


@dataclass(frozen=True)
class BlockSkips:
    """This block's perturbations, per kind: None = none; else per-sample keep flags."""

    video_self_attn: tuple[bool, ...] | None = None
    audio_self_attn: tuple[bool, ...] | None = None
    a2v: tuple[bool, ...] | None = None
    v2a: tuple[bool, ...] | None = None


class Block(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.eps = eps = cfg.norm_eps
        gated, rows = cfg.apply_gated_attention, cfg.adaln_rows
        vd, vh, vhd = cfg.inner_dim, cfg.num_attention_heads, cfg.attention_head_dim
        ad, ah, ahd = cfg.audio_inner_dim, cfg.audio_num_attention_heads, cfg.audio_attention_head_dim
        if cfg.has_video:
            self.attn1 = Attention(vd, None, vh, vhd, eps, gated)
            self.attn2 = Attention(vd, cfg.cross_attention_dim, vh, vhd, eps, gated)
            self.ff = FeedForward(vd, bias=cfg.ff_bias)
            self.scale_shift_table = nn.Parameter(torch.empty(rows, vd))
            self.prompt_scale_shift_table = nn.Parameter(torch.empty(2, vd)) if cfg.cross_attention_adaln else None
        if cfg.has_audio:
            self.audio_attn1 = Attention(ad, None, ah, ahd, eps, gated)
            self.audio_attn2 = Attention(ad, cfg.audio_cross_attention_dim, ah, ahd, eps, gated)
            self.audio_ff = FeedForward(ad, bias=cfg.audio_ff_bias)
            self.audio_scale_shift_table = nn.Parameter(torch.empty(rows, ad))
            self.audio_prompt_scale_shift_table = (
                nn.Parameter(torch.empty(2, ad)) if cfg.cross_attention_adaln else None
            )
        if cfg.has_video and cfg.has_audio:
            # Both directions use the audio head layout (32 x 64 at full size).
            self.audio_to_video_attn = Attention(vd, ad, ah, ahd, eps, gated)  # Q video, K/V audio
            self.video_to_audio_attn = Attention(ad, vd, ah, ahd, eps, gated)  # Q audio, K/V video
            self.scale_shift_table_a2v_ca_audio = nn.Parameter(torch.empty(5, ad))
            self.scale_shift_table_a2v_ca_video = nn.Parameter(torch.empty(5, vd))

    # -- one stream's sections -------------------------------------------------------------------
    def _self_attention(self, x, s: StreamArgs, *, table, attn: Attention, keep: tuple[bool, ...] | None):
        m = ShiftScaleGate(*modulation(table, s.adaln, SELF_ATTN))
        h = ltx_kernels.rms_norm_modulate(x, m.scale, m.shift, self.eps)
        # STG: a skipped sample's attention output is its value projection
        skip_all = keep is not None and not any(keep)
        per_sample = None if keep is None or skip_all else _keep(torch.ones_like(x[:, :1, :1]), keep)
        out = attn(h, mask=s.self_bias, rope=s.rope, keep=per_sample, skip=skip_all)
        return ltx_kernels.gated_residual(x, out, m.gate)

    def _text_attention(self, x, s: StreamArgs, *, table, prompt_table, attn: Attention):
        if prompt_table is None:  # 2.0: no modulation
            return x + attn(_rms(x, self.eps), s.context, mask=s.context_bias)
        m = ShiftScaleGate(*modulation(table, s.adaln, TEXT_ATTN))
        kv = prompt_table[None, None].to(x)
        if s.prompt_adaln is not None:
            kv = kv + s.prompt_adaln.reshape(x.shape[0], -1, 2, x.shape[-1])
        kv_shift, kv_scale = kv.unbind(2)
        h = ltx_kernels.rms_norm_modulate(x, m.scale, m.shift, self.eps)
        return ltx_kernels.gated_residual(
            x, attn(h, s.context * (1 + kv_scale) + kv_shift, mask=s.context_bias), m.gate
        )

    def _feed_forward(self, x, s: StreamArgs, *, table, ff: FeedForward):
        m = ShiftScaleGate(*modulation(table, s.adaln, FEED_FORWARD))
        return ltx_kernels.gated_residual(x, ff(ltx_kernels.rms_norm_modulate(x, m.scale, m.shift, self.eps)), m.gate)

    # -- forward ---------------------------------------------------------------------------------
    def forward(self, vx, ax, video: StreamArgs | None, audio: StreamArgs | None, skips: BlockSkips = BlockSkips()):
        run_v = video is not None and video.enabled and vx.numel() > 0
        run_a = audio is not None and audio.enabled and ax.numel() > 0
        if run_v:
            vx = self._self_attention(vx, video, table=self.scale_shift_table, attn=self.attn1,
                                      keep=skips.video_self_attn)  # fmt: skip
            vx = self._text_attention(vx, video, table=self.scale_shift_table,
                                      prompt_table=self.prompt_scale_shift_table, attn=self.attn2)  # fmt: skip
        if run_a:
            ax = self._self_attention(ax, audio, table=self.audio_scale_shift_table, attn=self.audio_attn1,
                                      keep=skips.audio_self_attn)  # fmt: skip
            ax = self._text_attention(ax, audio, table=self.audio_scale_shift_table, attn=self.audio_attn2,
                                      prompt_table=self.audio_prompt_scale_shift_table)  # fmt: skip

        run_a2v = run_v and audio is not None and ax.numel() > 0 and (skips.a2v is None or any(skips.a2v))
        run_v2a = run_a and video is not None and vx.numel() > 0 and (skips.v2a is None or any(skips.v2a))
        if run_a2v or run_v2a:
            video_table, audio_table = self.scale_shift_table_a2v_ca_video, self.scale_shift_table_a2v_ca_audio
            vn, an = _rms(vx, self.eps), _rms(ax, self.eps)
            if run_a2v:  # video queries audio
                v_scale, v_shift = modulation(video_table[:4], video.av_scale_shift, A2V)
                a_scale, a_shift = modulation(audio_table[:4], audio.av_scale_shift, A2V)
                out = self.audio_to_video_attn(vn * (1 + v_scale) + v_shift, an * (1 + a_scale) + a_shift,
                                               rope=video.cross_rope, k_rope=audio.cross_rope)  # fmt: skip
                (gate,) = modulation(video_table[4:], video.av_gate, slice(0, 1))
                vx = vx + _keep(out * gate, skips.a2v)
            if run_v2a:  # audio queries video
                a_scale, a_shift = modulation(audio_table[:4], audio.av_scale_shift, V2A)
                v_scale, v_shift = modulation(video_table[:4], video.av_scale_shift, V2A)
                out = self.video_to_audio_attn(an * (1 + a_scale) + a_shift, vn * (1 + v_scale) + v_shift,
                                               rope=audio.cross_rope, k_rope=video.cross_rope)  # fmt: skip
                (gate,) = modulation(audio_table[4:], audio.av_gate, slice(0, 1))
                ax = ax + _keep(out * gate, skips.v2a)

        if run_v:
            vx = self._feed_forward(vx, video, table=self.scale_shift_table, ff=self.ff)
        if run_a:
            ax = self._feed_forward(ax, audio, table=self.audio_scale_shift_table, ff=self.audio_ff)
        return vx, ax


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


class StreamModules(NamedTuple):
    """One stream's modules outside the blocks, and its sizes."""

    name: str
    patchify_proj: nn.Linear
    adaln_single: AdaLNSingle
    prompt_adaln_single: AdaLNSingle | None
    caption_projection: CaptionProjection | None
    av_scale_shift_adaln: AdaLNSingle | None
    av_gate_adaln: AdaLNSingle | None
    scale_shift_table: nn.Parameter
    norm_out: nn.LayerNorm
    proj_out: nn.Linear
    channels: int
    text_dim: int
    heads: int
    max_pos: tuple[int, ...]


class LTX2Transformer(nn.Module):
    def __init__(self, cfg: TransformerConfig, av_modulation: str = "own-timesteps"):
        super().__init__()
        self.cfg = cfg
        self.av_modulation = av_modulation
        rows, vd = cfg.adaln_rows, cfg.inner_dim
        prompt_adaln = cfg.cross_attention_adaln and cfg.use_prompt_adaln_single
        own_projection = not cfg.caption_proj_before_connector  # 2.0: the transformer projects the text
        av = cfg.has_video and cfg.has_audio
        if cfg.has_video:
            self.patchify_proj = nn.Linear(cfg.in_channels, vd)
            self.keyframes_abs_pos_embedding = (
                nn.Parameter(torch.empty(1, vd)) if cfg.use_keyframes_abs_pos_embedding else None
            )
            self.adaln_single = AdaLNSingle(vd, rows)
            self.prompt_adaln_single = AdaLNSingle(vd, 2) if prompt_adaln else None
            self.caption_projection = CaptionProjection(cfg.caption_channels, vd) if own_projection else None
            self.scale_shift_table = nn.Parameter(torch.empty(2, vd))
            self.norm_out = nn.LayerNorm(vd, elementwise_affine=False, eps=cfg.norm_eps)
            self.proj_out = nn.Linear(vd, cfg.out_channels)
            # AV cross-attention modulation of the video side: scale/shift (4 rows) and the a2v gate (1 row)
            self.av_ca_video_scale_shift_adaln_single = AdaLNSingle(vd, 4) if av else None
            self.av_ca_a2v_gate_adaln_single = AdaLNSingle(vd, 1) if av else None
        if cfg.has_audio:
            ad = cfg.audio_inner_dim
            self.audio_patchify_proj = nn.Linear(cfg.audio_in_channels, ad)
            self.audio_adaln_single = AdaLNSingle(ad, rows)
            self.audio_prompt_adaln_single = AdaLNSingle(ad, 2) if prompt_adaln else None
            self.audio_caption_projection = CaptionProjection(cfg.caption_channels, ad) if own_projection else None
            self.audio_scale_shift_table = nn.Parameter(torch.empty(2, ad))
            self.audio_norm_out = nn.LayerNorm(ad, elementwise_affine=False, eps=cfg.norm_eps)
            self.audio_proj_out = nn.Linear(ad, cfg.audio_out_channels)
            self.av_ca_audio_scale_shift_adaln_single = AdaLNSingle(ad, 4) if av else None
            self.av_ca_v2a_gate_adaln_single = AdaLNSingle(ad, 1) if av else None
        self.transformer_blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.num_layers))

    @property
    def av_modulation(self) -> str:
        """ "own-timesteps" (the default, as ltx-core >= 1.1.4) or "other-sigma" (ltx-core 1.0.0)."""
        return self._av_modulation

    @av_modulation.setter
    def av_modulation(self, value: str) -> None:
        if value not in AV_MODULATIONS:
            raise ValueError(f"av_modulation must be one of {AV_MODULATIONS}, got {value!r}")
        self._av_modulation = value

    # -- each stream's modules -------------------------------------------------------------------
    def _video(self) -> StreamModules:
        cfg = self.cfg
        text = cfg.cross_attention_dim if cfg.caption_proj_before_connector else cfg.caption_channels
        return StreamModules(
            "video", self.patchify_proj, self.adaln_single, self.prompt_adaln_single, self.caption_projection,
            self.av_ca_video_scale_shift_adaln_single, self.av_ca_a2v_gate_adaln_single,
            self.scale_shift_table, self.norm_out, self.proj_out,
            cfg.in_channels, text, cfg.num_attention_heads, cfg.positional_embedding_max_pos,
        )  # fmt: skip

    def _audio(self) -> StreamModules:
        cfg = self.cfg
        text = cfg.audio_cross_attention_dim if cfg.caption_proj_before_connector else cfg.caption_channels
        return StreamModules(
            "audio", self.audio_patchify_proj, self.audio_adaln_single, self.audio_prompt_adaln_single,
            self.audio_caption_projection, self.av_ca_audio_scale_shift_adaln_single, self.av_ca_v2a_gate_adaln_single,
            self.audio_scale_shift_table, self.audio_norm_out, self.audio_proj_out,
            cfg.audio_in_channels, text, cfg.audio_num_attention_heads, cfg.audio_positional_embedding_max_pos,
        )  # fmt: skip

    # -- inputs ----------------------------------------------------------------------------------
    @staticmethod
    def _check(s: Stream, m: StreamModules) -> None:
        b, t, c, axes = s.latent.shape[0], s.latent.shape[1], m.channels, len(m.max_pos)
        shape = lambda x: tuple(x.shape)  # noqa: E731
        problems = []
        if s.latent.ndim != 3 or s.latent.shape[2] != c:
            problems.append(f"latent must be (B, T, {c}), got {shape(s.latent)}")
        if shape(s.timesteps) not in ((b, t), (b, t, 1)):
            problems.append(f"timesteps must be (B, T) = ({b}, {t}) or (B, T, 1), got {shape(s.timesteps)}")
        if shape(s.positions) not in ((b, axes, t, 2), (b, axes, t)):
            problems.append(f"positions must be (B, {axes}, T, 2) = ({b}, {axes}, {t}, 2), got {shape(s.positions)}")
        if s.context.ndim != 3 or s.context.shape[0] != b or s.context.shape[2] != m.text_dim:
            problems.append(f"context must be (B, S, {m.text_dim}) with B = {b}, got {shape(s.context)}")
        if s.context_mask is not None and s.context_mask.shape[:1] != (b,):
            problems.append(f"context_mask must be (B, S), got {shape(s.context_mask)}")
        if s.attention_mask is not None and shape(s.attention_mask) != (b, t, t):
            problems.append(f"attention_mask must be (B, T, T) = ({b}, {t}, {t}), got {shape(s.attention_mask)}")
        if s.keyframes_mask is not None and shape(s.keyframes_mask) not in ((b, t), (b, t, 1)):
            problems.append(f"keyframes_mask must be (B, T) = ({b}, {t}) or (B, T, 1), got {shape(s.keyframes_mask)}")
        if s.keyframes_mask is not None and m.name == "audio":
            problems.append("keyframes_mask marks video tokens only; leave it None on the audio stream")
        if torch.is_tensor(s.sigma) and s.sigma.numel() not in (1, b):
            problems.append(f"sigma must be a scalar or (B,) = ({b},), got {shape(s.sigma)}")
        dtype = m.patchify_proj.weight.dtype
        if dtype.is_floating_point and dtype.itemsize > 1:  # (a float8 input projection computes in any dtype)
            wrong = [f"{k} is {t.dtype}" for k, t in (("latent", s.latent), ("context", s.context)) if t.dtype != dtype]
            if wrong:
                problems.append(f"{', '.join(wrong)} but the model computes in {dtype}: cast the inputs (.to({dtype}))")
        if problems:
            raise ValueError(f"{m.name} stream: " + "; ".join(problems))

    @staticmethod
    def _sigma(s: Stream) -> torch.Tensor:
        b = s.latent.shape[0]
        # a tensor keeps its dtype: the res_2s substep passes float64 sigmas, and sigma x 1000 is rounded once
        sigma = torch.as_tensor(s.sigma, device=s.latent.device)
        sigma = sigma if sigma.is_floating_point() else sigma.float()
        return sigma.reshape(-1).expand(b) if sigma.numel() == 1 else sigma.reshape(b)

    def _prepare(
        self, s: Stream, other: Stream | None, m: StreamModules
    ) -> tuple[torch.Tensor, torch.Tensor, StreamArgs]:
        """Stream -> (tokens, embedded timestep, per-block constants)."""
        cfg, dtype, b = self.cfg, s.latent.dtype, s.latent.shape[0]
        mult = cfg.timestep_scale_multiplier
        x = m.patchify_proj(s.latent)
        if m.name == "video" and self.keyframes_abs_pos_embedding is not None and s.keyframes_mask is not None:
            marked = (s.keyframes_mask.reshape(b, -1, 1) > 0).to(x.dtype)  # single-pixel-frame tokens
            x = x + marked * self.keyframes_abs_pos_embedding.to(x.dtype)

        adaln, embedded = m.adaln_single((s.timesteps * mult).flatten(), dtype)
        adaln, embedded = adaln.view(b, -1, adaln.shape[-1]), embedded.view(b, -1, embedded.shape[-1])
        prompt_adaln = None
        if m.prompt_adaln_single is not None:
            prompt_adaln, _ = m.prompt_adaln_single(self._sigma(s) * mult, dtype)
            prompt_adaln = prompt_adaln.view(b, 1, -1)

        context = s.context if m.caption_projection is None else m.caption_projection(s.context)
        split, float64 = cfg.rope_type == "split", cfg.frequencies_precision == "float64"
        rope_args = dict(heads=m.heads, theta=cfg.positional_embedding_theta, split=split, float64=float64, dtype=dtype)
        args = dict(
            adaln=adaln,
            context=context.view(b, -1, x.shape[-1]),
            context_bias=_context_bias(s.context_mask, dtype),
            rope=rope(s.positions, dim=x.shape[-1], max_pos=m.max_pos, **rope_args),
            self_bias=None if s.attention_mask is None else _attention_bias(s.attention_mask, dtype),
            prompt_adaln=prompt_adaln,
            enabled=s.enabled,
        )
        if other is not None:  # the AV cross-attention: time-only RoPE and the AV AdaLNs
            time = s.positions[:, 0:1]
            args["cross_rope"] = rope(time, dim=cfg.audio_cross_attention_dim, max_pos=(cfg.cross_rope_max_pos,),
                                      **rope_args)  # fmt: skip
            other_t = self._sigma(other) * mult
            own = self.av_modulation == "own-timesteps"
            scale_shift, _ = m.av_scale_shift_adaln((s.timesteps * mult).flatten() if own else other_t, dtype)
            gate, _ = m.av_gate_adaln(other_t * (cfg.av_ca_timestep_scale_multiplier / mult), dtype)
            args["av_scale_shift"], args["av_gate"] = (
                scale_shift.view(b, -1, scale_shift.shape[-1]),
                gate.view(b, 1, -1),
            )
        return x, embedded, StreamArgs(**args)

    def run_blocks(
        self, vx, ax, video: StreamArgs | None, audio: StreamArgs | None, perturbations: tuple[Perturbation, ...]
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The block loop: each stream's tokens through every block (ltx.runtime captures this as one CUDA graph)."""
        batch = (vx if vx is not None else ax).shape[0]
        for i, block in enumerate(self.transformer_blocks):
            skips = BlockSkips(**{k: keep_flags(perturbations, k, i, batch) for k in BlockSkips.__dataclass_fields__})
            vx, ax = block(vx, ax, video, audio, skips)
        return vx, ax

    @staticmethod
    def _output(x: torch.Tensor, embedded: torch.Tensor, m: StreamModules) -> torch.Tensor:
        shift, scale = (m.scale_shift_table[None, None].to(x) + embedded[:, :, None]).unbind(2)
        return m.proj_out(m.norm_out(x) * (1 + scale) + shift)

    # -- forward ---------------------------------------------------------------------------------
    def forward(
        self, video: Stream | None, audio: Stream | None = None, perturbations: Sequence[Perturbation] = ()
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Velocities for each given stream (None for a stream not given)."""
        if video is None and audio is None:
            raise ValueError("give at least one of video, audio")
        if audio is not None and not self.cfg.has_audio:
            raise ValueError("this is the video-only transformer: it has no audio stream")
        if video is not None and not self.cfg.has_video:
            raise ValueError("this is the audio-only transformer: it has no video stream (pass video=None)")
        vm = self._video() if self.cfg.has_video else None
        am = self._audio() if self.cfg.has_audio else None
        if video is not None:
            self._check(video, vm)
        if audio is not None:
            self._check(audio, am)
        if video is not None and audio is not None and video.latent.shape[0] != audio.latent.shape[0]:
            raise ValueError(f"video and audio batch sizes differ: {video.latent.shape[0]} vs {audio.latent.shape[0]}")

        vx = ve = va = ax = ae = aa = None
        if video is not None:
            vx, ve, va = self._prepare(video, audio, vm)
        if audio is not None:
            ax, ae, aa = self._prepare(audio, video, am)
        vx, ax = self.run_blocks(vx, ax, va, aa, tuple(perturbations))
        return (
            None if vx is None else self._output(vx, ve, vm),
            None if ax is None else self._output(ax, ae, am),
        )
