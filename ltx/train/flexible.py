"""ltx-trainer 1.2.0's "flexible" strategy: each modality generated (noised, in the loss) or a clean condition
(timestep 0, out of it), and regions of a generated modality held clean with a probability each. It covers
audio-to-video (audio a condition), video-to-audio (video a condition), extension (a prefix or suffix of latent
frames / audio steps held), inpainting / outpainting (a per-sample mask, or a pixel rectangle, held) and
first-frame image-to-video.

Per generated modality, in this order: its own sigma from the sampler, its noise (randn_like of the patchified
latents), then per region a per-sample draw (`probability`) and, where drawn, those tokens clean at timestep 0 and
out of the loss. Video comes before audio. The loss per sample: each generated modality's masked mean squared
error, summed. (Reference latents, the strategy's IC-LoRA form, are the ic-lora mode: flow.prepare.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ltx.dit import Stream
from ltx.dit.latents import audio_positions, patchify_audio, patchify_video, video_positions
from ltx.train.flow import DEFAULT_SAMPLER, SigmaSampler

KINDS = ("first_frame", "prefix", "suffix", "spatial_crop", "mask")


@dataclass(frozen=True)
class Region:
    """Tokens of a generated modality held clean: "first_frame" (video), "prefix" / "suffix" (`frames` latent
    frames or audio steps), "spatial_crop" (video, `box` = (y1, x1, y2, x2) pixels), "mask" (the sample's mask,
    (B, T) tokens, > 0.5 held)."""

    kind: str
    probability: float = 1.0
    frames: int = 1
    box: tuple[int, int, int, int] = (0, 0, 0, 0)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"a region's kind must be one of {KINDS}, got {self.kind!r}")
        if not 0 <= self.probability <= 1 or self.frames < 1:
            raise ValueError(f"a region needs probability in [0, 1] and frames >= 1, got {self.probability}, "
                             f"{self.frames}")  # fmt: skip


@dataclass(frozen=True)
class Role:
    generated: bool
    regions: tuple[Region, ...] = ()


@dataclass
class Side:
    stream: Stream
    target: torch.Tensor | None
    loss_mask: torch.Tensor | None


def _region_mask(r: Region, b: int, t: int, h: int, w: int, mask, device) -> torch.Tensor:
    if r.kind in ("first_frame", "prefix", "suffix"):
        n = (1 if r.kind == "first_frame" else r.frames) * h * w
        out = torch.zeros(b, t, device=device)
        if r.kind == "suffix":
            out[:, -n:] = 1.0
        else:
            out[:, :n] = 1.0
        return out
    if r.kind == "spatial_crop":
        y1, x1, y2, x2 = r.box
        spatial = torch.zeros(h, w, device=device)
        rows = slice(max(0, min(y1 // 32, h)), max(0, min(y2 // 32, h)))
        spatial[rows, max(0, min(x1 // 32, w)) : max(0, min(x2 // 32, w))] = 1.0
        return spatial.flatten().repeat(t // (h * w)).unsqueeze(0).expand(b, -1)
    if mask is None:
        raise ValueError("a mask region needs the sample's mask")
    return (mask.reshape(b, t) > 0.5).float()


def _side(latent, role: Role, context, context_mask, positions, h, w, sampler, generator, mask) -> Side:
    b, t, _ = latent.shape
    device = latent.device
    if not role.generated:
        zeros = torch.zeros(b, t, device=device, dtype=latent.dtype)
        return Side(Stream(latent, torch.zeros(b, device=device, dtype=latent.dtype), zeros, positions, context,
                           context_mask=context_mask), None, None)  # fmt: skip
    sigma = sampler.sample(b, t, generator, device)
    noise = torch.empty_like(latent).normal_(generator=generator)
    s = sigma.view(-1, 1, 1)
    noisy = (1 - s) * latent + s * noise
    timesteps = sigma.view(-1, 1).expand(b, t).clone()
    in_loss = torch.ones(b, t, dtype=torch.bool, device=device)
    for r in role.regions:
        chosen = torch.rand(b, generator=generator, device=device) < r.probability
        if not chosen.any():
            continue
        held = _region_mask(r, b, t, h, w, mask, device) * chosen.view(-1, 1).float()
        m = held.unsqueeze(-1)
        noisy = m * latent + (1 - m) * noisy
        timesteps = (1 - held) * timesteps
        in_loss = in_loss & (held == 0)
    # (computed in float32 with the float32 sigma; the model takes it in the latent's dtype, as autocast would)
    return Side(Stream(noisy.to(latent.dtype), sigma, timesteps, positions, context, context_mask=context_mask),
                noise - latent, in_loss)  # fmt: skip


def prepare_flexible(video_latent: torch.Tensor | None, video_role: Role | None, video_context, *,
                     audio_latent: torch.Tensor | None = None, audio_role: Role | None = None, audio_context=None,
                     context_mask=None, fps: float = 24.0, masks: dict | None = None,
                     sampler: SigmaSampler = DEFAULT_SAMPLER,
                     generator=None) -> tuple[Side | None, Side | None]:  # fmt: skip
    """(video side, audio side) for one step; `masks` {"video": (B, T), "audio": (B, T)} for mask regions."""
    if not ((video_role and video_role.generated) or (audio_role and audio_role.generated)):
        raise ValueError("at least one modality must be generated")
    masks = masks or {}
    video = audio = None
    if video_role is not None:
        b, _, f, h, w = video_latent.shape
        x0 = patchify_video(video_latent)
        where = video_positions(f, h, w, fps, batch=b, device=x0.device)
        video = _side(x0, video_role, video_context, context_mask, where, h, w, sampler, generator,
                      masks.get("video"))  # fmt: skip
    if audio_role is not None:
        if any(r.kind in ("first_frame", "spatial_crop") for r in audio_role.regions):
            raise ValueError("audio regions are prefix, suffix or mask")
        a0 = patchify_audio(audio_latent)
        where = audio_positions(a0.shape[1], batch=a0.shape[0], device=a0.device)
        audio = _side(a0, audio_role, audio_context, context_mask, where, 1, 1, sampler, generator,
                      masks.get("audio"))  # fmt: skip
    return video, audio


def flexible_loss(video_pred, audio_pred, video: Side | None, audio: Side | None) -> torch.Tensor:
    """(B,): the generated modalities' masked mean squared errors, summed."""
    total = None
    for pred, side in ((video_pred, video), (audio_pred, audio)):
        if side is None or side.target is None or pred is None:
            continue
        n = side.target.shape[1]
        mask = side.loss_mask[:, -n:].unsqueeze(-1).float()
        error = (pred[:, -n:] - side.target).pow(2) * mask
        value = error.mean(dim=[-2, -1]) / mask.mean(dim=[-2, -1]).clamp(1e-8)
        total = value if total is None else total + value
    return total
