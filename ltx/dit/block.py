"""One LTX-2 transformer block: video and audio streams, their text cross-attention, the
bidirectional audio<->video cross-attention and the feed-forwards (REFERENCE.md §2).

Per stream (x, and its modulation rows g = table + per-token AdaLN rows):
  1. x += attn1(rms(x)*(1+scale)+shift, rope) * gate                 rows 0:3 = shift, scale, gate
  2. x += attn2(rms(x), text)                                         (19B: no modulation)
     x += attn2(rms(x)*(1+scale)+shift, text*(1+s')+sh') * gate      (2.3: rows 6:9, prompt table)
  3. AV: vn, an = rms(video), rms(audio), both taken before either direction runs;
     video += a2v(vn mod, an mod) * gate_v;  audio += v2a(an mod, vn mod) * gate_a
     with 5-row tables [scale_a2v, shift_a2v, scale_v2a, shift_v2a, gate] modulated by the OTHER
     stream's sigma.
  4. x += ff(rms(x)*(1+scale)+shift) * gate                           rows 3:6
"""

from __future__ import annotations

from dataclasses import dataclass

import ltx_kernels
import torch
import torch.nn.functional as F
from torch import nn

from ltx.config import TransformerConfig
from ltx.nn import Attention, FeedForward, Rope


@dataclass(frozen=True)
class StreamArgs:
    """Everything a block needs about one stream except its tokens (fixed for the whole forward)."""

    adaln: torch.Tensor  # (B, T or 1, k*D) per-token modulation rows
    context: torch.Tensor  # (B, S, D) projected text
    context_bias: torch.Tensor | None  # additive text mask (B, 1, 1, S)
    rope: Rope
    self_bias: torch.Tensor | None = None  # additive self-attention bias (B, 1, T, T)
    prompt_adaln: torch.Tensor | None = None  # (B, 1, 2*D) (2.3)
    cross_rope: Rope | None = None  # time-only RoPE for the AV cross-attention
    cross_ss: torch.Tensor | None = None  # (B, 1, 4*D) from the other stream's sigma
    cross_gate: torch.Tensor | None = None  # (B, 1, D)
    enabled: bool = True


@dataclass(frozen=True)
class BlockSkips:
    """This block's perturbations, per kind: None = none; a tuple of per-sample keep flags."""

    video_self_attn: tuple[bool, ...] | None = None
    audio_self_attn: tuple[bool, ...] | None = None
    a2v: tuple[bool, ...] | None = None
    v2a: tuple[bool, ...] | None = None


def _rows(table: torch.Tensor, adaln: torch.Tensor, start: int, stop: int) -> tuple[torch.Tensor, ...]:
    """table[start:stop] + adaln rows start:stop, as stop-start tensors of shape (B, T, D)."""
    b, t = adaln.shape[:2]
    rows = table[start:stop][None, None].to(device=adaln.device, dtype=adaln.dtype)
    rows = rows + adaln.reshape(b, t, table.shape[0], -1)[:, :, start:stop]
    return rows.unbind(dim=2)


def _keep_mask(flags: tuple[bool, ...], like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(flags, device=like.device, dtype=like.dtype).view(-1, *[1] * (like.ndim - 1))


def _rms(x: torch.Tensor, eps: float) -> torch.Tensor:
    return F.rms_norm(x, (x.shape[-1],), eps=eps)


class Block(nn.Module):
    def __init__(self, idx: int, cfg: TransformerConfig):
        super().__init__()
        self.idx, self.eps = idx, cfg.norm_eps
        gated, eps, rows = cfg.apply_gated_attention, cfg.norm_eps, cfg.adaln_rows
        vd, vh, vhd = cfg.inner_dim, cfg.num_attention_heads, cfg.attention_head_dim
        self.attn1 = Attention(vd, None, vh, vhd, eps, gated)
        self.attn2 = Attention(vd, cfg.cross_attention_dim, vh, vhd, eps, gated)
        self.ff = FeedForward(vd)
        self.scale_shift_table = nn.Parameter(torch.empty(rows, vd))
        self.cross_attention_adaln = cfg.cross_attention_adaln
        if cfg.cross_attention_adaln:
            self.prompt_scale_shift_table = nn.Parameter(torch.empty(2, vd))
        if not cfg.has_audio:
            return
        ad, ah, ahd = cfg.audio_inner_dim, cfg.audio_num_attention_heads, cfg.audio_attention_head_dim
        self.audio_attn1 = Attention(ad, None, ah, ahd, eps, gated)
        self.audio_attn2 = Attention(ad, cfg.audio_cross_attention_dim, ah, ahd, eps, gated)
        self.audio_ff = FeedForward(ad)
        self.audio_scale_shift_table = nn.Parameter(torch.empty(rows, ad))
        if cfg.cross_attention_adaln:
            self.audio_prompt_scale_shift_table = nn.Parameter(torch.empty(2, ad))
        # Both directions use the audio head layout (32 x 64 at full size).
        self.audio_to_video_attn = Attention(vd, ad, ah, ahd, eps, gated)  # Q video, K/V audio
        self.video_to_audio_attn = Attention(ad, vd, ah, ahd, eps, gated)  # Q audio, K/V video
        self.scale_shift_table_a2v_ca_audio = nn.Parameter(torch.empty(5, ad))
        self.scale_shift_table_a2v_ca_video = nn.Parameter(torch.empty(5, vd))

    # -- sub-steps -------------------------------------------------------------------------------
    def _self_attention(self, x, s: StreamArgs, table, attn: Attention, flags):
        shift, scale, gate = _rows(table, s.adaln, 0, 3)
        h = ltx_kernels.rms_norm_modulate(x, scale, shift, self.eps)
        skip = flags is not None and not any(flags)
        keep = _keep_mask(flags, x) if flags is not None and not skip else None
        return ltx_kernels.gated_residual(x, attn(h, mask=s.self_bias, rope=s.rope, keep=keep, skip=skip), gate)

    def _text_attention(self, x, s: StreamArgs, table, prompt_table, attn: Attention):
        if not self.cross_attention_adaln:
            return x + attn(_rms(x, self.eps), s.context, mask=s.context_bias)
        shift, scale, gate = _rows(table, s.adaln, 6, 9)
        b = x.shape[0]
        kv_shift, kv_scale = (prompt_table[None, None].to(x) + s.prompt_adaln.reshape(b, -1, 2, x.shape[-1])).unbind(2)
        context = s.context * (1 + kv_scale) + kv_shift
        h = ltx_kernels.rms_norm_modulate(x, scale, shift, self.eps)
        return ltx_kernels.gated_residual(x, attn(h, context, mask=s.context_bias), gate)

    def _feed_forward(self, x, s: StreamArgs, table, ff: FeedForward):
        shift, scale, gate = _rows(table, s.adaln, 3, 6)
        return ltx_kernels.gated_residual(x, ff(ltx_kernels.rms_norm_modulate(x, scale, shift, self.eps)), gate)

    @staticmethod
    def _cross_modal(x, xn, q: StreamArgs, q_table, kvn, kv: StreamArgs, kv_table, rows: int, attn: Attention, flags):
        """x += attn(query side, other side) * gate, each side modulated by rows rows:rows+2 of its
        5-row table plus the AdaLN of the other stream's sigma; the gate is the query side's row 4."""
        q_scale, q_shift = _rows(q_table[:4], q.cross_ss, rows, rows + 2)
        kv_scale, kv_shift = _rows(kv_table[:4], kv.cross_ss, rows, rows + 2)
        out = attn(
            xn * (1 + q_scale) + q_shift, kvn * (1 + kv_scale) + kv_shift, rope=q.cross_rope, k_rope=kv.cross_rope
        )
        (gate,) = _rows(q_table[4:], q.cross_gate, 0, 1)
        out = out * gate
        return x + (out if flags is None else out * _keep_mask(flags, x))

    # -- forward ---------------------------------------------------------------------------------
    def forward(self, vx, ax, video: StreamArgs | None, audio: StreamArgs | None, skips: BlockSkips = BlockSkips()):
        run_v = video is not None and video.enabled and vx.numel() > 0
        run_a = audio is not None and audio.enabled and ax.numel() > 0
        if run_v:
            vx = self._self_attention(vx, video, self.scale_shift_table, self.attn1, skips.video_self_attn)
            vx = self._text_attention(
                vx, video, self.scale_shift_table, getattr(self, "prompt_scale_shift_table", None), self.attn2
            )
        if run_a:
            table, prompt = self.audio_scale_shift_table, getattr(self, "audio_prompt_scale_shift_table", None)
            ax = self._self_attention(ax, audio, table, self.audio_attn1, skips.audio_self_attn)
            ax = self._text_attention(ax, audio, table, prompt, self.audio_attn2)

        run_a2v = run_v and audio is not None and ax.numel() > 0 and (skips.a2v is None or any(skips.a2v))
        run_v2a = run_a and video is not None and vx.numel() > 0 and (skips.v2a is None or any(skips.v2a))
        if run_a2v or run_v2a:
            tv, ta = self.scale_shift_table_a2v_ca_video, self.scale_shift_table_a2v_ca_audio
            vn, an = _rms(vx, self.eps), _rms(ax, self.eps)
            if run_a2v:
                vx = self._cross_modal(vx, vn, video, tv, an, audio, ta, 0, self.audio_to_video_attn, skips.a2v)
            if run_v2a:
                ax = self._cross_modal(ax, an, audio, ta, vn, video, tv, 2, self.video_to_audio_attn, skips.v2a)

        if run_v:
            vx = self._feed_forward(vx, video, self.scale_shift_table, self.ff)
        if run_a:
            ax = self._feed_forward(ax, audio, self.audio_scale_shift_table, self.audio_ff)
        return vx, ax
