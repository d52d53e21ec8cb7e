"""x0 predictions of the transformer for the sampling loops, with or without guidance.

A `Denoiser` turns the states at a step into the transformer's streams (timesteps = denoise mask x sigma)
and returns each modality's x0. With guidance it runs the conditional pass and whichever of the
negative-prompt, STG and modality-isolation passes the two modalities' `Guidance` need, as the official
pipelines do, then combines them per modality. On a step a modality's guidance skips, that modality's
tokens are frozen in every pass and its last prediction is reused. `batched=True` runs those passes as one
forward of a larger batch (faster where memory allows; equal to separate passes up to float rounding, and
exactly what the official denoisers compute with a `max_batch_size` that holds every pass; its default, 1,
runs them one by one, as we do by default).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ltx.dit import LTX2Transformer, Perturbation, Stream, to_x0
from ltx.sampling.guidance import OFF, Guidance
from ltx.sampling.state import LatentState


def stream(
    state: LatentState, context: torch.Tensor, sigma: torch.Tensor, enabled: bool = True, contiguous: bool = False
) -> Stream:
    """The transformer's input for a state at `sigma` (a frozen state is seen at sigma 0). The sigma is made one
    per sample, (B,), as the official denoisers pass it: a 0-d float64 sigma (res_2s substeps) would not promote
    float32 math to float64, a (B,) one does. `contiguous`: the tokens copied to the contiguous layout, as the
    official guided denoisers hand them over (they repeat the state per pass); its plain denoiser hands over the
    state's own layout (a view of a given latent). A matmul over the tokens can round the two differently (bf16
    on the CPU does)."""
    sigma = torch.as_tensor(sigma, device=state.latent.device).reshape(-1).expand(state.latent.shape[0])
    if state.frozen:
        sigma = torch.zeros_like(sigma)
    return Stream(
        latent=state.latent.contiguous() if contiguous else state.latent,
        sigma=sigma,
        timesteps=state.mask * sigma.view(-1, 1, 1),
        positions=state.positions,
        context=context,
        attention_mask=state.attention,
        enabled=enabled,
        keyframes_mask=state.keyframes,
    )


@dataclass
class Denoiser:
    model: LTX2Transformer
    video_context: torch.Tensor | None  # None: an audio-only run
    audio_context: torch.Tensor | None = None
    video_guidance: Guidance = OFF
    audio_guidance: Guidance = OFF
    video_negative: torch.Tensor | None = None
    audio_negative: torch.Tensor | None = None
    batched: bool = False
    _last: tuple = field(default=(None, None), repr=False)
    last_uncond: tuple = field(default=(None, None), repr=False)  # the negative-prompt pass's x0 (CFG++)

    def __post_init__(self) -> None:
        for name, g, neg in (("video", self.video_guidance, self.video_negative),
                             ("audio", self.audio_guidance, self.audio_negative)):  # fmt: skip
            if g.uses_negative and neg is None:
                raise ValueError(f"{name} CFG (scale {g.cfg}) needs a negative-prompt context")

    @torch.inference_mode()
    def __call__(self, video: LatentState | None, audio: LatentState | None, sigmas: torch.Tensor, step: int):
        gv = self.video_guidance if video is not None else OFF
        ga = self.audio_guidance if audio is not None else OFF
        skip_v, skip_a = gv.skips(step), ga.skips(step)
        if (skip_v or video is None) and (skip_a or audio is None):
            return self._last
        sigma = sigmas[step]

        guided = self.video_guidance != OFF or self.audio_guidance != OFF

        def streams(video_context, audio_context) -> tuple:
            return (None if video is None else stream(video, video_context, sigma, not skip_v, guided),
                    None if audio is None else stream(audio, audio_context, sigma, not skip_a, guided))  # fmt: skip

        cond_v, cond_a = streams(self.video_context, self.audio_context)
        passes: dict[str, tuple] = {"cond": (cond_v, cond_a, ())}
        if gv.uses_negative or ga.uses_negative:
            neg_v = self.video_negative if self.video_negative is not None else self.video_context
            neg_a = self.audio_negative if self.audio_negative is not None else self.audio_context
            passes["uncond"] = (*streams(neg_v, neg_a), ())
        if gv.uses_perturbed or ga.uses_perturbed:
            skips = []
            if gv.uses_perturbed:
                skips.append(Perturbation("video_self_attn", blocks=gv.stg_blocks))
            if ga.uses_perturbed:
                skips.append(Perturbation("audio_self_attn", blocks=ga.stg_blocks))
            passes["perturbed"] = (cond_v, cond_a, tuple(skips))
        if gv.uses_isolated or ga.uses_isolated:
            passes["isolated"] = (cond_v, cond_a, (Perturbation("a2v"), Perturbation("v2a")))
        out = self._run(passes)
        self.last_uncond = out.get("uncond", (None, None))
        x0v = None if video is None else self._last[0] if skip_v else self._combine(gv, out, 0)
        x0a = None if audio is None else self._last[1] if skip_a else self._combine(ga, out, 1)
        for name, x in (("video", x0v), ("audio", x0a)):  # (one reduction per step: a NaN stops the run here)
            if x is not None and not bool(torch.isfinite(x).all()):
                raise FloatingPointError(
                    f"step {step + 1} of {len(sigmas) - 1}: the {name} stream's denoised latent holds NaN or infinite "
                    "values (a non-finite input, condition or weight, or an overflow in this dtype); stopped rather "
                    "than decode a broken clip"
                )
        self._last = (x0v, x0a)
        return x0v, x0a

    @staticmethod
    def _combine(g: Guidance, out: dict, i: int) -> torch.Tensor:
        if g == OFF:
            return out["cond"][i]
        get = lambda name: out[name][i] if name in out else 0.0  # noqa: E731
        return g.combine(out["cond"][i], get("uncond"), get("perturbed"), get("isolated"))

    def _run(self, passes: dict) -> dict[str, tuple]:
        spread = getattr(self.model, "spread_passes", None)  # ltx.parallel: passes dealt to process groups
        if spread is not None and len(passes) > 1:
            return spread(passes, lambda v, a, p: _x0(self.model, v, a, p))
        if self.batched and len(passes) > 1:
            return _batched(self.model, passes)
        return {name: _x0(self.model, v, a, p) for name, (v, a, p) in passes.items()}


def _x0(model, video: Stream | None, audio: Stream | None, perturbations) -> tuple:
    vel_v, vel_a = model(video, audio, perturbations)
    return tuple(None if s is None else to_x0(s.latent, vel, s.timesteps)
                 for s, vel in ((video, vel_v), (audio, vel_a)))  # fmt: skip


def _cat(streams: list[Stream]) -> Stream:
    """The streams of several passes as one batch (every pass freezes a stream alike)."""
    b = streams[0].latent.shape[0]
    sigma = torch.cat([torch.as_tensor(s.sigma, device=s.latent.device).reshape(-1).expand(b) for s in streams])
    cat = lambda name: None if getattr(streams[0], name) is None else torch.cat([getattr(s, name) for s in streams])  # noqa: E731
    return Stream(latent=cat("latent"), sigma=sigma, timesteps=cat("timesteps"), positions=cat("positions"),
                  context=cat("context"), attention_mask=cat("attention_mask"),
                  keyframes_mask=cat("keyframes_mask"), enabled=streams[0].enabled)  # fmt: skip


def _batched(model, passes: dict) -> dict[str, tuple]:
    """All passes as one forward; each pass's perturbations apply to its own slice of the batch."""
    names = list(passes)
    first = passes[names[0]]
    b = (first[0] or first[1]).latent.shape[0]
    video = None if first[0] is None else _cat([passes[n][0] for n in names])
    audio = None if first[1] is None else _cat([passes[n][1] for n in names])
    perturbations = [
        Perturbation(p.skip, p.blocks, tuple(range(k * b, (k + 1) * b)))
        for k, n in enumerate(names)
        for p in passes[n][2]
    ]
    x0v, x0a = _x0(model, video, audio, perturbations)
    part = lambda x, k: None if x is None else x[k * b : (k + 1) * b]  # noqa: E731
    return {n: (part(x0v, k), part(x0a, k)) for k, n in enumerate(names)}
