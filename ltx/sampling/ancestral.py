"""Euler steps that re-inject fresh noise: ancestral Euler (LTX-2.5's distilled stage 1) and CFG++.

Ancestral Euler for rectified flow (alpha = 1 - sigma), from sigma to sigma_n with strength eta:
    sigma_d = sigma_n (1 + (sigma_n / sigma - 1) eta)                  an intermediate, lower noise level
    x      = (sigma_d / sigma) x + (1 - sigma_d / sigma) x0            the deterministic Euler step to sigma_d
    x      = (alpha_n / alpha_d) x + s_noise eps sqrt(sigma_n^2 - sigma_d^2 alpha_n^2 / alpha_d^2)
so the result is again at noise level sigma_n; eta = 0 is the plain Euler step. A step to sigma 0 returns x0.

CFG++ takes the direction from the negative-prompt prediction u and the target from the guided one:
    d = (x - alpha u) / sigma;  x = alpha_n x0 + alpha_n s_d d (+ alpha_n s_noise eps s_u)
with (s_d, s_u) the DDIM ancestral split in the rescaled parameterisation sigma / alpha.

The loop draws its noise (plain Gaussian, in the latent's dtype) from its own generator, video before audio
at every step, and puts the kept tokens back after each noisy step. All step math is float32.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from ltx.sampling.loops import Denoise, _progress, blend
from ltx.sampling.state import LatentState


def _pair(sigmas: torch.Tensor, i: int) -> tuple[torch.Tensor, torch.Tensor]:
    return sigmas[i].to(torch.float32), sigmas[i + 1].to(torch.float32)


def ancestral_step(x, x0, sigmas, i: int, noise=None, *, eta: float = 1.0, s_noise: float = 1.0) -> torch.Tensor:
    """One ancestral Euler step from sigmas[i] to sigmas[i + 1] (noise: required when eta > 0)."""
    sigma, sigma_next = _pair(sigmas, i)
    if sigma_next == 0:
        return x0.to(x.dtype)
    if eta > 0 and noise is None:
        raise ValueError("an ancestral step with eta > 0 needs a noise tensor")
    sigma_down = sigma_next * (1.0 + (sigma_next / sigma - 1.0) * eta)
    ratio = sigma_down / sigma
    out = ratio * x.to(torch.float32) + (1.0 - ratio) * x0.to(torch.float32)
    if eta > 0:
        alpha_next, alpha_down = 1.0 - sigma_next, 1.0 - sigma_down
        renoise = (sigma_next**2 - sigma_down**2 * alpha_next**2 / alpha_down**2).clamp(min=0) ** 0.5
        out = (alpha_next / alpha_down) * out + noise.to(torch.float32) * s_noise * renoise
    return out.to(x.dtype)


def _ddim_split(sigma_from: torch.Tensor, sigma_to: torch.Tensor, eta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(sigma_down, sigma_up) of a DDIM ancestral step, both in the rescaled sigma / alpha space."""
    if not eta:
        return sigma_to, torch.zeros_like(sigma_to)
    variance = sigma_to**2 * (sigma_from**2 - sigma_to**2).clamp(min=0) / sigma_from**2
    sigma_up = (eta * variance**0.5).clamp(max=sigma_to)
    return (sigma_to**2 - sigma_up**2).clamp(min=0) ** 0.5, sigma_up


def cfg_pp_step(x, x0, uncond, sigmas, i: int, noise=None, *, eta: float = 1.0, s_noise: float = 1.0) -> torch.Tensor:
    """One CFG++ Euler step: x0 is the guided prediction, `uncond` the negative-prompt pass's."""
    sigma, sigma_next = _pair(sigmas, i)
    tiny = torch.finfo(torch.float32).eps
    alpha, alpha_next = (1.0 - sigma).clamp(min=tiny), (1.0 - sigma_next).clamp(min=tiny)
    direction = (x.to(torch.float32) - alpha * uncond.to(torch.float32)) / sigma
    sigma_down, sigma_up = _ddim_split(sigma / alpha, sigma_next / alpha_next, eta)
    out = alpha_next * x0.to(torch.float32) + (alpha_next * sigma_down) * direction
    if noise is not None and eta > 0 and s_noise > 0:
        out = out + alpha_next * noise.to(torch.float32) * s_noise * sigma_up
    return out.to(x.dtype)


def ancestral_loop(
    sigmas: torch.Tensor,
    video: LatentState | None,
    audio: LatentState | None,
    denoise: Denoise,
    *,
    seed: int,
    eta: float = 1.0,
    s_noise: float = 1.0,
    cfg_pp: bool = False,
    model_dtype: torch.dtype = torch.bfloat16,
    progress: str | None = None,
) -> tuple[LatentState | None, LatentState | None]:
    """Ancestral Euler (or, with `cfg_pp`, CFG++: the denoiser must run a negative-prompt pass and keep it in
    `last_uncond`) over `sigmas`, with noise from a generator seeded with `seed`."""
    present = video if video is not None else audio
    if present is None:
        raise ValueError("the ancestral loop needs a video or an audio state")
    generator = torch.Generator(device=present.latent.device).manual_seed(seed)
    draws = eta > 0 and (s_noise > 0 or not cfg_pp)  # ancestral Euler rescales even at s_noise 0
    states = [video, audio]
    for i in _progress(len(sigmas) - 1, progress):
        x0s = denoise(states[0], states[1], sigmas, i)
        uncond = getattr(denoise, "last_uncond", (None, None))
        terminal = sigmas[i + 1] == 0
        for k, state in enumerate(states):
            if state is None or x0s[k] is None:
                continue
            if cfg_pp and not isinstance(uncond[k], torch.Tensor):
                raise ValueError("CFG++ needs the negative-prompt prediction: give the modality a CFG scale != 1")
            x0 = blend(x0s[k].float(), state)
            if terminal:
                states[k] = replace(state, latent=x0.to(model_dtype))
                continue
            x = state.latent
            noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device) if draws else None
            if cfg_pp:
                out = cfg_pp_step(x.float(), x0, uncond[k], sigmas, i, noise, eta=eta, s_noise=s_noise)
            else:
                out = ancestral_step(x.float(), x0, sigmas, i, noise, eta=eta, s_noise=s_noise)
            if draws:
                out = blend(out, state)
            states[k] = replace(state, latent=out.to(model_dtype))
        if terminal:
            break
    return states[0], states[1]
