"""The flow-matching objective as ltx-trainer 1.2.0's text-to-video strategy computes it.

For a batch of clean latents x0 (and audio latents, sharing the sample's sigma):
1. a first-frame conditioning draw per sample (probability `first_frame_p`; its first latent frame's tokens are then
   kept clean, at timestep 0, and left out of the loss), if the clip has more than one latent frame;
2. sigma per sample from the sampler (below); noise e; x_sigma = (1 - sigma) x0 + sigma e; the target e - x0;
3. the loss per sample: the masked mean of (v - target)^2 over the video tokens, plus the plain mean over the audio.
IC-LoRA (the video-to-video strategy): clean reference latents go before the clip's tokens at timestep 0, out of the
loss, their positions scaled by the clip-to-reference size ratio (a whole number, the same on both axes).
Draws come in that order (mask, sigma, video noise, audio noise) from one generator (None: torch's global one, as
the official takes them), so the same seed gives the official's batch.

Sigma samplers: "shifted_logit_normal" (the default): sigmoid(N(mu, std)) with mu from the token count (0.95 at
1,024 tokens to 2.05 at 4,096, linear), stretched so its 0.5 and 99.9 percentiles span [0, 1] (reflected at eps,
clamped), and with probability `uniform_prob` a uniform draw in [eps, 1) instead; "uniform" in [low, high).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ltx.dit import Stream
from ltx.dit.latents import audio_positions, patchify_audio, patchify_video, video_positions


@dataclass(frozen=True)
class SigmaSampler:
    kind: str = "shifted_logit_normal"
    std: float = 1.0
    eps: float = 1e-3
    uniform_prob: float = 0.1
    low: float = 0.0
    high: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in ("shifted_logit_normal", "uniform"):
            raise ValueError(f"sigma sampler must be 'shifted_logit_normal' or 'uniform', got {self.kind!r}")

    def sample(self, batch: int, tokens: int, generator=None, device=None) -> torch.Tensor:
        if self.kind == "uniform":
            return torch.rand(batch, generator=generator, device=device) * (self.high - self.low) + self.low
        slope = (2.05 - 0.95) / (4096 - 1024)
        mu = slope * tokens + (0.95 - slope * 1024)
        normal = torch.randn((batch,), generator=generator, device=device) * self.std + mu
        top = torch.sigmoid(torch.tensor(mu + 3.0902 * self.std, device=device))
        bottom = torch.sigmoid(torch.tensor(mu - 2.5758 * self.std, device=device))
        raw = (torch.sigmoid(normal) - bottom) / (top - bottom)
        stretched = torch.where(raw >= self.eps, raw, 2 * self.eps - raw).clamp(0, 1)
        uniform = (1 - self.eps) * torch.rand((batch,), generator=generator, device=device) + self.eps
        pick = torch.rand((batch,), generator=generator, device=device)
        return torch.where(pick > self.uniform_prob, stretched, uniform)


DEFAULT_SAMPLER = SigmaSampler()


@dataclass
class Prepared:
    video: Stream
    audio: Stream | None
    video_target: torch.Tensor
    audio_target: torch.Tensor | None
    video_loss_mask: torch.Tensor  # (B, T) bool: tokens in the loss (reference tokens first, never in it)
    sigma: torch.Tensor


def reference_factor(height: int, width: int, ref_height: int, ref_width: int) -> int:
    """How many times smaller the reference latents are than the clip's (1: the same size)."""
    if (height, width) == (ref_height, ref_width):
        return 1
    if height % ref_height or width % ref_width or height // ref_height != width // ref_width:
        raise ValueError(f"the reference latents ({ref_height}x{ref_width}) must be the clip's ({height}x{width}) "
                         "divided by one whole number on both axes")  # fmt: skip
    return height // ref_height


def prepare(video_latent: torch.Tensor, video_context: torch.Tensor, *, fps: float = 24.0,
            context_mask: torch.Tensor | None = None, audio_latent: torch.Tensor | None = None,
            audio_context: torch.Tensor | None = None, reference: torch.Tensor | None = None,
            sampler: SigmaSampler = DEFAULT_SAMPLER, first_frame_p: float = 0.1,
            generator=None) -> Prepared:  # fmt: skip
    """Noised inputs and targets for one step. `video_latent` (B, 128, F', H', W') normalised; `audio_latent`
    (B, 8, T, 16); `reference` (B, 128, F'', H'', W''), IC-LoRA's; contexts as the transformer takes them (after the
    text connectors)."""
    b, _, f, h, w = video_latent.shape
    device = video_latent.device
    x0 = patchify_video(video_latent)
    tokens = x0.shape[1]
    conditioned = torch.zeros(b, tokens, dtype=torch.bool, device=device)
    if first_frame_p > 0 and h * w < tokens:
        chosen = torch.rand(b, generator=generator, device=device) < first_frame_p
        conditioned[chosen, : h * w] = True
    sigma = sampler.sample(b, tokens, generator, device)
    # (as randn_like: filled in the patchified view's memory order, which is the latent's)
    noise = torch.empty_like(x0).normal_(generator=generator)
    s = sigma.view(-1, 1, 1)
    noisy = torch.where(conditioned[..., None], x0, (1 - s) * x0 + s * noise)
    timesteps = torch.where(conditioned, torch.zeros_like(conditioned, dtype=sigma.dtype), sigma.view(-1, 1))
    positions = video_positions(f, h, w, fps, batch=b, device=device)
    in_loss = ~conditioned
    if reference is not None:
        rf, rh, rw = reference.shape[2:]
        factor = reference_factor(h, w, rh, rw)
        ref_positions = video_positions(rf, rh, rw, fps, batch=b, device=device)
        if factor != 1:
            ref_positions = ref_positions.clone()
            ref_positions[:, 1:] *= factor
        r0 = patchify_video(reference)
        noisy = torch.cat([r0, noisy], dim=1)
        timesteps = torch.cat([torch.zeros(b, r0.shape[1], dtype=timesteps.dtype, device=device), timesteps], dim=1)
        positions = torch.cat([ref_positions, positions], dim=2)
        in_loss = torch.cat([torch.zeros(b, r0.shape[1], dtype=torch.bool, device=device), in_loss], dim=1)
    # (noised in float32 with the float32 sigma; the model takes the latents in their own dtype, where ltx-trainer's
    # bf16 run rounds them to bf16 under autocast at the input projection: the same values)
    video = Stream(noisy.to(x0.dtype), sigma, timesteps, positions, video_context, context_mask=context_mask)
    audio = audio_target = None
    if audio_latent is not None:
        a0 = patchify_audio(audio_latent)
        audio_noise = torch.empty_like(a0).normal_(generator=generator)
        ta = a0.shape[1]
        where = audio_positions(ta, batch=b, device=device)
        noisy_audio = ((1 - s) * a0 + s * audio_noise).to(a0.dtype)
        audio = Stream(noisy_audio, sigma, sigma.view(-1, 1).expand(-1, ta), where, audio_context,
                       context_mask=context_mask)  # fmt: skip
        audio_target = audio_noise - a0
    return Prepared(video, audio, noise - x0, audio_target, in_loss, sigma)


def loss(video_pred: torch.Tensor, audio_pred: torch.Tensor | None, p: Prepared) -> torch.Tensor:
    """(B,) per-sample loss: masked mean squared error on the video tokens (+ the audio's mean)."""
    n = p.video_target.shape[1]  # (after any reference tokens)
    mask = p.video_loss_mask[:, -n:].unsqueeze(-1).float()
    error = (video_pred[:, -n:] - p.video_target).pow(2)
    video = error.mul(mask).mean(dim=[-2, -1]) / mask.mean(dim=[-2, -1]).clamp(1e-8)
    if audio_pred is None or p.audio_target is None:
        return video
    return video + (audio_pred - p.audio_target).pow(2).mean(dim=[-2, -1])
